"""Data-scaling exponents: a trained net against kernel regression with its kernels.

For training-set sizes ``n`` (log-spaced) we measure the test loss of

* ``net``: the MLP trained by full-batch GD (MSE) on the ``n`` points;
* ``entk_init``: kernel regression with the net's tangent kernel at init;
* ``entk_trained``: kernel regression with the tangent kernel of the net that
  was trained on those same ``n`` points (the kernel after training);
* ``entk_pretrained``: kernel regression with the tangent kernel of a net
  pretrained on a fixed number ``n_pre`` of separate samples;
* ``ntk``: kernel regression with the infinite-width NTK.

and fit ``loss ~ C n**(-alpha)``: ``alpha`` is the data-scaling exponent
(larger is better). Kernel regression is ``K(test, X) (K(X, X) + r I)^-1 y``
(ridgeless by default; see :func:`ntk_explore.kernels.kernel_regression`), with
no offset: the net is *centred*, ``f(params, x) - f(params0, x)``, so it
outputs zero at init and kernel regression with its eNTK at init is exactly
its linearisation trained to convergence.

Finite-width kernels are, by default, the structured **pNTK**
(``kernel='pntk'``: the tangent kernel of ``sum_c f_c / sqrt(k)``, shape
``(n1, n2)``, used as ``pNTK (x) I_k``), which notebook 08 and
:mod:`ntk_explore.pntk_study` compare with the full eNTK; ``kernel='entk'``
uses the full ``(n k) x (n k)`` eNTK (k**2 times the memory, about k**3 times
the solve).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .kernels import flatten_blocks, infinite_kernel_fn, kernel_regression, mlp_ntk, mlp_pntk
from .models import MLP, mlp
from .regimes import LogLogFit, fit_loglog
from .training import train

__all__ = [
    "Task", "digits_task", "teacher_task", "Exponent", "exponent", "ScalingCurves",
    "data_scaling", "kernel_predict", "regress", "centered_apply", "test_loss", "log_sizes", "LEARNERS",
]

LEARNERS = ("net", "entk_init", "entk_trained", "entk_pretrained", "ntk")


class Task(NamedTuple):
    """A regression task: pool ``x (N, d)``, ``y (N, k)``; test ``x_test (T, d)``, ``y_test (T, k)``.

    ``x_extra``/``y_extra`` (``(E, d)``, ``(E, k)``) are held apart for
    pretraining. ``labels``/``labels_test`` are class indices (``None`` for
    regression tasks).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_extra: np.ndarray
    y_extra: np.ndarray
    labels: np.ndarray | None = None
    labels_test: np.ndarray | None = None


def _digits_arrays():
    from sklearn.datasets import load_digits

    x, labels = load_digits(return_X_y=True)
    x = x / 16.0
    x = (x - x.mean(0)[None, :]) / (x.std(0)[None, :] + 0.1)  # standardised pixels
    return x, labels


def digits_task(*, seed: int = 0, n_test: int = 400, n_extra: int = 256) -> Task:
    """``load_digits`` (1797 images, 8x8, shipped with scikit-learn) as MSE regression.

    Pixels are standardised; targets are centred one-hot vectors
    ``onehot - 1/10`` of shape ``(., 10)``. The rows are shuffled with
    ``seed`` and split into test (``n_test``), pretraining (``n_extra``) and
    pool (the rest, 1141 with the defaults).
    """
    x, labels = _digits_arrays()
    if n_test + n_extra >= x.shape[0]:
        raise ValueError(f"n_test + n_extra must be below {x.shape[0]}, got {n_test + n_extra}")
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    x, labels = x[perm], labels[perm]
    y = np.eye(10)[labels] - 0.1
    te, ex = slice(0, n_test), slice(n_test, n_test + n_extra)
    rest = slice(n_test + n_extra, None)
    return Task("digits", x[rest], y[rest], x[te], y[te], x[ex], y[ex], labels[rest], labels[te])


