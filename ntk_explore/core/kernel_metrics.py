"""Kernel motion and alignment, ridge chosen on validation data, and data-scaling exponents.

* kernel distance (Fort et al. 2020): ``S(K0, Kt) = 1 - <K0, Kt>_F / (||K0||_F ||Kt||_F)``;
  its velocity between two snapshots is ``S(K_s, K_t) / (t - s)`` (per step);
* centred-target alignment (Baratin et al. 2021): ``y^T K y / (||K||_F ||y||**2)``
  with ``y`` centred (mean removed);
* :func:`ridge_on_validation`: kernel ridge ``K(*, X) (K(X, X) + lam I)^-1 y`` with
  ``lam = rel * trace(K) / n`` chosen on a validation set from a grid of ``rel``;
  one eigendecomposition serves the whole grid;
* :func:`fit_exponent`: the slope of ``-log error`` against ``log n`` over all
  (seed, size) points, with its 95% t-interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["kernel_distance", "kernel_velocity", "target_alignment", "RELATIVE_RIDGES",
           "RidgeFit", "ridge_on_validation", "Exponent", "fit_exponent", "compare_intervals"]

RELATIVE_RIDGES = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def _as_matrix(k) -> np.ndarray:
    k = np.asarray(k, np.float64)
    if k.ndim == 4:  # (n1, n2, k, k) eNTK blocks -> (n1 k, n2 k)
        n1, n2, a, b = k.shape
        k = k.transpose(0, 2, 1, 3).reshape(n1 * a, n2 * b)
    if k.ndim != 2:
        raise ValueError(f"a kernel must be (n1, n2) or (n1, n2, k, k), got shape {k.shape}")
    return k


def kernel_distance(k0, kt) -> float:
    """``1 - <K0, Kt>_F / (||K0|| ||Kt||)`` for kernels of the same shape; in ``[0, 2]``."""
    a, b = _as_matrix(k0), _as_matrix(kt)
    if a.shape != b.shape:
        raise ValueError(f"kernels must have the same shape, got {a.shape} and {b.shape}")
    return float(1.0 - np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def kernel_velocity(kernels, steps) -> np.ndarray:
    """Per-step distance ``S(K_{s_i}, K_{s_{i+1}}) / (s_{i+1} - s_i)``.

    ``kernels``: ``(S, n, n)`` snapshots at ``steps`` ``(S,)``; returns ``(S-1,)``.
    """
    steps = np.asarray(steps, np.float64)
    if len(kernels) != steps.size or steps.size < 2 or np.any(np.diff(steps) <= 0):
        raise ValueError("need at least two snapshots at strictly increasing steps")
    return np.array([kernel_distance(kernels[i], kernels[i + 1]) / (steps[i + 1] - steps[i])
                     for i in range(steps.size - 1)])


def target_alignment(k, y) -> float:
    """``y^T K y / (||K||_F ||y||**2)`` with ``y`` ``(n,)`` or ``(n, 1)`` centred; ``K`` ``(n, n)``."""
    k = _as_matrix(k)
    y = np.asarray(y, np.float64).reshape(-1)
    if k.shape != (y.size, y.size):
        raise ValueError(f"K must be ({y.size}, {y.size}) for y of size {y.size}, got {k.shape}")
    y = y - y.mean()
    return float(y @ k @ y / (np.linalg.norm(k) * (y @ y)))


class RidgeFit(NamedTuple):
    """Kernel ridge with its ridge chosen on validation data.

    ``ridge``: the chosen ``lam``; ``rel``: ``lam / (trace K / n)``;
    ``val_error``: ``(R,)`` validation MSE / Var(y_val) for each relative ridge in ``grid``;
    ``predictions``: one ``(t, m)`` array per ``k_eval_train`` passed, at the chosen ridge.
    """

    ridge: float
    rel: float
    grid: np.ndarray
    val_error: np.ndarray
    predictions: tuple


def ridge_on_validation(k_train, y_train, k_val_train, y_val, *k_eval_train,
                        grid: Sequence[float] = RELATIVE_RIDGES) -> RidgeFit:
    """Choose ``lam = rel * trace(K)/n`` (``rel`` in ``grid``) by validation error, then predict.

    Args:
      k_train: ``(n, n)`` training kernel; ``y_train``: ``(n,)`` or ``(n, m)``.
      k_val_train: ``(v, n)``; ``y_val``: ``(v,)`` or ``(v, m)``.
      k_eval_train: any number of ``(t, n)`` kernels to predict on at the chosen ridge.
      grid: positive relative ridges.

    Equals :func:`ntk_explore.core.kernels.kernel_regression` at the chosen ridge
    (one ``eigh`` instead of one Cholesky per grid point).
    """
    K = np.asarray(k_train, np.float64)
    y = np.asarray(y_train, np.float64)
    y2 = y.reshape(y.shape[0], -1)
    yv = np.asarray(y_val, np.float64).reshape(len(y_val), -1)
    kv = np.asarray(k_val_train, np.float64)
    grid = np.asarray(grid, np.float64)
    n = K.shape[0]
    if K.shape != (n, n) or y2.shape[0] != n or kv.shape[1:] != (n,) or yv.shape[0] != kv.shape[0]:
        raise ValueError(f"shapes do not match: k_train {K.shape}, y_train {y.shape}, "
                         f"k_val_train {kv.shape}, y_val {np.shape(y_val)}")
    if grid.size == 0 or np.any(grid <= 0):
        raise ValueError(f"grid must hold positive relative ridges, got {grid.tolist()}")
    lam, u = np.linalg.eigh(K)  # reads the lower triangle only: no symmetrised copy
    scale = max(float(np.trace(K)) / n, 1e-300)
    uty = u.T @ y2  # (n, m)
    kvu = kv @ u  # (v, n)
    errs = np.array([np.mean((kvu @ (uty / (lam + g * scale)[:, None]) - yv) ** 2) / np.var(yv)
                     for g in grid])
    best = int(np.argmin(errs))
    coef = u @ (uty / (lam + grid[best] * scale)[:, None])  # (n, m)
    preds = tuple((np.asarray(k, np.float64) @ coef).reshape((-1,) + y.shape[1:])
                  for k in k_eval_train)
    return RidgeFit(float(grid[best] * scale), float(grid[best]), grid, errs, preds)


class Exponent(NamedTuple):
    """``error ~ C n**(-slope)``: fitted ``slope`` of ``-log error`` vs ``log n``, its 95% interval."""

    slope: float
    ci95: tuple[float, float]
    intercept: float

    def predict(self, n) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(n, np.float64) ** (-self.slope)


def fit_exponent(ns, errors) -> Exponent:
    """Fit over all points: ``ns`` ``(S,)`` sizes, ``errors`` ``(seeds, S)`` (or ``(S,)``), positive.

    Least squares of ``log error`` on ``log n`` over every (seed, size) pair; the
    interval is ``slope +- t_{0.975, N-2} * stderr`` with ``N`` the number of points.
    """
    ns = np.asarray(ns, np.float64)
    e = np.atleast_2d(np.asarray(errors, np.float64))
    if e.shape[1] != ns.size or ns.size < 2 or e.size < 3:
        raise ValueError(f"errors must be (seeds, {ns.size}) with at least 3 points, got {e.shape}")
    if np.any(ns <= 0) or np.any(~np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("fit_exponent needs positive sizes and positive, finite errors")
    xs = np.tile(np.log(ns), e.shape[0])
    res = stats.linregress(xs, np.log(e).reshape(-1))
    half = float(stats.t.ppf(0.975, xs.size - 2) * res.stderr)
    return Exponent(float(-res.slope), (float(-res.slope - half), float(-res.slope + half)),
                    float(res.intercept))


def compare_intervals(lo_a: float, hi_a: float, lo_b: float, hi_b: float) -> str:
    """``'holds'`` when interval a lies wholly above b, ``'does not hold'`` when wholly below
    (or equal-or-below), ``'inconclusive'`` when they overlap."""
    if lo_a > hi_b:
        return "holds"
    if hi_a < lo_b:
        return "does not hold"
    return "inconclusive"
