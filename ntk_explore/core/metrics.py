"""Every number a figure compares, defined once: relative norms, RMS errors, test
losses, representation similarity (CKA), rank statistics (Spearman, AUC) and log-log
fits (scaling exponents), kernel motion and alignment, and kernel ridge with the ridge
chosen on validation data.

* kernel distance (Fort et al. 2020): ``S(K0, Kt) = 1 - <K0, Kt>_F / (||K0||_F ||Kt||_F)``;
  its velocity between two snapshots is ``S(K_s, K_t) / (t - s)`` (per step);
* centred-target alignment (Baratin et al. 2021): ``y^T K y / (||K||_F ||y||**2)``
  with ``y`` centred (mean removed);
* :func:`ridge_on_validation`: kernel ridge ``K(*, X) (K(X, X) + lam I)^-1 y`` with
  ``lam = rel * trace(K) / n`` chosen on a validation set from a grid of ``rel``;
  one eigendecomposition serves the whole grid;
* :func:`exponent` (from mean losses) and :func:`fit_exponent` (pooled over seeds):
  data-scaling exponents with 95% t-intervals.

All functions take arrays (NumPy or JAX) and compute in float64 NumPy, except
:func:`relative_norm`, which stays in JAX so it can run inside ``jit``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from scipy import stats

from . import validation as V

__all__ = [
    "relative_norm", "relative_frobenius", "relative_error", "rms", "rmse", "test_loss",
    "linear_cka", "spearman", "auc", "LogLogFit", "fit_loglog", "Exponent", "exponent",
    "fit_exponent", "exponent_difference", "compare_intervals", "unexplained_variance", "sign_accuracy",
    "kernel_distance", "kernel_velocity", "target_alignment", "RELATIVE_RIDGES", "RidgeFit",
    "ridge_on_validation", "distance_to_pstar", "expected_calibration_error", "Paired",
    "per_seed_difference", "errors_of",
]


def relative_norm(a, b):
    """``||a - b|| / ||b||`` (Frobenius, any shape) in JAX: a scalar array; jit-safe."""
    return jnp.linalg.norm(a - b) / jnp.linalg.norm(b)


def relative_frobenius(a, b) -> float:
    """``||a - b||_F / ||b||_F`` for two arrays of the same shape (any rank); a float."""
    a = V.as_float_array("a", a, numpy=True, min_rows=0)
    b = V.as_float_array("b", b, numpy=True, min_rows=0)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if not np.any(b):
        raise ValueError("b is all zero: the relative error ||a - b|| / ||b|| is undefined")
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _pair(name_a: str, a, name_b: str, b, *, finite: bool = True):
    """Two float64 arrays of exactly the same, non-empty shape (no broadcasting: ``(n,)``
    against ``(n, 1)`` would silently compare every pair)."""
    a = V.as_float_array(name_a, a, numpy=True, finite=finite)
    b = V.as_float_array(name_b, b, numpy=True, finite=finite)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and "
                         f"{b.shape}; reshape one (e.g. y.reshape(-1)) so they match exactly")
    if a.size == 0:
        raise ValueError(f"{name_a} and {name_b} are empty (shape {a.shape}): nothing to compare")
    return a, b


def _column_pair(name_a: str, a, name_b: str, b):
    """``(t,)`` / ``(t, 1)`` arrays as two ``(t,)`` arrays; other shapes must match exactly."""
    a = V.as_float_array(name_a, a, numpy=True)
    b = V.as_float_array(name_b, b, numpy=True)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if b.ndim == 2 and b.shape[1] == 1:
        b = b[:, 0]
    return _pair(name_a, a, name_b, b)


def relative_error(f, y) -> float:
    """``mean((f - y)**2) / mean(y**2)`` for ``f``, ``y`` of the same shape ``(T, k)``."""
    f, y = _pair("f", f, "y", y)
    if not np.any(y):
        raise ValueError("y is all zero: the relative error mean((f - y)^2) / mean(y^2) is undefined")
    return float(np.mean((f - y) ** 2) / np.mean(y**2))


def rms(a, axis=None) -> np.ndarray:
    """Root mean square over ``axis`` (all axes by default)."""
    return np.sqrt(np.mean(np.square(np.asarray(a, np.float64)), axis=axis))


def rmse(pred, y) -> float:
    """Root mean squared error of predictions and targets of the same shape (``(t,)``, ``(t, k)``)."""
    pred, y = _pair("pred", pred, "y", y)
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def test_loss(pred, y) -> float:
    """Mean over test points of ``||pred - y||**2 / 2``; ``pred``, ``y``: ``(T, k)``."""
    pred, y = _pair("pred", pred, "y", y)
    return float(0.5 * np.sum((pred - y) ** 2) / y.shape[0])


test_loss.__test__ = False  # not a pytest test


def _centred_gram(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0, keepdims=True)  # (n, p)
    return a @ a.T  # (n, n)


def linear_cka(a, b) -> float:
    """Linear CKA of two feature matrices over the same ``n`` inputs.

    ``a`` ``(n, p)``, ``b`` ``(n, q)``. With column-centred ``A``, ``B``:
    ``CKA = ||A^T B||_F^2 / (||A^T A||_F ||B^T B||_F)``, computed through the
    ``(n, n)`` Gram matrices (cheap for wide layers), in float64 (the centred Grams
    of saturated features cancel badly in float32). 1 means the same features up
    to rotation and scale; 0 means unrelated.
    """
    a = V.as_float_array("a", a, ndim=2, numpy=True)
    b = V.as_float_array("b", b, ndim=2, numpy=True)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must be (n, p) and (n, q), got {a.shape} and {b.shape}")
    ka, kb = _centred_gram(a / _scale(a)), _centred_gram(b / _scale(b))
    na, nb = np.linalg.norm(ka), np.linalg.norm(kb)
    if na == 0 or nb == 0:
        raise ValueError(f"{'a' if na == 0 else 'b'} has the same features for every input (a "
                         "constant representation): CKA is undefined")
    return float(np.sum(ka * kb) / (na * nb))


def _scale(a: np.ndarray) -> float:
    """``max |a|`` (1 for an all-zero array): divide by it before squaring, so that neither
    tiny nor huge values underflow or overflow."""
    m = float(np.max(np.abs(a))) if a.size else 0.0
    return m if m > 0 else 1.0


def spearman(a, b) -> float:
    """Spearman rank correlation of two ``(m,)`` arrays, ``m >= 2``; ties share their average
    rank (the tie-corrected coefficient). Documented values: ``nan`` when either holds a
    non-finite value (e.g. a diverged run). A constant input has no ranking: ``ValueError``."""
    a, b = _pair("a", a, "b", b, finite=False)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"a and b must be 1-D with at least 2 values, got shape {a.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    for name, v in (("a", a), ("b", b)):
        if np.all(v == v[0]):
            raise ValueError(f"{name} is constant ({v[0]!r} everywhere): a rank correlation "
                             "is undefined")
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def auc(pos, neg) -> float:
    """P(score of a random positive > a random negative), ties count 1/2."""
    pos = V.as_float_array("pos", pos, ndim=1, numpy=True, min_rows=0)[:, None]
    neg = V.as_float_array("neg", neg, ndim=1, numpy=True, min_rows=0)[None, :]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("auc needs at least one positive and one negative score")
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


class LogLogFit(NamedTuple):
    """``log y = slope * log x + intercept``; ``stderr`` of the slope; 95% CI."""

    slope: float
    intercept: float
    stderr: float
    ci95: tuple[float, float]

    def predict(self, x) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(x, np.float64) ** self.slope


def fit_loglog(x: Sequence[float], y: Sequence[float]) -> LogLogFit:
    """Least-squares line through ``(log x, log y)``; ``x``, ``y`` positive, ``(m,)``, m >= 3."""
    x = V.as_float_array("x", x, numpy=True, finite=False)
    y = V.as_float_array("y", y, numpy=True, finite=False)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"need matching 1-D x and y with at least 3 points, "
                         f"got {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"log-log fit needs positive, finite x and y, got x={x.tolist()} "
                         f"and y={y.tolist()}")
    if np.unique(x).size < 2:
        raise ValueError(f"log-log fit needs at least 2 distinct x values, got {x.tolist()}")
    res = stats.linregress(np.log(x), np.log(y))
    half = stats.t.ppf(0.975, x.size - 2) * res.stderr
    return LogLogFit(float(res.slope), float(res.intercept), float(res.stderr),
                     (float(res.slope - half), float(res.slope + half)))


class Exponent(NamedTuple):
    """``loss ~ C n**(-alpha)``: ``alpha`` and its 95% interval ``ci95`` (low, high)."""

    alpha: float
    ci95: tuple[float, float]
    fit: LogLogFit

    @property
    def slope(self) -> float:
        """``alpha``: the slope of ``-log loss`` against ``log n``."""
        return self.alpha

    @property
    def intercept(self) -> float:
        return self.fit.intercept

    def predict(self, n) -> np.ndarray:
        """The fitted ``C n**(-alpha)`` at sizes ``n``."""
        return self.fit.predict(n)


def exponent(ns: Sequence[float], losses: Sequence[float]) -> Exponent:
    """Data-scaling exponent from ``(m,)`` sizes and ``(m,)`` positive losses (m >= 3)."""
    fit = fit_loglog(ns, losses)
    return Exponent(-fit.slope, (-fit.ci95[1], -fit.ci95[0]), fit)


def fit_exponent(ns, errors) -> Exponent:
    """:func:`exponent` pooled over seeds: ``ns`` ``(S,)`` sizes, ``errors`` ``(seeds, S)``
    (or ``(S,)``), positive.

    Least squares of ``log error`` on ``log n`` over every (seed, size) pair; the
    interval is ``alpha +- t_{0.975, N-2} * stderr`` with ``N`` the number of points.
    """
    ns = np.asarray(ns, np.float64)
    e = np.atleast_2d(np.asarray(errors, np.float64))
    if e.shape[1] != ns.size or ns.size < 2 or e.size < 3:
        raise ValueError(f"errors must be (seeds, {ns.size}) with at least 3 points, got {e.shape}")
    return exponent(np.tile(ns, e.shape[0]), e.reshape(-1))


def exponent_difference(ns, errors_a, errors_b) -> Exponent:
    """``alpha_a - alpha_b``, paired: the exponent of the ratio ``errors_a / errors_b``.

    ``ns`` ``(S,)``; ``errors_a``, ``errors_b`` ``(seeds, S)`` (or ``(S,)``), positive,
    row ``i`` of both measured on the same seed (task, split, init). Since
    ``log(e_a / e_b) = log C - (alpha_a - alpha_b) log n``, one pooled fit of the log
    ratio gives the difference and a 95% interval that uses the pairing (seed-to-seed
    variation common to both learners cancels).
    """
    a = np.atleast_2d(np.asarray(errors_a, np.float64))
    b = np.atleast_2d(np.asarray(errors_b, np.float64))
    if a.shape != b.shape:
        raise ValueError(f"errors_a and errors_b must have the same shape (paired by seed and "
                         f"size), got {a.shape} and {b.shape}")
    return fit_exponent(ns, a / b)


@dataclasses.dataclass(frozen=True)
class Paired:
    """Per-seed slope differences ``per_seed (seeds,)`` of log test MSE against log n
    (learner a minus learner b), their mean and 95% t-interval over seeds."""

    a: str
    b: str
    mean: float
    ci95: tuple[float, float]
    per_seed: np.ndarray


def per_seed_difference(ns, errors_a, errors_b, a: str = "a", b: str = "b") -> Paired:
    """Paired slope difference: for each seed, the least-squares slope of
    ``log(errors_a / errors_b)`` against ``log n``; mean and ``t_{0.975, seeds-1}`` interval.

    ``ns (S,)``, ``errors_* (seeds, S)`` positive. Negative means ``a``'s error falls
    faster with ``n`` (``a`` out-scales ``b``).
    """
    ea, eb = np.atleast_2d(errors_a), np.atleast_2d(errors_b)
    if ea.shape != eb.shape or ea.shape[0] < 2:
        raise ValueError(f"need (seeds >= 2, S) errors of the same shape, got {ea.shape}, {eb.shape}")
    logn = np.log(np.asarray(ns, np.float64))
    slopes = np.array([np.polyfit(logn, np.log(ra / rb), 1)[0] for ra, rb in zip(ea, eb)])
    m, s = float(slopes.mean()), float(slopes.std(ddof=1))
    half = float(stats.t.ppf(0.975, slopes.size - 1) * s / math.sqrt(slopes.size))
    return Paired(a, b, m, (m - half, m + half), slopes)


def compare_intervals(lo_a: float, hi_a: float, lo_b: float, hi_b: float) -> str:
    """``'holds'`` when interval a lies wholly above b, ``'does not hold'`` when wholly below
    (or equal-or-below), ``'inconclusive'`` when they overlap."""
    if lo_a > hi_b:
        return "holds"
    if hi_a < lo_b:
        return "does not hold"
    return "inconclusive"


def errors_of(pred, y, labels) -> tuple[float, float]:
    """``(test MSE, classification error)`` of predictions ``(T, 10)`` against ``y (T, 10)``
    and ``labels (T,)``."""
    pred = np.asarray(pred, np.float64)
    return test_loss(pred, y), float(np.mean(np.argmax(pred, axis=1) != labels))


def unexplained_variance(pred, y) -> float:
    """Test MSE / Var(y) for ``pred`` and ``y`` of shape ``(t,)`` or ``(t, 1)`` (either);
    ``(t, k)`` arrays must match exactly. A constant ``y`` (no variance) is refused."""
    pred, y = _column_pair("pred", pred, "y", y)
    var = float(np.var(y))
    if not var > 0:
        raise ValueError(f"y is constant ({y.reshape(-1)[0]!r}): its variance is 0, so the "
                         "unexplained variance is undefined")
    return float(np.mean((pred - y) ** 2) / var)


def sign_accuracy(pred, y) -> float:
    """Fraction of signs that agree (parity labels are +-1); shapes as :func:`unexplained_variance`."""
    pred, y = _column_pair("pred", pred, "y", y)
    return float(np.mean(np.sign(pred) == np.sign(y)))


def distance_to_pstar(targets, pstar) -> float:
    """Mean L2 distance ``mean_i ||targets_i - p*_i||``; both ``(n, k)``."""
    targets, pstar = _pair("targets", targets, "pstar", pstar)
    return float(np.mean(np.linalg.norm(targets - pstar, axis=-1)))


@V.checked
def expected_calibration_error(probs: V.FiniteArray, y: V.FiniteArray, bins: V.PositiveInt = 10) -> float:
    """Top-label ECE with ``bins`` equal-width confidence bins.

    ``probs``: ``(n, k)``; ``y``: ``(n,)`` int labels.
    """
    conf, pred = probs.max(-1), probs.argmax(-1)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            err += m.mean() * abs(np.mean(pred[m] == y[m]) - conf[m].mean())
    return float(err)


# ---------------------------------------------------------------------------
# kernel motion, alignment and ridge on validation

RELATIVE_RIDGES = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def _as_matrix(k, name: str = "K") -> np.ndarray:
    """A kernel as a finite, non-zero float64 matrix scaled to ``max |K| = 1`` (every metric
    below is invariant to a positive scale; scaling first avoids overflow and underflow)."""
    k = V.as_float_array(name, k, numpy=True)
    if k.ndim == 4:  # (n1, n2, k, k) eNTK blocks -> (n1 k, n2 k)
        n1, n2, a, b = k.shape
        k = k.transpose(0, 2, 1, 3).reshape(n1 * a, n2 * b)
    if k.ndim != 2:
        raise ValueError(f"{name} must be (n1, n2) or (n1, n2, k, k), got shape {k.shape}")
    if not np.any(k):
        raise ValueError(f"{name} is all zero: it has no direction, so its distance or "
                         "alignment is undefined")
    return k / _scale(k)


def kernel_distance(k0, kt) -> float:
    """``1 - <K0, Kt>_F / (||K0|| ||Kt||)`` for kernels of the same shape; in ``[0, 2]``."""
    a, b = _as_matrix(k0, "k0"), _as_matrix(kt, "kt")
    if a.shape != b.shape:
        raise ValueError(f"kernels must have the same shape, got {a.shape} and {b.shape}")
    return float(np.clip(1.0 - np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)), 0.0, 2.0))


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
    y = V.as_float_array("y", y, numpy=True)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or k.shape != (y.size, y.size):
        raise ValueError(f"K must be (n, n) and y (n,) or (n, 1), got {k.shape} and {y.shape}")
    y = y - y.mean()
    if not np.any(y):
        raise ValueError("y is constant: once centred it is zero, so the alignment is undefined")
    y = y / _scale(y)
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
    K = V.as_float_array("k_train", k_train, ndim=2, numpy=True)
    y = V.as_float_array("y_train", y_train, numpy=True)
    y2 = y.reshape(y.shape[0], -1)
    yv = V.as_float_array("y_val", y_val, numpy=True)
    yv = yv.reshape(yv.shape[0], -1)
    kv = V.as_float_array("k_val_train", k_val_train, ndim=2, numpy=True)
    grid = V.as_float_array("grid", grid, ndim=1, numpy=True)
    n = K.shape[0]
    if K.shape != (n, n) or y2.shape[0] != n or kv.shape[1:] != (n,) or yv.shape[0] != kv.shape[0]:
        raise ValueError(f"shapes do not match: k_train {K.shape}, y_train {y.shape}, "
                         f"k_val_train {kv.shape}, y_val {np.shape(y_val)}")
    if grid.size == 0 or np.any(grid <= 0):
        raise ValueError(f"grid must hold positive relative ridges, got {grid.tolist()}")
    if not np.var(yv) > 0:
        raise ValueError("y_val is constant: validation errors relative to its variance are "
                         "undefined; use a validation set whose targets vary")
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