def teacher_task(*, seed: int = 0, d: int = 8, n_pool: int = 1024, n_test: int = 400,
                 n_extra: int = 256, teacher_width: int = 4) -> Task:
    """Synthetic task with a known target: a small tanh teacher net on the sphere.

    ``x`` is uniform on the unit sphere in ``R^d`` scaled by ``sqrt(d)``;
    ``y = sum_j a_j tanh(w_j . x) / sqrt(teacher_width)`` with Gaussian
    ``w_j`` (unit-norm rows) and ``a_j``; no label noise, so the test loss is
    the error against the true function. Shapes ``(., d)`` and ``(., 1)``.
    """
    rng = np.random.default_rng(seed + 1000)
    w = rng.standard_normal((teacher_width, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    a = rng.standard_normal(teacher_width)
    total = n_pool + n_test + n_extra
    x = rng.standard_normal((total, d))
    x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    y = (np.tanh(x @ w.T) @ a / np.sqrt(teacher_width))[:, None]
    te, ex = slice(0, n_test), slice(n_test, n_test + n_extra)
    rest = slice(n_test + n_extra, None)
    return Task("teacher", x[rest], y[rest], x[te], y[te], x[ex], y[ex])


class Exponent(NamedTuple):
    """``loss ~ C n**(-alpha)``: ``alpha`` and its 95% interval ``ci95`` (low, high)."""

    alpha: float
    ci95: tuple[float, float]
    fit: LogLogFit


def exponent(ns: Sequence[float], losses: Sequence[float]) -> Exponent:
    """Data-scaling exponent from ``(m,)`` sizes and ``(m,)`` positive losses (m >= 3)."""
    fit = fit_loglog(ns, losses)
    return Exponent(-fit.slope, (-fit.ci95[1], -fit.ci95[0]), fit)


def test_loss(pred, y) -> float:
    """Mean over test points of ``||pred - y||**2 / 2``; ``pred``, ``y``: ``(T, k)``."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    if pred.shape != y.shape:
        raise ValueError(f"pred and y must have the same shape, got {pred.shape} and {y.shape}")
    return float(0.5 * np.sum((pred - y) ** 2) / y.shape[0])


def regress(k_train, y, k_test_train, ridge: float = 0.0) -> np.ndarray:
    """Kernel regression with a ridge relative to the kernel's scale.

    ``k_train (n, n)``, ``y (n,)`` or ``(n, m)``, ``k_test_train (T, n)``;
    the ridge added is ``ridge * mean(diag k_train)``.
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    scale = float(np.mean(np.diag(np.asarray(k_train, np.float64))))
    return kernel_regression(k_train, y, k_test_train, ridge=ridge * scale)


def kernel_predict(model: MLP, params, x, y, x_test, *, kernel: str = "pntk",
                   ridge: float = 0.0) -> np.ndarray:
    """Kernel regression with the net's tangent kernel at ``params``.

    ``x (n, d)``, ``y (n, k)``, ``x_test (T, d)`` -> predictions ``(T, k)``.
    ``kernel``: ``'pntk'`` (``pNTK (x) I_k``, one ``(n, n)`` solve with ``k``
    right-hand sides) or ``'entk'`` (full ``(n k, n k)`` blocks). ``ridge`` is
    relative to the mean diagonal (see :func:`regress`).
    """
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    if kernel == "pntk":
        fn = mlp_pntk(model)
        return regress(fn(x, None, params), y, fn(x_test, x, params), ridge)
    if kernel == "entk":
        fn = mlp_ntk(model)
        k = model.out_dim
        pred = regress(flatten_blocks(fn(x, None, params)), np.reshape(y, (-1,)),
                       flatten_blocks(fn(x_test, x, params)), ridge)
        return pred.reshape(-1, k)
    raise ValueError(f"unknown kernel {kernel!r}; choose 'pntk' or 'entk'")


@dataclasses.dataclass(frozen=True)
class ScalingCurves:
    """Test losses ``losses[learner]`` ``(m,)`` at training-set sizes ``ns`` ``(m,)``."""

    task: str
    ns: np.ndarray
    losses: dict
    width: int
    steps: int
    n_pre: int
    kernel: str

    def exponent(self, learner: str) -> Exponent:
        """Fitted ``alpha`` for one learner (see :data:`LEARNERS`)."""
        if learner not in self.losses:
            raise ValueError(f"unknown learner {learner!r}; have {sorted(self.losses)}")
        return exponent(self.ns, self.losses[learner])

    def exponents(self) -> dict:
        """``{learner: Exponent}`` for every measured learner."""
        return {name: self.exponent(name) for name in self.losses}


def _check_sizes(ns, pool: int) -> np.ndarray:
    ns = np.asarray(sorted(int(n) for n in ns))
    if ns.size < 3 or ns[0] < 2 or ns[-1] > pool:
        raise ValueError(f"need at least 3 sizes in [2, {pool}], got {ns.tolist()}")
    return ns


def data_scaling(task: Task, ns: Sequence[int], *, key: jax.Array, width: int = 256,
                 depth: int = 1, steps: int = 1000, lr: float = 1.0, n_pre: int = 128,
                 parametrization: str = "ntk",
                 kernel: str = "pntk", ridge: float = 0.0,
                 learners: Sequence[str] = LEARNERS) -> ScalingCurves:
    """Test loss vs training-set size for the net and its kernels (see module doc).

    Args:
      task: a :class:`Task`; the first ``n`` pool points form each training set.
      ns: training-set sizes (>= 3 values, at most the pool size).
      key: PRNG key; the same init is used at every ``n``.
      width, depth, parametrization: the ReLU MLP (``'ntk'`` or ``'mup'``; muP
        keeps features moving at large width, ``'ntk'`` is lazy there).
      steps, lr: full-batch GD on the MSE loss.
      n_pre: pretraining samples (from ``task.x_extra``) for ``entk_pretrained``.
      kernel: ``'pntk'`` or ``'entk'`` for the finite-width kernels.
      ridge: kernel-regression ridge relative to the mean diagonal (0: ridgeless).
      learners: which of :data:`LEARNERS` to measure.

    Returns:
      :class:`ScalingCurves` with ``losses[learner]`` of shape ``(len(ns),)``.
    """
    ns = _check_sizes(ns, task.x.shape[0])
    bad = set(learners) - set(LEARNERS)
    if bad:
        raise ValueError(f"unknown learners {sorted(bad)}; choose from {LEARNERS}")
    if "entk_pretrained" in learners and not 0 < n_pre <= task.x_extra.shape[0]:
        raise ValueError(f"n_pre must be in [1, {task.x_extra.shape[0]}], got {n_pre}")
    model = mlp(task.x.shape[1], width, depth, task.y.shape[1],
                parametrization=parametrization)
    params0 = model.init(key)
    apply = centered_apply(model, params0)
    fits = {name: [] for name in learners}
    pre = None
    if "entk_pretrained" in learners:
        pre = train(apply, params0, task.x_extra[:n_pre], task.y_extra[:n_pre], lr=lr,
                    steps=steps, progress=False).params
    inf = infinite_kernel_fn(model) if "ntk" in learners else None
    for n in ns:
        x, y = task.x[:n], task.y[:n]
        for name, pred in _predictions(model, apply, params0, pre, inf, x, y, task.x_test,
                                       learners, lr, steps, kernel, ridge).items():
            fits[name].append(test_loss(pred, task.y_test))
    return ScalingCurves(task.name, ns, {k: np.array(v) for k, v in fits.items()},
                         width, steps, n_pre, kernel)


def centered_apply(model: MLP, params0):
    """``apply(params, x) = f(params, x) - f(params0, x)``: ``(n, d) -> (n, k)``.

    The centred net outputs zero at init and has the same tangent kernel as
    the net, so ridgeless kernel regression with its eNTK at ``params0`` is
    exactly its linearisation trained to convergence.
    """
    return lambda params, x: model.apply(params, x) - model.apply(params0, x)


def _predictions(model, apply, params0, pre, inf, x, y, x_test, learners, lr, steps, kernel,
                 ridge):
    out = {}
    if "net" in learners or "entk_trained" in learners:
        trained = train(apply, params0, x, y, lr=lr, steps=steps, progress=False).params
        if "net" in learners:
            out["net"] = np.asarray(apply(trained, jnp.asarray(x_test)))
        if "entk_trained" in learners:
            out["entk_trained"] = kernel_predict(model, trained, x, y, x_test, kernel=kernel,
                                                  ridge=ridge)
    if "entk_init" in learners:
        out["entk_init"] = kernel_predict(model, params0, x, y, x_test, kernel=kernel,
                                           ridge=ridge)
    if "entk_pretrained" in learners:
        out["entk_pretrained"] = kernel_predict(model, pre, x, y, x_test, kernel=kernel,
                                                 ridge=ridge)
    if "ntk" in learners:
        xj, xt = jnp.asarray(x), jnp.asarray(x_test)
        out["ntk"] = regress(inf(xj).ntk, y, inf(xt, xj).ntk, ridge)
    return {name: out[name] for name in learners}


def log_sizes(lo: int, hi: int, num: int) -> np.ndarray:
    """``num`` distinct integers log-spaced from ``lo`` to ``hi``: ``(<= num,)``."""
    return np.unique(np.round(np.geomspace(lo, hi, num)).astype(int))
