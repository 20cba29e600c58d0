"""Preconditioned conjugate gradients for ``(A + ridge I) x = b`` with ``m`` right-hand sides.

A Python loop over jitted products, not ``jax.scipy.sparse.linalg.cg`` (which reports
neither iterations nor residuals, and cannot restart), nor lineax (not among the
package's dependencies). The loop reports progress, recomputes the true residual
whenever the recursive one claims convergence, restarts when the two disagree, stops
early when the residual grows (a singular system: no solution for this right-hand
side), and can refine a low-precision solve in a higher precision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as V
from .nystrom import Nystrom, apply_nystrom

__all__ = ["ConvergenceError", "MatfreeResult", "cg_solve"]


class ConvergenceError(RuntimeError):
    """CG did not reach ``tol``; ``.result`` holds the last :class:`MatfreeResult`."""

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


class MatfreeResult(NamedTuple):
    """Outcome of a matrix-free solve.

    predictions: ``(t, k)`` (eNTK), ``(t, m)`` or ``(t,)`` (pNTK, like ``y``);
      ``None`` from :func:`cg_solve`.
    coefficients: ``c`` with ``(Theta + ridge I) c = y``, shaped like ``y``.
    iterations: CG iterations (matrix-vector products), restarts included.
    rel_residual: true relative residual ``max_j ||y_j - A c_j|| / ||y_j||``
      over the right-hand sides, recomputed at the end.
    restarts: how often CG restarted because its recursive residual drifted.
    converged: ``rel_residual <= tol``.
    seconds: wall time of the whole call (set-up, preconditioner, CG, prediction).
    cg_seconds: wall time of the CG iterations alone (true residuals included).
    products: products with the operator in CG (iterations plus true residuals).
    refine_seconds: wall time in the higher precision of ``refine`` (residuals, and
      the final CG iterations if the low precision stalled; included in
      ``cg_seconds``; 0 without refinement).
    """

    predictions: jax.Array | None
    coefficients: jax.Array
    iterations: int
    rel_residual: float
    restarts: int
    converged: bool
    seconds: float
    cg_seconds: float
    products: int = 0
    refine_seconds: float = 0.0


# ---------------------------------------------------------------------------
# conjugate gradients


@jax.jit
def _dot(a, b):  # (m, n, q) x (m, n, q) -> (m,)
    return jnp.sum(a * b, axis=(1, 2))


@jax.jit
def _cg_update(x, r, p, ap, rz, alpha_ok):
    pap = _dot(p, ap)
    alpha = jnp.where(alpha_ok & (pap > 0), rz / jnp.where(pap > 0, pap, 1.0), 0.0)
    x = x + alpha[:, None, None] * p
    r = r - alpha[:, None, None] * ap
    return x, r


@jax.jit
def _cg_direction(z, p, rz_new, rz):
    beta = rz_new / jnp.where(rz > 0, rz, 1.0)
    return z + beta[:, None, None] * p


def _norms(a):
    return np.sqrt(np.asarray(_dot(a, a), np.float64))


def cg_solve(matvec: Callable, b, *, ridge: float = 0.0, tol: float = 1e-6,
             maxiter: int | None = None, preconditioner: Nystrom | None = None,
             max_restarts: int = 20, progress: bool = False,
             raise_on_failure: bool = True, refine: Callable | None = None,
             inner_tol: float = 1e-3, inner_dtype=None) -> MatfreeResult:
    """Solve ``(A + ridge I) x = b`` for symmetric PSD ``A`` by preconditioned CG.

    Args:
      matvec: ``v (m, n, q) -> A v (m, n, q)``; the ``m`` systems are independent.
      b: ``(m, n, q)`` right-hand sides.
      tol: target true relative residual per right-hand side.
      maxiter: iteration cap (default ``max(200, 10 * sqrt(n q))``).
      preconditioner: optional :class:`Nystrom`.
      max_restarts: restarts allowed when the recursive residual drifts from
        the true one (each restart recomputes ``r = b - A x`` and asks the recursive
        residual for a smaller target next time: ``tol / 2, tol / 4, ... tol / 16``);
        CG stops early when a restart did not lower the true residual.
      progress: show a tqdm bar with the residual.
      raise_on_failure: raise :class:`ConvergenceError` if ``tol`` is not met.
      refine: mixed-precision iterative refinement. ``refine`` is the same ``A``
        in a higher precision (e.g. ``op.promoted().matvec``, float64) and ``b``
        is given in that precision. The solution and the true residual
        ``b - (A + ridge I) x`` are kept in that precision; each correction
        ``d`` with ``(A + ridge I) d = r`` is a CG solve in ``matvec``'s
        precision ``inner_dtype`` (default: the preconditioner's, else float32) to
        ``max(inner_tol, tol / (2 ||r|| / ||b||))``. When a correction lowers the
        residual by less than half (the floor of the low precision's ``A``, whose
        products lose accuracy by cancellation for ill-conditioned systems), the
        rest of the solve is CG with ``refine`` itself, preconditioned in the low
        precision. ``restarts`` then counts the corrections after the first;
        ``refine_seconds`` the time spent in the high precision.
      inner_tol: the smallest relative residual asked of one correction.
      inner_dtype: the dtype ``matvec`` works in (only with ``refine``).

    Returns:
      :class:`MatfreeResult` with ``predictions=None`` and ``coefficients`` ``(m, n, q)``
      (in ``refine``'s precision when given).
    """
    t0 = time.perf_counter()
    ridge = V.check_nonnegative_float("ridge", ridge)
    tol, inner_tol = _unit("tol", tol), _unit("inner_tol", inner_tol)
    V.check_callable("matvec", matvec)
    V.check_finite("b", b)
    size = int(np.prod(b.shape[1:]))
    maxiter = (V.check_positive_int("maxiter", maxiter) if maxiter is not None
               else max(200, int(10 * math.sqrt(size))))
    bar = _progress_bar(progress, maxiter)
    bnorm = _norms(b)
    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    if refine is None:
        x, it, restarts, rel, grew = _cg(matvec, b, bnorm, ridge, tol, maxiter, preconditioner,
                                         max_restarts, bar, 0)
        products, refine_s = it + restarts + 1, 0.0
    else:
        low = (jnp.dtype(inner_dtype) if inner_dtype is not None else
               preconditioner.w.dtype if preconditioner is not None else jnp.dtype(jnp.float32))
        x, it, restarts, rel, grew, products, refine_s = _refined(
            matvec, refine, b, bnorm, ridge, tol, inner_tol, maxiter, preconditioner,
            max_restarts, bar, low)
    if bar is not None:
        bar.close()
    dt = time.perf_counter() - t0
    res = MatfreeResult(None, x, it, rel, restarts, rel <= tol, dt, dt, products, refine_s)
    if raise_on_failure and not res.converged:
        raise ConvergenceError(_failure(res, grew, tol, maxiter), res)
    return res


def _refined(matvec, refine, b, bnorm, ridge, tol, inner_tol, maxiter, preconditioner,
             max_restarts, bar, low):
    """Iterative refinement (see :func:`cg_solve`'s ``refine``). Returns ``(x, it,
    corrections after the first, rel, grew, products, seconds in the high precision)``."""
    ridge_hi = jnp.asarray(ridge, b.dtype)
    x = jnp.zeros_like(b)
    it, restarts, rel, r, products, refine_s, grew = 0, -1, 1.0, b, 0, 0.0, None
    while it < maxiter and restarts < max_restarts:
        rlow = jnp.asarray(r, low)
        before = it
        d, it, inner_restarts, _, grew = _cg(matvec, rlow, _norms(rlow), ridge,
                                             max(inner_tol, 0.5 * tol / rel), maxiter,
                                             preconditioner, max_restarts, bar, it, rel)
        products += it - before + inner_restarts + 1
        x, restarts = x + jnp.asarray(d, b.dtype), restarts + 1
        t_hi = time.perf_counter()
        r = b - (refine(x) + ridge_hi * x)
        previous, rel = rel, float(np.max(_norms(r) / bnorm))
        refine_s += time.perf_counter() - t_hi
        if bar is not None:
            bar.set_postfix(residual=f"{rel:.2e}", corrections=restarts + 1)
        if rel <= tol or not math.isfinite(rel):
            break
        if rel > 0.5 * previous:  # the low precision's floor: finish in the high one
            t_hi = time.perf_counter()
            d, it, _, _, grew = _cg(refine, r, _norms(r), ridge, 0.9 * tol / rel, maxiter,
                                    _cast_preconditioner(preconditioner, low), max_restarts,
                                    bar, it, rel)
            x = x + d
            rel = float(np.max(_norms(b - (refine(x) + ridge_hi * x)) / bnorm))
            refine_s += time.perf_counter() - t_hi
            break
    return x, it, max(restarts, 0), rel, grew, products, refine_s


def _failure(res: MatfreeResult, grew, tol: float, maxiter: int) -> str:
    """Why CG stopped short of ``tol``, in the words a user can act on."""
    it, rel = res.iterations, res.rel_residual
    if grew is not None:
        return (f"CG stopped after {it} iterations: the residual grew from {grew[0]:.3g} to "
                f"{grew[1]:.3g}, so this system has no solution for this right-hand side (a "
                f"singular kernel with ridge 0: more equations than parameters?) or the "
                f"operator is not positive semi-definite; use ridge > 0")
    if not math.isfinite(rel):
        return (f"CG broke down after {it} iterations: the residual became NaN or inf (the "
                f"preconditioned system is numerically singular in {res.coefficients.dtype}); "
                f"use float64, a smaller Nystrom rank or a larger ridge")
    return (f"CG did not converge: true relative residual {rel:.3g} > tol {tol:g} after "
            f"{it} iterations ({res.restarts} restarts, maxiter {maxiter}); raise the ridge, "
            f"use a Nystrom preconditioner (rank=...), float64, refine=True, or more "
            f"iterations")


def _cg(matvec, b, bnorm, ridge, tol, maxiter, preconditioner, max_restarts, bar, it,
        scale: float = 1.0):
    """Restarted preconditioned CG from ``x = 0`` until the true relative residual
    ``<= tol`` or ``maxiter`` total iterations (``it`` done before). The progress bar
    shows residuals times ``scale`` (relative to the outer system's right-hand side).
    Stops early when the recursive residual grows :data:`GROWTH`-fold above the best it
    reached. Returns ``(x, it, restarts, rel, grew)`` with ``grew`` ``None`` or the pair
    ``(best, last)`` residuals when it stopped for that."""
    ridge_b = jnp.asarray(ridge, b.dtype)

    def a_mv(v):
        return matvec(v) + ridge_b * v

    precond = _precond_fn(preconditioner)
    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    x = jnp.zeros_like(b)
    r = b
    restarts, rel = 0, float(np.max(_norms(r) / bnorm))
    best, grew = rel, None
    target = tol  # for the recursive residual; tightened after each restart
    while it < maxiter and rel > tol and grew is None:
        z = precond(r)
        p, rz = z, _dot(r, z)
        while it < maxiter:
            ap = a_mv(p)
            x, r = _cg_update(x, r, p, ap, rz, jnp.asarray(True))
            it += 1
            rec = float(np.max(_norms(r) / bnorm))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(residual=f"{rec * scale:.2e}", restarts=restarts)
            if rec <= target or not math.isfinite(rec):
                break
            best = min(best, rec)
            if rec > GROWTH * best:  # CG on a consistent PSD system does not do this
                grew = (best * scale, rec * scale)
                break
            z = precond(r)
            rz_new = _dot(r, z)
            p, rz = _cg_direction(z, p, rz_new, rz), rz_new
        r = b - a_mv(x)  # the true residual
        previous, rel = rel, float(np.max(_norms(r) / bnorm))
        if rel <= tol or it >= maxiter or not math.isfinite(rel):
            break
        # the recursive residual drifted below the true one: restart from x, unless the
        # true residual stopped falling (the floor of this precision)
        if restarts >= max_restarts or (restarts > 0 and rel >= previous):
            break
        restarts += 1
        target = tol * 0.5 ** min(restarts, 4)
    return x, it, restarts, rel, grew


def _precond_fn(preconditioner) -> Callable:
    """``r -> P^-1 r`` from ``None`` (identity), a function, or a :class:`Nystrom`."""
    if preconditioner is None:
        return lambda r: r
    if callable(preconditioner):
        return preconditioner
    return lambda r: apply_nystrom(preconditioner.U, preconditioner.w, r)


GROWTH = 1e3
"""A residual this many times its best so far means CG is not converging (no solution)."""


def _unit(name: str, value) -> float:
    value = V.check_positive_float(name, value)
    if not value < 1:
        raise ValueError(f"{name} must be a relative residual in (0, 1), got {value!r}: "
                         f"a tolerance >= 1 is met by the zero vector without any iteration")
    return value


def _cast_preconditioner(pre: Nystrom | None, low):
    """``r -> P^-1 r`` for ``r`` in a higher precision, applied in ``pre``'s own (``low``)."""
    if pre is None:
        return None

    def apply(r):
        return jnp.asarray(apply_nystrom(pre.U, pre.w, jnp.asarray(r, low)), r.dtype)
    return apply


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="CG", leave=False)


