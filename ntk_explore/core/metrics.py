"""Every number a figure compares, defined once: relative norms, RMS errors, test
losses, representation similarity (CKA), rank statistics (Spearman, AUC) and log-log
fits (scaling exponents).

All functions take arrays (NumPy or JAX) and compute in float64 NumPy, except
:func:`relative_norm`, which stays in JAX so it can run inside ``jit``.
"""

from __future__ import annotations

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


def relative_error(f, y) -> float:
    """``mean((f - y)**2) / mean(y**2)`` for ``f``, ``y`` of the same shape ``(T, k)``."""
    f, y = np.asarray(f, np.float64), np.asarray(y, np.float64)
    if f.shape != y.shape:
        raise ValueError(f"f and y must have the same shape, got {f.shape} and {y.shape}")
    return float(np.mean((f - y) ** 2) / np.mean(y**2))


def rms(a, axis=None) -> np.ndarray:
    """Root mean square over ``axis`` (all axes by default)."""
    return np.sqrt(np.mean(np.square(np.asarray(a, np.float64)), axis=axis))


def rmse(pred, y) -> float:
    """Root mean squared error of ``(t,)`` predictions."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def test_loss(pred, y) -> float:
    """Mean over test points of ``||pred - y||**2 / 2``; ``pred``, ``y``: ``(T, k)``."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    if pred.shape != y.shape:
        raise ValueError(f"pred and y must have the same shape, got {pred.shape} and {y.shape}")
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
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must be (n, p) and (n, q), got {a.shape} and {b.shape}")
    ka, kb = _centred_gram(a), _centred_gram(b)
    return float(np.sum(ka * kb) / (np.linalg.norm(ka) * np.linalg.norm(kb)))


def spearman(a, b) -> float:
    """Spearman rank correlation of two ``(m,)`` arrays (no ties expected);
    ``nan`` when either holds a non-finite value (e.g. a diverged run)."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    ra = np.argsort(np.argsort(np.asarray(a)))
    rb = np.argsort(np.argsort(np.asarray(b)))
    return float(np.corrcoef(ra, rb)[0, 1])


def auc(pos, neg) -> float:
    """P(score of a random positive > a random negative), ties count 1/2."""
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
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


def exponent(ns: Sequence[float], losses: Sequence[float]) -> Exponent:
    """Data-scaling exponent from ``(m,)`` sizes and ``(m,)`` positive losses (m >= 3)."""
    fit = fit_loglog(ns, losses)
    return Exponent(-fit.slope, (-fit.ci95[1], -fit.ci95[0]), fit)
