"""Exercises of notebook 05: the one-step eNTK change of the probabilities, and the
filtered (moving-average) targets.

**One step through the eNTK.** For a mean cross-entropy loss over a batch of ``b``
points and one gradient step of size ``eta``, the predicted probabilities
``q = softmax(f)`` at a test input ``x~`` change, to first order in ``eta``, by::

    dq(x~) = eta / b * A(x~) sum_i eNTK(x~, x_i) (p_i - q(x_i)),   A = diag(q(x~)) - q(x~) q(x~)^T

The reader writes it from the eNTK blocks ``(m, b, k, k)`` and the probabilities; the
checker compares with :func:`ntk_explore.topics.zigzag.one_step_decomposition`, which
takes the derivatives itself, and also reports how close the answer is to the real step.

**Filtered targets.** ``m_t = rate * m_{t-1} + (1 - rate) * q_t`` from ``m = 0`` over the
records ``q_0 .. q_T`` of a learning path, divided by ``1 - rate**(T + 1)`` so that the
weights sum to one. The checker compares with :func:`ntk_explore.topics.zigzag.ema_targets`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..core.kernels import mlp_ntk
from ..topics.zigzag import ema_targets, make_toy, one_step_decomposition, toy_model
from . import Feedback, compare, register, run_answer

__all__ = ["OneStepProblem", "one_step_problem", "check_one_step_change", "ema_problem",
           "check_filtered_targets"]


def _near(got, want) -> bool:
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-6, atol=1e-14))


class OneStepProblem:
    """A small random problem (float64 NumPy arrays): ``ntk`` ``(m, b, k, k)``, ``q_tilde``
    ``(m, k)``, ``q_batch`` ``(b, k)``, ``p_tar`` ``(b, k)``, ``eta``; ``want`` ``(m, k)`` the
    library's predicted change and ``real`` ``(m, k)`` the real change of one step."""

    def __init__(self, seed: int, *, b: int = 8, m: int = 4, eta: float = 1e-3):
        k_toy, k_init = jax.random.split(jax.random.key(seed))
        with jax.enable_x64(True):
            toy = make_toy(k_toy, dim=6, n_train=b, n_test=m)
            model = toy_model(dim=6, width=16)
            params = model.init(k_init, jnp.float64)
            x, xt = jnp.asarray(toy.x, jnp.float64), jnp.asarray(toy.x_test, jnp.float64)
            self.p_tar = np.asarray(toy.pstar, np.float64)  # soft targets: p_i != one-hot
            self.ntk = np.asarray(mlp_ntk(model)(xt, x, params))
            self.q_tilde = np.asarray(jax.nn.softmax(model.apply(params, xt), -1))
            self.q_batch = np.asarray(jax.nn.softmax(model.apply(params, x), -1))
            step = one_step_decomposition(model, params, x, self.p_tar, xt, eta)
        self.eta, self.want, self.real = eta, np.asarray(step.predicted), np.asarray(step.real)

    @property
    def args(self) -> tuple:
        return self.ntk, self.q_tilde, self.q_batch, self.p_tar, self.eta


@functools.lru_cache(maxsize=4)
def one_step_problem(seed: int = 0) -> OneStepProblem:
    """The problem the checker poses for ``seed`` (0, then 1); see :class:`OneStepProblem`.
    Cached: a reader checks many answers against the same problems."""
    return OneStepProblem(seed)


def _one_step_slip(got, p: OneStepProblem) -> str | None:
    b = p.q_batch.shape[0]
    df = p.eta / b * np.einsum("mbce,be->mc", p.ntk, p.p_tar - p.q_batch)  # change of the logits
    a = np.einsum("mc,cd->mcd", p.q_tilde, np.eye(p.q_tilde.shape[1])) \
        - p.q_tilde[:, :, None] * p.q_tilde[:, None, :]
    swapped = p.eta / b * np.einsum("mcd,mbed,be->mc", a, p.ntk, p.p_tar - p.q_batch)
    slips = (
        (df, "that is the change of the logits f, eta/b sum_i eNTK (p_i - q_i); the "
             "probabilities q = softmax(f) change by A(x~) times it, with A = diag(q) - q q^T "
             "at the test input"),
        (b * p.want, f"you summed over the batch without dividing by b = {b}: the loss is a "
                     "mean over the batch, so each point's term carries 1/b"),
        (-p.want, "the sign is flipped: a step toward the targets moves q by +(p_i - q_i), "
                  "not by (q_i - p_i)"),
        (p.want / p.eta, "you left out the step size eta"),
        (swapped, "the eNTK block is applied transposed: use eNTK(x~, x_i) @ (p_i - q_i), "
                  "rows indexed by the output at x~"),
    )
    for value, message in slips:
        if _near(got, value):
            return message
    return None


