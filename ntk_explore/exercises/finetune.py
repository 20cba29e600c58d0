"""Exercises of notebook 06: the energy of a task head, and the first fine-tuning step
predicted by eNTK x direction x energy.

**Energy.** With a head's logits ``g`` ``(n, k)`` on the target inputs and one-hot labels
``e_y`` ``(n, k)``, the energy at the start of fine-tuning is the mean length of the
error vectors, ``E = (1/n) sum_x ||e_y - softmax(g(x))||_2`` (not squared), as
:func:`ntk_explore.topics.finetune.ft_start` computes it.

**The first step.** One fine-tuning step of size ``eta`` on the mean cross-entropy moves
the backbone's features ``z`` by, to first order::

    dz(x) = eta / n * sum_x' Theta_z(x, x') @ G(x')^T @ (e_y' - q(x'))
            (dz,)            (dz, dz)          (dz, k)     (k,)

with ``Theta_z`` ``(n, n, dz, dz)`` the backbone's eNTK, ``G`` ``(n, k, dz)`` the head's
Jacobian ``d g / d z`` (the direction) and ``e_y - q`` ``(n, k)`` the energy vectors.

Both problems are written out in NumPy (a check takes milliseconds): a one-hidden-layer
tanh backbone with a linear head, its eNTK in closed form and one real gradient step with
hand-written gradients. ``tests/test_exercises_finetune.py`` checks them against JAX's
automatic differentiation and the library's :func:`~ntk_explore.topics.finetune.ft_start`.
"""

from __future__ import annotations

import functools

import numpy as np

from . import Feedback, compare, register, run_answer
from .zigzag import softmax

__all__ = ["energy_problem", "check_head_energy", "FeatureStepProblem", "feature_step_problem",
           "check_feature_step"]


def _near(got, want) -> bool:
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(want) and bool(np.allclose(got, want, rtol=1e-6, atol=1e-14))


