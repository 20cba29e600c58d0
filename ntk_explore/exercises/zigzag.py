"""Exercises of notebook 05: the one-step eNTK change of the probabilities, and the
filtered (moving-average) targets.

**One step through the eNTK.** For a mean cross-entropy loss over a batch of ``b``
points and one gradient step of size ``eta``, the predicted probabilities
``q = softmax(f)`` at a test input ``x~`` change, to first order in ``eta``, by::

    dq(x~) = eta / b * A(x~) sum_i eNTK(x~, x_i) (p_i - q(x_i)),   A = diag(q(x~)) - q(x~) q(x~)^T

The reader writes it from the eNTK blocks ``(m, b, k, k)`` and the probabilities. The
problem is a one-hidden-layer ReLU net written out in NumPy (so a check takes
milliseconds): its eNTK in closed form, and the real change of ``q`` after one gradient
step taken with hand-written gradients. ``tests/test_exercises_zigzag.py`` checks both
against JAX's automatic differentiation and the library's
:func:`~ntk_explore.topics.zigzag.one_step_decomposition` formula.

**Filtered targets.** ``m_t = rate * m_{t-1} + (1 - rate) * q_t`` from ``m = 0`` over the
records ``q_0 .. q_T`` of a learning path, divided by ``1 - rate**(T + 1)`` so that the
weights sum to one. The checker compares with :func:`ntk_explore.topics.zigzag.ema_targets`.
"""

from __future__ import annotations

import functools

import numpy as np

from ..topics.zigzag import ema_targets
from . import Feedback, compare, register, run_answer

__all__ = ["OneStepProblem", "one_step_problem", "check_one_step_change", "ema_problem",
           "check_filtered_targets", "softmax"]


def softmax(f: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits ``(n, k)``."""
    e = np.exp(f - f.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _near(got, want) -> bool:
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-6, atol=1e-14))


class OneStepProblem:
    """One-hidden-layer net ``f(x) = V relu(W x / sqrt(d)) / sqrt(h)`` (``W`` ``(h, d)``, ``V``
    ``(k, h)``) in NumPy float64, a batch of ``b`` inputs with soft targets and ``m`` test
    inputs.

    Attributes: ``ntk`` ``(m, b, k, k)`` (closed form), ``q_tilde`` ``(m, k)``, ``q_batch`` and
    ``p_tar`` ``(b, k)``, ``eta``; ``want`` ``(m, k)`` the eNTK prediction; ``real`` ``(m, k)``
    the change of ``q`` at the test inputs after one gradient step on the mean
    cross-entropy (gradients by hand); ``w``, ``v``, ``x``, ``x_tilde`` the net and inputs.
    """

    def __init__(self, seed: int, *, b: int = 8, m: int = 4, d: int = 5, h: int = 32, k: int = 3,
                 eta: float = 1e-3):
        rng = np.random.default_rng(seed)
        self.w, self.v = rng.normal(size=(h, d)), rng.normal(size=(k, h))
        self.x, self.x_tilde = rng.normal(size=(b, d)), rng.normal(size=(m, d))
        self.p_tar = rng.dirichlet(np.ones(k), size=b)  # soft targets
        self.eta = eta
        self.q_tilde, self.q_batch = softmax(self.logits(self.x_tilde)), softmax(self.logits(self.x))
        self.ntk = self.entk(self.x_tilde, self.x)
        a = np.einsum("mc,cd->mcd", self.q_tilde, np.eye(k)) \
            - self.q_tilde[:, :, None] * self.q_tilde[:, None, :]
        df = eta / b * np.einsum("mbce,be->mc", self.ntk, self.p_tar - self.q_batch)
        self.want = np.einsum("mcd,md->mc", a, df)
        w1, v1 = self.step()
        self.real = softmax(self.logits(self.x_tilde, w1, v1)) - self.q_tilde

    def logits(self, x, w=None, v=None) -> np.ndarray:
        """``f(x)`` ``(n, k)`` for inputs ``(n, d)``."""
        w, v = (self.w if w is None else w), (self.v if v is None else v)
        return np.maximum(x @ w.T / np.sqrt(w.shape[1]), 0) @ v.T / np.sqrt(w.shape[0])

    def entk(self, x1, x2) -> np.ndarray:
        """Closed-form eNTK blocks ``(n1, n2, k, k)``: the readout's part (diagonal in the
        outputs) plus the hidden weights' part."""
        (h, d), k = self.w.shape, self.v.shape[0]
        h1, h2 = x1 @ self.w.T / np.sqrt(d), x2 @ self.w.T / np.sqrt(d)
        readout = np.maximum(h1, 0) @ np.maximum(h2, 0).T / h  # (n1, n2)
        gate = np.einsum("aj,bj,cj,ej->abce", (h1 > 0) * 1.0, (h2 > 0) * 1.0, self.v, self.v)
        return readout[:, :, None, None] * np.eye(k) + gate * (x1 @ x2.T)[:, :, None, None] / (d * h)

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, V)`` after one gradient step of size ``eta`` on the batch's mean cross-entropy."""
        (h, d), b = self.w.shape, self.x.shape[0]
        pre = self.x @ self.w.T / np.sqrt(d)
        g_f = (self.q_batch - self.p_tar) / b  # d loss / d logits, (b, k)
        g_v = g_f.T @ np.maximum(pre, 0) / np.sqrt(h)
        g_pre = (g_f @ self.v / np.sqrt(h)) * (pre > 0)
        g_w = g_pre.T @ self.x / np.sqrt(d)
        return self.w - self.eta * g_w, self.v - self.eta * g_v

    @property
    def args(self) -> tuple:
        """Copies of what the reader's function receives (it may write into them)."""
        return self.ntk.copy(), self.q_tilde.copy(), self.q_batch.copy(), self.p_tar.copy(), self.eta


@functools.lru_cache(maxsize=4)
def one_step_problem(seed: int = 0) -> OneStepProblem:
    """The problem the checker poses for ``seed`` (0, then 1); see :class:`OneStepProblem`."""
    return OneStepProblem(seed)


def _one_step_slip(got, p: OneStepProblem) -> str | None:
    b = p.q_batch.shape[0]
    df = p.eta / b * np.einsum("mbce,be->mc", p.ntk, p.p_tar - p.q_batch)  # change of the logits
    slips = (
        (df, "that is the change of the logits f, eta/b sum_i eNTK (p_i - q_i); the "
             "probabilities q = softmax(f) change by A(x~) times it, with A = diag(q) - q q^T "
             "at the test input"),
        (b * p.want, f"you summed over the batch without dividing by b = {b}: the loss is a "
                     "mean over the batch, so each point's term carries 1/b"),
        (-p.want, "the sign is flipped: a step toward the targets moves q by +(p_i - q_i), "
                  "not by (q_i - p_i)"),
        (p.want / p.eta, "you left out the step size eta"),
        (p.q_tilde * df, "you used only diag(q) for A; the softmax's Jacobian is "
                         "A = diag(q) - q q^T (the second part keeps the probabilities summing to 1)"),
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
    return Feedback(True, "your formula equals the eNTK prediction on two random nets, and at "
                          f"eta = {p.eta:g} it is within {gap:.1e} (relative) of the real change "
                          "after one gradient step.")


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