@register("one_step_change", "05_learning_paths_and_distillation.ipynb",
          "Write predicted_change(ntk, q_tilde, q_batch, p_tar, eta) -> (m, k): the eNTK "
          "prediction of how one gradient step changes the probabilities at m test inputs.")
def check_one_step_change(answer) -> Feedback:
    """Check ``answer(ntk (m, b, k, k), q_tilde (m, k), q_batch (b, k), p_tar (b, k), eta)``."""
    for seed in (0, 1):
        p = one_step_problem(seed)
        got, error = run_answer(answer, *p.args)
        if error is not None:
            return error
        fb = compare("the predicted change", got, p.want, rtol=1e-6, atol=1e-14)
        if not fb.ok:
            slip = _one_step_slip(got, p)
            return Feedback(False, slip or fb.message)
    gap = float(np.linalg.norm(np.asarray(got) - p.real) / np.linalg.norm(p.real))
    return Feedback(True, "your formula equals the library's eNTK prediction on two random "
                          f"problems, and at eta = {p.eta:g} it is within {gap:.1e} (relative) of "
                          "the real change after one gradient step.")


def ema_problem(seed: int, records: int = 7, n: int = 5, k: int = 3) -> np.ndarray:
    """Random learning paths ``(records, n, k)`` on the probability simplex."""
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=(records, n))


def _ema_slip(got, paths: np.ndarray, rate: float) -> str | None:
    r = len(paths)
    raw = (1 - rate) * np.tensordot(rate ** np.arange(r - 1, -1, -1.0), paths, axes=1)
    flipped = rate * np.tensordot((1 - rate) ** np.arange(r - 1, -1, -1.0), paths, axes=1)
    slips = (
        (raw, f"the weights of your average sum to 1 - rate**(T+1) = {1 - rate ** r:.4g}, not 1: "
              "divide by it (the bias correction), or the targets are not probabilities"),
        (flipped / flipped.sum(-1, keepdims=True), "you put the weight rate on the newest "
                                                   "prediction; the newest gets 1 - rate and the "
                                                   "running average keeps rate"),
        (flipped, "you put the weight rate on the newest prediction; the newest gets "
                  "1 - rate and the running average keeps rate"),
        (paths.mean(0), "that is the plain average of every record; the moving average "
                        "weights record t by rate**(T - t)"),
        (paths[-1], "that is the last record (the teacher's final prediction), not an average"),
        (ema_targets(paths, rate, 1), "you skipped the first record; this exercise averages "
                                      "all of them, q_0 included"),
    )
    for value, message in slips:
        if _near(got, value):
            return message
    return None


@register("filtered_targets", "05_learning_paths_and_distillation.ipynb",
          "Write filtered(paths, rate) -> (n, k): the bias-corrected exponential moving "
          "average of a learning path (records, n, k).")
def check_filtered_targets(answer) -> Feedback:
    """Check ``answer(paths (R, n, k), rate) -> (n, k)`` on two random paths."""
    for seed, rate in ((0, 0.9), (1, 0.5)):
        paths = ema_problem(seed)
        got, error = run_answer(answer, paths.copy(), rate)
        if error is not None:
            return error
        want = ema_targets(paths, rate, 0)
        fb = compare("the filtered targets", got, want)
        if not fb.ok:
            return Feedback(False, _ema_slip(got, paths, rate) or f"with rate = {rate}: {fb.message}")
    return Feedback(True, "your moving average equals the library's (ema_targets with start=0) "
                          "on two random paths, and its rows are probabilities.")