@functools.lru_cache(maxsize=4)
def energy_problem(seed: int, n: int = 12, k: int = 4):
    """``(logits (n, k), y (n, k) one-hot, energy)`` for random logits (NumPy float64)."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.normal(size=(n, k))
    y = np.eye(k)[rng.integers(0, k, size=n)]
    return logits, y, float(np.mean(np.linalg.norm(y - softmax(logits), axis=1)))


def _energy_slip(got, logits: np.ndarray, y: np.ndarray) -> str | None:
    err = y - softmax(logits)
    n, k = y.shape
    norms = np.linalg.norm(err, axis=1)
    slips = (
        (np.mean(norms ** 2), "you squared the lengths: the energy is the mean of "
                              "||e_y - q||_2, not of its square"),
        (norms.sum(), f"you summed over the n = {n} inputs; the energy is their mean"),
        (np.mean(np.linalg.norm(y - logits, axis=1)), "you used the logits; the head's "
                                                      "predictions are q = softmax(logits)"),
        (np.mean(np.abs(err).sum(1)), "you used the L1 length (sum of |entries|); the energy "
                                      "uses the Euclidean length ||.||_2"),
        (np.mean(np.abs(err)), "you averaged over every entry (n x k); take the length of each "
                               "row e_y - q first, then average over the n inputs"),
        (norms, "you returned one length per input; the energy is their mean, one number"),
    )
    for value, message in slips:
        if _near(got, value):
            return message
    return None


@register("head_energy", "06_how_to_prepare_your_task_head.ipynb",
          "Write energy(logits, y) -> float: the mean over inputs of ||e_y - softmax(logits)||_2.")
def check_head_energy(answer) -> Feedback:
    """Check ``answer(logits (n, k), y (n, k)) -> float`` on two random heads."""
    for seed in (0, 1):
        logits, y, want = energy_problem(seed)
        got, error = run_answer(answer, logits.copy(), y.copy())
        if error is not None:
            return error
        fb = compare("the energy", got, want)
        if not fb.ok:
            return Feedback(False, _energy_slip(got, logits, y) or fb.message)
    return Feedback(True, "your energy equals the library's definition (finetune.ft_start) on "
                          "two random heads.")


class FeatureStepProblem:
    """Backbone ``z = tanh(W x / sqrt(d))`` (``W`` ``(dz, d)``) with a linear head
    ``g = z H^T + c`` (``H`` ``(k, dz)``) on ``n`` inputs with one-hot labels, NumPy float64.

    Attributes: ``theta`` ``(n, n, dz, dz)`` the backbone's eNTK (closed form), ``direction``
    ``(n, k, dz)`` (``H`` at every input), ``energy_vec`` ``(n, k)`` ``= e_y - q``, ``eta``;
    ``want`` ``(n, dz)`` the predicted feature change; ``real`` the feature change after one
    gradient step on the mean cross-entropy (gradients by hand); ``w``, ``hw``, ``c``, ``x``,
    ``y`` the net and data.
    """

    def __init__(self, seed: int, *, n: int = 6, k: int = 3, d: int = 5, dz: int = 16,
                 eta: float = 1e-2):
        rng = np.random.default_rng(seed + 100)
        self.w, self.hw, self.c = rng.normal(size=(dz, d)), rng.normal(size=(k, dz)), rng.normal(size=k)
        self.x, self.y = rng.normal(size=(n, d)), np.eye(k)[rng.integers(0, k, size=n)]
        self.eta = eta
        z = self.features(self.x)
        self.energy_vec = self.y - softmax(z @ self.hw.T + self.c)
        self.direction = np.broadcast_to(self.hw, (n, k, dz)).copy()
        slope = 1 - z ** 2  # tanh'
        self.theta = (np.einsum("aj,bj->abj", slope, slope)[..., None] * np.eye(dz)
                      * (self.x @ self.x.T)[:, :, None, None] / d)
        self.want = eta / n * np.einsum("abij,bkj,bk->ai", self.theta, self.direction, self.energy_vec)
        g_pre = (-self.energy_vec / n) @ self.hw * slope  # d loss / d (W x / sqrt(d)), (n, dz)
        self.real = self.features(self.x, self.w - eta * g_pre.T @ self.x / np.sqrt(d)) - z

    def features(self, x, w=None) -> np.ndarray:
        """``z`` ``(n, dz)`` for inputs ``(n, d)``."""
        w = self.w if w is None else w
        return np.tanh(x @ w.T / np.sqrt(w.shape[1]))

    @property
    def args(self) -> tuple:
        """Copies of what the reader's function receives (it may write into them)."""
        return self.theta.copy(), self.direction.copy(), self.energy_vec.copy(), self.eta


@functools.lru_cache(maxsize=4)
def feature_step_problem(seed: int = 0) -> FeatureStepProblem:
    """The problem the checker poses for ``seed`` (0, then 1); see :class:`FeatureStepProblem`."""
    return FeatureStepProblem(seed)


def _step_slip(got, p: FeatureStepProblem) -> str | None:
    n = p.theta.shape[0]
    slips = (
        (n * p.want, f"you summed over the n = {n} inputs without dividing by n: the loss is "
                     "a mean, so each input's term carries 1/n"),
        (-p.want, "the sign is flipped: with e_y - q as the energy the step is +eta/n sum ..., "
                  "(with q - e_y it would be minus)"),
        (p.want / p.eta, "you left out the step size eta"),
    )
    for value, message in slips:
        if _near(got, value):
            return message
    return None


@register("feature_step", "06_how_to_prepare_your_task_head.ipynb",
          "Write feature_step(theta, direction, energy_vec, eta) -> (n, dz): the first "
          "fine-tuning step's feature change predicted by eNTK x direction x energy.")
def check_feature_step(answer) -> Feedback:
    """Check ``answer(theta (n, n, dz, dz), direction (n, k, dz), energy_vec (n, k), eta)``."""
    for seed in (0, 1):
        p = feature_step_problem(seed)
        got, error = run_answer(answer, *p.args)
        if error is not None:
            return error
        fb = compare("the feature change", got, p.want, rtol=1e-6, atol=1e-14)
        if not fb.ok:
            return Feedback(False, _step_slip(got, p) or fb.message)
    gap = float(np.linalg.norm(np.asarray(got) - p.real) / np.linalg.norm(p.real))
    return Feedback(True, "your eNTK x direction x energy equals the prediction on two random "
                          f"backbones, and at eta = {p.eta:g} it is within {gap:.1e} (relative) of "
                          "the real feature change after one gradient step.")
