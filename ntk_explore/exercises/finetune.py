"""Exercises of notebook 06: the energy of a task head, and the first fine-tuning step
predicted by eNTK x direction x energy.

**Energy.** With a head's logits ``g`` ``(n, k)`` on the target inputs and one-hot labels
``e_y`` ``(n, k)``, the energy at the start of fine-tuning is the mean length of the
error vectors, ``E = (1/n) sum_x ||e_y - softmax(g(x))||_2`` (not squared). The checker
compares with :func:`ntk_explore.topics.finetune.ft_start` on a random linear head.

**The first step.** One fine-tuning step of size ``eta`` on the mean cross-entropy moves
the backbone's features ``z`` by, to first order::

    dz(x) = eta / n * sum_x' Theta_z(x, x') @ G(x')^T @ (e_y' - q(x'))
            (dz,)            (dz, dz)          (dz, k)     (k,)

with ``Theta_z`` ``(n, n, dz, dz)`` the backbone's eNTK, ``G`` ``(n, k, dz)`` the head's
Jacobian ``d g / d z`` (the direction) and ``e_y - q`` ``(n, k)`` the energy vectors. The
checker compares with :func:`ntk_explore.topics.finetune.first_step`, which takes one
backward and one forward pass instead of forming ``Theta_z``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..core.kernels import empirical_ntk
from ..core.models import mlp
from ..topics.finetune import backbone_features, first_step, ft_start, head
from . import Feedback, compare, register, run_answer

__all__ = ["energy_problem", "check_head_energy", "FeatureStepProblem", "feature_step_problem",
           "check_feature_step"]


def _near(got, want) -> bool:
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(want) and bool(np.allclose(got, want, rtol=1e-6, atol=1e-14))


@functools.lru_cache(maxsize=4)
def energy_problem(seed: int, n: int = 12, k: int = 4, dz: int = 6):
    """``(logits (n, k), y (n, k) one-hot, energy)`` from a random linear head (float64)."""
    hd = head("linear", dz, k)
    kz, kh, ky = jax.random.split(jax.random.key(seed), 3)
    with jax.enable_x64(True):
        z = 2.0 * jax.random.normal(kz, (n, dz), jnp.float64)
        hp = hd.init(kh, jnp.float64)
        y = jax.nn.one_hot(jax.random.randint(ky, (n,), 0, k), k, dtype=jnp.float64)
        logits = np.asarray(hd.apply(hp, z))
        energy = ft_start(hd, hp, z, y).energy
    return logits, np.asarray(y), float(energy)


def _energy_slip(got, logits: np.ndarray, y: np.ndarray) -> str | None:
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    err = y - q
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
    return Feedback(True, "your energy equals the library's (finetune.ft_start) on two random "
                          "linear heads.")


class FeatureStepProblem:
    """A small backbone (MLP 5-16-16, tanh) with a linear head on ``n`` points: ``theta``
    ``(n, n, dz, dz)``, ``direction`` ``(n, k, dz)``, ``energy_vec`` ``(n, k)``, ``eta``; ``want``
    ``(n, dz)`` the library's prediction and ``real`` the real change (float64)."""

    def __init__(self, seed: int, *, n: int = 6, k: int = 3, d: int = 5, width: int = 16,
                 eta: float = 1e-2):
        model = mlp(d, width, 2, k, activation="tanh", parametrization="ntk")
        hd = head("linear", width, k)
        kb, kh, kx, ky = jax.random.split(jax.random.key(seed), 4)
        with jax.enable_x64(True):
            bparams = model.init(kb, jnp.float64)[:-1]
            hparams = hd.init(kh, jnp.float64)
            x = jax.random.normal(kx, (n, d), jnp.float64)
            y = jax.nn.one_hot(jax.random.randint(ky, (n,), 0, k), k, dtype=jnp.float64)
            step = first_step(model, bparams, hd, hparams, x, y, eta)
            feats = lambda p, xx: backbone_features(model, p, xx)  # noqa: E731
            self.theta = np.asarray(empirical_ntk(feats, batch_size=None)(x, None, bparams))
        self.direction = np.asarray(step.start.direction)
        self.energy_vec = np.asarray(step.start.energy_vec)
        self.eta, self.want, self.real = eta, np.asarray(step.predicted), np.asarray(step.actual)

    @property
    def args(self) -> tuple:
        return self.theta, self.direction, self.energy_vec, self.eta


@functools.lru_cache(maxsize=4)
def feature_step_problem(seed: int = 0) -> FeatureStepProblem:
    """The problem the checker poses for ``seed`` (0, then 1); cached."""
    return FeatureStepProblem(seed)


def _step_slip(got, p: FeatureStepProblem) -> str | None:
    n = p.theta.shape[0]
    transposed = p.eta / n * np.einsum("abji,bkj,bk->ai", p.theta, p.direction, p.energy_vec)
    slips = (
        (n * p.want, f"you summed over the n = {n} inputs without dividing by n: the loss is "
                     "a mean, so each input's term carries 1/n"),
        (-p.want, "the sign is flipped: with e_y - q as the energy the step is +eta/n sum ..., "
                  "(with q - e_y it would be minus)"),
        (p.want / p.eta, "you left out the step size eta"),
        (transposed, "each eNTK block is applied transposed: use Theta_z(x, x') with its rows "
                     "indexed by the features at x"),
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
    return Feedback(True, "your eNTK x direction x energy equals the library's prediction on two "
                          f"random backbones, and at eta = {p.eta:g} it is within {gap:.1e} "
                          "(relative) of the real feature change after one step.")
