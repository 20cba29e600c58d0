"""Matrix-free kernel regression with the empirical NTK and pNTK.

The dense routes (:mod:`ntk_explore.core.kernels`) form the ``(n, n, k, k)``
kernel, which caps ``n`` at a few thousand. Kernel regression never needs it:
with ``J`` the ``(n q, P)`` Jacobian of the outputs and ``r`` the per-parameter
learning-rate scales, ``Theta v = J diag(r) J^T v`` is one vector-Jacobian
product (VJP) and one Jacobian-vector product (JVP) over the inputs. This module
solves ``(Theta + ridge I) c = y`` by preconditioned conjugate gradients (CG)
using only those two products, then predicts ``Theta(x_test, X) c`` with one
more VJP/JVP pair.

* Memory: ``O(chunk_size * P)`` for one block's autodiff plus the cached
  linearisation (the forward activations, ``O(n * width)``), never ``O(n^2)``.
  The linearisation at ``params`` is computed once per block of inputs
  (``jax.vjp`` keeps its residuals); each CG iteration reuses it, so an iteration
  costs the linear part of a VJP and a JVP, without forward passes.
* Kernels: ``kernel='entk'`` (the full eNTK, a system of size ``n k``) or
  ``'pntk'`` (the tangent kernel of ``sum_c f_c / sqrt(k)``, a system of size
  ``n`` with one right-hand side per target column), matching
  :func:`~ntk_explore.core.kernels.mlp_ntk` / :func:`~ntk_explore.core.kernels.mlp_pntk`
  and their ``kernel_regression``.
* CG: a Python loop over jitted products, not ``jax.scipy.sparse.linalg.cg``
  (which reports neither iterations nor residuals, and cannot restart), nor
  lineax (not among the package's dependencies). The loop reports progress,
  recomputes the true residual ``||y - (Theta + ridge I) c|| / ||y||`` whenever
  the recursive one claims convergence, and restarts from the current iterate
  when the two disagree (in float32 they drift apart after a few hundred
  iterations).
* Preconditioner: an optional randomized Nystrom approximation
  ``Theta ~ C W^+ C^T`` from ``rank`` columns ``C = Theta(X, X_S)`` on a random
  subset ``S`` (Frangella, Tropp and Udell 2023), applied as
  ``P^-1 = (lam_r + mu) U (Lam + mu)^-1 U^T + (I - U U^T)``. Columns come from
  JVPs of the subset's Jacobian rows, or from any dense kernel function
  (``columns=mlp_ntk(model)``), which is much faster for the package's MLPs.

* Precision: float32 CG has a floor: for an ill-conditioned system the product
  ``J^T v`` loses accuracy by cancellation (at ``n = 10^5``, ridge
  ``1e-3 trace / n``: true residual ~``2e-4``, measured). ``refine=True`` keeps CG
  and the preconditioner in float32 and the solution and residual in float64
  (iterative refinement with a float64 copy of the operator that recomputes the
  forward pass per block, so no float64 cache is held); when float32
  corrections stop paying, the last stretch is float64 CG. At ``n = 10^5`` this
  reached ``8.5e-5`` in 229 s (``benchmarks/results/scale.txt``). The
  preconditioner's Gram matrix is always accumulated in float64.

The ridgeless limit (``ridge=0``): CG from ``c = 0`` stays in the range of
``Theta``, so when ``y`` lies in that range (always when ``Theta`` is positive
definite, e.g. ``n k <= P`` for a generic net) it converges to the minimum-norm
solution ``Theta^+ y``, and the predictions are the ``ridge -> 0`` limit of
ridge regression: the interpolating kernel predictor. When ``y`` is not in the
range (``n k > P``), no interpolant exists, CG stalls and
:class:`ConvergenceError` says to add a ridge.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from . import validation as V
from .kernels import pntk_projection

__all__ = [
    "TangentOperator", "tangent_operator", "Nystrom", "nystrom", "MatfreeResult",
    "ConvergenceError", "cg_solve", "matfree_regression", "mlp_matfree_regression",
    "MLPTangentOperator", "mlp_tangent_operator", "mean_diagonal", "matfree_kernel_predict",
]


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
# the tangent operator


def _pad_to(x, size: int):
    """Rows of ``x`` padded to ``size`` with copies of row 0 (their cotangents are 0)."""
    missing = size - x.shape[0]
    if missing == 0:
        return x
    return jnp.concatenate([x, jnp.broadcast_to(x[:1], (missing,) + x.shape[1:])])


# The m right-hand sides are unrolled, not vmapped: XLA's CPU batched matmuls made a
# vmapped product twice as slow as a plain one even for m = 1 (measured).
def _stack(trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


@jax.jit
def _pull(pullback, v):
    """``J_block^T v`` for ``v`` ``(m, chunk, q)`` -> params tree with a leading ``m``."""
    return _stack([pullback(v[j])[0] for j in range(v.shape[0])])


@jax.jit
def _push(pullback, like, t):
    """``J_block t`` for a params tree ``t`` with leading ``m`` -> ``(m, chunk, q)``."""
    transpose = jax.linear_transpose(pullback, like)
    m = jax.tree.leaves(t)[0].shape[0]
    return jnp.stack([transpose((jax.tree.map(lambda a: a[j], t),))[0] for j in range(m)])


def _linearize(fn, params, x):
    return jax.vjp(lambda p: fn(p, x), params)[1]


_linearize_jit = jax.jit(_linearize, static_argnums=0)


class TangentOperator:
    """``v -> Theta v`` on training inputs ``x`` ``(n, ...)``, for ``v`` ``(m, n, q)``.

    Built by :func:`tangent_operator`. ``q`` is the number of outputs of the
    kernel's function (``k`` for the eNTK, 1 for the pNTK); ``m`` independent
    right-hand sides are handled at once.
    """

    def __init__(self, fn, params, x, scales, chunk_size: int, sharding=None,
                 cache: bool = True):
        self.fn, self.params, self.scales, self.sharding = fn, params, scales, sharding
        self.x, self.n, self.cache = x, int(x.shape[0]), bool(cache)
        self._set_chunk(chunk_size)
        self.blocks = [self._put(_pad_to(x[i:i + self.chunk], self.chunk))
                       for i in range(0, self.n, self.chunk)]
        self._cached = [self._linearize(b) for b in self.blocks] if self.cache else None
        out = jax.eval_shape(fn, params, self.blocks[0])
        self.q, self.dtype = int(out.shape[-1]), out.dtype
        self._like = jnp.zeros((self.chunk, self.q), self.dtype)

    def _linearize(self, block):
        return _linearize_jit(self.fn, self.params, block)

    def _linearizations(self):
        """Per block, the cached linearisation, or (``cache=False``) a fresh one."""
        if self._cached is not None:
            return self._cached
        return (self._linearize(b) for b in self.blocks)

    def promoted(self, dtype=None) -> TangentOperator:
        """The same kernel in ``dtype`` (default float64), without a cache.

        Every product recomputes each block's forward pass, so memory stays
        ``O(chunk_size * P)``; used by :func:`cg_solve`'s ``refine`` for the
        true residual. Needs ``jax.config.update('jax_enable_x64', True)`` for
        float64.
        """
        dtype = _check_x64(dtype)
        cast = _caster(dtype)
        return TangentOperator(self.fn, cast(self.params), cast(self.x), cast(self.scales),
                               self.chunk, self.sharding, cache=False)

    def _set_chunk(self, chunk_size: int):
        self.chunk = int(min(chunk_size, self.n))
        if self.sharding is not None:
            ndev = self.sharding.mesh.size
            self.chunk = -(-self.chunk // ndev) * ndev

    def _put(self, a, axis: int = 0):
        if self.sharding is None:
            return a
        spec = [None] * a.ndim
        spec[axis] = self.sharding.spec[0]
        return jax.device_put(a, jax.sharding.NamedSharding(self.sharding.mesh,
                                                            jax.sharding.PartitionSpec(*spec)))

    def _blocks_of(self, v):
        """``(m, n, q)`` -> list of ``(m, chunk, q)`` blocks, zero-padded."""
        total = len(self.blocks) * self.chunk
        v = jnp.pad(v, ((0, 0), (0, total - self.n), (0, 0)))
        return [self._put(v[:, i:i + self.chunk], 1) for i in range(0, total, self.chunk)]

    def rmatvec(self, v):
        """``diag(r) J^T v``: ``v`` ``(m, n, q)`` -> params tree with leading ``m``."""
        g = None
        for pb, vb in zip(self._linearizations(), self._blocks_of(v)):
            gb = _pull(pb, vb)
            g = gb if g is None else jax.tree.map(jnp.add, g, gb)
        return _scaled_lead(g, self.scales)

    def push(self, t):
        """``J t`` on the training inputs: params tree with leading ``m`` -> ``(m, n, q)``."""
        outs = [_push(pb, self._like, t) for pb in self._linearizations()]
        return jnp.concatenate(outs, axis=1)[:, :self.n]

    def matvec(self, v):
        """``Theta v``: ``(m, n, q)`` -> ``(m, n, q)``."""
        return self.push(self.rmatvec(v))

    def push_to(self, x_new, t):
        """``J(x_new) t``: ``x_new`` ``(t, ...)``, tree with leading ``m`` -> ``(m, t, q)``."""
        outs = []
        for i in range(0, x_new.shape[0], self.chunk):
            block = self._put(_pad_to(x_new[i:i + self.chunk], self.chunk))
            outs.append(_push(self._linearize(block), self._like, t))
        return jnp.concatenate(outs, axis=1)[:, :x_new.shape[0]]

    def columns(self, idx, batch: int = 8):
        """``Theta(X, X_idx)`` as ``(n, q, len(idx), q)`` by JVPs of the subset's Jacobian rows."""
        x_sub = self.x[np.asarray(idx)]
        pb = _linearize_jit(self.fn, self.params, x_sub)
        r = x_sub.shape[0]
        basis = jnp.eye(r * self.q, dtype=self.dtype).reshape(r * self.q, r, self.q)
        cols = []
        for i in range(0, r * self.q, batch):
            rows = _scaled_lead(_pull(pb, basis[i:i + batch]), self.scales)  # (b, P)
            cols.append(self.push(rows))  # (b, n, q)
        c = jnp.concatenate(cols)  # (r q, n, q)
        return c.reshape(r, self.q, self.n, self.q).transpose(2, 3, 0, 1)


def _check_x64(dtype):
    dtype = jnp.dtype(jnp.float64 if dtype is None else dtype)
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:  # x64 off (globally or in a context)
        raise RuntimeError("float64 needs jax.config.update('jax_enable_x64', True) before "
                           "float64 arrays are made")
    return dtype


def _caster(dtype):
    def cast(tree):
        if tree is None:
            return None
        return jax.tree.map(lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(
            jnp.result_type(a), jnp.floating) else a, tree)
    return cast


def _scaled_lead(tree, scales):
    if scales is None:
        return tree
    return jax.tree.map(lambda t, s: t * s, tree, scales)


def tangent_operator(apply: Callable, params, x, *, kernel: str = "entk",
                     lr_scales=None, pntk_mode: str = "sum", chunk_size: int = 4096,
                     sharding=None) -> TangentOperator:
    """The matrix-free tangent kernel of ``apply`` at ``params`` on ``x`` ``(n, ...)``.

    Args:
      apply: ``apply(params, x) -> (n, k)``.
      kernel: ``'entk'`` (``q = k``) or ``'pntk'`` (``q = 1``; ``pntk_mode``
        ``'sum'`` or ``'first'`` as in :func:`~ntk_explore.core.kernels.pntk`).
      lr_scales: optional pytree like ``params`` of learning-rate multipliers
        ``r``: the kernel is ``J diag(r) J^T`` (``model.lr_scales()`` for the MLPs).
      chunk_size: inputs per block (memory ``O(chunk_size * P)`` per product).
      sharding: optional ``NamedSharding`` whose spec's first axis splits the
        rows of every block over a mesh (see :mod:`ntk_explore.core.sharding`).

    Returns:
      a :class:`TangentOperator` with ``matvec(v (m, n, q)) -> (m, n, q)``.
    """
    if kernel not in ("entk", "pntk"):
        raise ValueError(f"unknown kernel {kernel!r}; choose 'entk' or 'pntk'")
    if jnp.ndim(x) < 2:
        raise ValueError(f"x must be (n, ...), got shape {jnp.shape(x)}")
    if not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    fn = apply
    if kernel == "pntk":
        k = int(jax.eval_shape(apply, params, x[:1]).shape[-1])
        fn = pntk_projection(apply, pntk_mode, k)
    scales = None
    if lr_scales is not None:
        scales = jax.tree.map(lambda s, p: jnp.asarray(s, p.dtype), lr_scales, params)
    return TangentOperator(fn, params, x, scales, chunk_size, sharding)


# ---------------------------------------------------------------------------
# Nystrom preconditioner


class Nystrom(NamedTuple):
    """``P^-1 v = U diag(w) U^T v + (v - U U^T v)``; ``U`` ``(n q, r)`` with orthonormal
    columns, stored as a tuple of row blocks; ``w`` ``(r,)``.

    ``eigenvalues`` ``(r,)``: the Nystrom approximation's eigenvalues (descending).
    """

    U: tuple
    w: jax.Array
    eigenvalues: np.ndarray


@jax.jit
def _apply_nystrom(U, w, r):  # U: row blocks (rows_i, r); r: (m, n, q)
    flat = r.reshape(r.shape[0], -1)  # (m, n q)
    bounds = np.cumsum([0] + [u.shape[0] for u in U])
    parts = [flat[:, i:j] for i, j in zip(bounds[:-1], bounds[1:])]
    proj = sum(p @ u for p, u in zip(parts, U))  # (m, r)
    corr = proj * (w - 1.0)[None, :]
    out = jnp.concatenate([p + corr @ u.T for p, u in zip(parts, U)], axis=1)
    return out.reshape(r.shape)


def nystrom(op: TangentOperator, rank: int, *, key: jax.Array, ridge: float = 0.0,
            columns: Callable | None = None, rtol: float = 1e-7) -> Nystrom:
    """Randomized Nystrom preconditioner from ``Theta(X, X_S)``, ``|S| = ceil(rank / q)``.

    Args:
      op: the operator (its inputs, kernel and sizes).
      rank: number of kernel columns (``q`` per subset input).
      key: chooses the subset ``S`` uniformly without replacement.
      ridge: the shift ``mu`` of the system; ``0`` uses the smallest kept
        Nystrom eigenvalue instead.
      columns: optional dense kernel ``columns(x1, x2, params) -> (n1, n2, q, q)``
        or ``(n1, n2)`` (e.g. ``mlp_ntk(model)`` or ``mlp_pntk(model)``); it must be
        the same kernel as ``op`` (lr scales included). Default: JVP columns.
      rtol: jitter (relative to ``max diag W``) allowed for the Cholesky factor of
        ``W = Theta(X_S, X_S)``; Nystrom eigenvalues below ``rtol * max`` are dropped.

    Returns:
      :class:`Nystrom`, for :func:`cg_solve`'s ``preconditioner``. Memory: the
      ``(n q, r)`` columns, replaced block by block by ``U``.
    """
    n, q = op.n, op.q
    size = min(n, max(1, -(-int(rank) // q)))
    idx = np.sort(np.asarray(jax.random.choice(key, n, (size,), replace=False)))
    blocks = _nystrom_columns(op, idx, columns)  # row blocks (rows q, s q)
    rows = jnp.concatenate(blocks).reshape(n, q, size * q)[idx] if columns is None else \
        _dense_block(columns, op.x[idx], op.x[idx], op.params)
    w_mat = np.asarray(jnp.reshape(rows, (size * q, size * q)), np.float64)
    with _all_blas_threads():  # JAX is idle here; r x r work in float64 on every core
        g = _gram64(blocks)  # C^T C
        chol = _jittered_cholesky((w_mat + w_mat.T) / 2, rtol)  # W = L L^T
        # F = C L^-T has F F^T = C W^-1 C^T; its right singular vectors from F^T F
        h = scipy.linalg.solve_triangular(chol, g, lower=True)
        h = scipy.linalg.solve_triangular(chol, h.T, lower=True)
        s2, v2 = scipy.linalg.eigh((h + h.T) / 2, driver="evd")
        order = np.argsort(s2)[::-1]
        s2, v2 = np.maximum(s2[order], 0.0), v2[:, order]
        good = s2 > rtol * s2[0]
        s2, v2 = s2[good], v2[:, good]
        m = scipy.linalg.solve_triangular(chol.T, v2 / np.sqrt(s2), lower=False)
    t = jnp.asarray(m, op.dtype)  # U = C L^-T V S^-1
    U = []
    while blocks:  # U = C t, block by block, freeing C as it goes
        U.append(blocks.pop(0) @ t)
    mu = float(ridge) if ridge > 0 else float(s2[-1])
    w = jnp.asarray((s2[-1] + mu) / (s2 + mu), op.dtype)
    return Nystrom(tuple(U), w, s2)


def _gram64(blocks) -> np.ndarray:
    """``C^T C`` in float64 from row blocks of ``C`` (any dtype), by NumPy.

    In float32 the Gram's rounding (``~eps_32 ||C||^2``) swamps the Nystrom
    eigenvalues below ``~1e-5`` of the largest; ``U = C L^-T V S^-1`` then has
    columns far from orthonormal (measured: ``||U^T U - I|| = 52`` at rank 1000,
    n = 2048) and preconditioned CG stalls or breaks down. Accumulated in float64,
    ``U^T U = I`` holds up to the one float32 product ``C t``.
    """
    g = None
    for c in blocks:
        c64 = np.asarray(c, np.float64)
        gb = c64.T @ c64
        g = gb if g is None else g + gb
    return g


def _all_blas_threads():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=os.cpu_count() or 1, user_api="blas")


def _jittered_cholesky(w, rtol: float):
    """Lower Cholesky factor of ``w + eps I``, ``eps`` from 0 up to ``rtol * max diag``."""
    scale = float(np.max(np.diag(w)))
    for eps in (0.0, 1e-3 * rtol, rtol, 1e3 * rtol):
        try:
            return np.linalg.cholesky(w + eps * scale * np.eye(w.shape[0]))
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("the Nystrom core W = Theta(S, S) is not positive definite")


def _dense_block(columns, x1, x2, params):
    """``columns(x1, x2, params)`` as ``(n1, q, n2, q)``."""
    c = columns(x1, x2, params)
    c = c if c.ndim == 4 else c[:, :, None, None]
    return c.transpose(0, 2, 1, 3)


def _nystrom_columns(op, idx, columns) -> list:
    """``Theta(X, X_idx)`` as row blocks ``(rows q, len(idx) q)`` of the operator's chunk size."""
    n, q, s = op.n, op.q, len(idx)
    if columns is None:
        c = op.columns(idx).reshape(n * q, s * q)
        return [c[i * q:(i + op.chunk) * q] for i in range(0, n, op.chunk)]
    sub = op.x[idx]
    return [jnp.asarray(_dense_block(columns, op.x[i:i + op.chunk], sub, op.params),
                        op.dtype).reshape(-1, s * q) for i in range(0, n, op.chunk)]


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
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    tol = V.check_positive_float("tol", tol)
    if maxiter is not None:
        maxiter = V.check_positive_int("maxiter", maxiter)
    if not 0 < inner_tol < 1:
        raise ValueError(f"inner_tol must be in (0, 1), got {inner_tol!r}")
    size = int(np.prod(b.shape[1:]))
    maxiter = int(maxiter) if maxiter is not None else max(200, int(10 * math.sqrt(size)))
    bar = _progress_bar(progress, maxiter)
    bnorm = _norms(b)
    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    refine_s = 0.0
    if refine is None:
        x, it, restarts, rel = _cg(matvec, b, bnorm, ridge, tol, maxiter, preconditioner,
                                   max_restarts, bar, 0)
        products = it + restarts + 1
    else:
        low = (jnp.dtype(inner_dtype) if inner_dtype is not None else
               preconditioner.w.dtype if preconditioner is not None else jnp.dtype(jnp.float32))
        ridge_hi = jnp.asarray(ridge, b.dtype)
        x = jnp.zeros_like(b)
        it, restarts, rel, r, products = 0, -1, 1.0, b, 0
        while it < maxiter and restarts < max_restarts:
            target = max(inner_tol, 0.5 * tol / rel)
            rlow = jnp.asarray(r, low)
            before = it
            d, it, inner_restarts, _ = _cg(matvec, rlow, _norms(rlow), ridge, target, maxiter,
                                           preconditioner, max_restarts, bar, it, rel)
            products += it - before + inner_restarts + 1
            x = x + jnp.asarray(d, b.dtype)
            restarts += 1
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
                d, it, _, _ = _cg(refine, r, _norms(r), ridge, 0.9 * tol / rel, maxiter,
                                  _cast_preconditioner(preconditioner, low), max_restarts,
                                  bar, it, rel)
                x = x + d
                r = b - (refine(x) + ridge_hi * x)
                rel = float(np.max(_norms(r) / bnorm))
                refine_s += time.perf_counter() - t_hi
                break
        restarts = max(restarts, 0)
    if bar is not None:
        bar.close()
    dt = time.perf_counter() - t0
    res = MatfreeResult(None, x, it, rel, restarts, rel <= tol, dt, dt, products, refine_s)
    if raise_on_failure and not math.isfinite(rel):
        raise ConvergenceError(
            f"CG broke down after {it} iterations: the residual became NaN or inf (the "
            f"preconditioned system is numerically singular in {x.dtype}); use float64, a "
            f"smaller Nystrom rank or a larger ridge", res)
    if raise_on_failure and not res.converged:
        raise ConvergenceError(
            f"CG did not converge: true relative residual {rel:.3g} > tol {tol:g} after "
            f"{it} iterations ({restarts} restarts, maxiter {maxiter}); raise the ridge, "
            f"use a Nystrom preconditioner (rank=...), float64, refine=True, or more "
            f"iterations", res)
    return res


def _cg(matvec, b, bnorm, ridge, tol, maxiter, preconditioner, max_restarts, bar, it,
        scale: float = 1.0):
    """Restarted preconditioned CG from ``x = 0`` until the true relative residual
    ``<= tol`` or ``maxiter`` total iterations (``it`` done before). The progress bar
    shows residuals times ``scale`` (relative to the outer system's right-hand side).
    Returns ``(x, it, restarts, rel)``."""
    ridge_b = jnp.asarray(ridge, b.dtype)

    def a_mv(v):
        return matvec(v) + ridge_b * v

    if preconditioner is None:
        def precond(r):
            return r
    elif callable(preconditioner):
        precond = preconditioner
    else:
        def precond(r):
            return _apply_nystrom(preconditioner.U, preconditioner.w, r)

    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    x = jnp.zeros_like(b)
    r = b
    restarts, rel = 0, float(np.max(_norms(r) / bnorm))
    target = tol  # for the recursive residual; tightened after each restart
    while it < maxiter and rel > tol:
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
    return x, it, restarts, rel


def _cast_preconditioner(pre: Nystrom | None, low):
    """``r -> P^-1 r`` for ``r`` in a higher precision, applied in ``pre``'s own (``low``)."""
    if pre is None:
        return None

    def apply(r):
        return jnp.asarray(_apply_nystrom(pre.U, pre.w, jnp.asarray(r, low)), r.dtype)
    return apply


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="CG", leave=False)


# ---------------------------------------------------------------------------
# regression


def _as_rhs(y, n: int, q: int, kernel: str):
    """Targets -> ``(m, n, q)`` and a function mapping ``(m, t, q)`` back like ``y``."""
    y = jnp.asarray(y)
    if kernel == "entk":
        if q == 1 and y.shape == (n,):
            return y[None, :, None], lambda f: f[0, :, 0]
        if y.shape != (n, q):
            raise ValueError(f"y_train must be ({n}, {q}) for the eNTK, got {y.shape}")
        return y[None], lambda f: f[0]
    if y.ndim == 1 and y.shape[0] == n:
        return y[None, :, None], lambda f: f[0, :, 0]
    if y.ndim == 2 and y.shape[0] == n:
        return y.T[:, :, None], lambda f: f[:, :, 0].T
    raise ValueError(f"y_train must be ({n},) or ({n}, m) for the pNTK, got {y.shape}")


def matfree_regression(apply: Callable, params, x_train, y_train, x_test, *,
                       kernel: str = "entk", lr_scales=None, ridge: float = 0.0,
                       tol: float = 1e-6, maxiter: int | None = None,
                       chunk_size: int = 4096, rank: int = 0, key: jax.Array | None = None,
                       columns: Callable | None = None, pntk_mode: str = "sum",
                       sharding=None, progress: bool = False,
                       raise_on_failure: bool = True,
                       operator: TangentOperator | None = None,
                       refine: bool = False) -> MatfreeResult:
    """Kernel (ridge) regression ``Theta(x_test, X) (Theta + ridge I)^-1 y`` without ``Theta``.

    Equals ``kernel_regression(flatten_blocks(ntk(X, X)), y.reshape(-1),
    flatten_blocks(ntk(x_test, X)), ridge=ridge)`` (eNTK) or
    ``kernel_regression(pntk(X, X), y, pntk(x_test, X), ridge=ridge)`` (pNTK) up
    to the CG tolerance; see the module docstring for ``ridge=0``.

    Args:
      apply: ``apply(params, x) -> (n, k)``.
      x_train: ``(n, ...)``; y_train: ``(n, k)`` (eNTK; ``(n,)`` too when ``k = 1``) or
        ``(n,)`` / ``(n, m)`` (pNTK); NaN or inf in any input raises ``ValueError``.
      x_test: ``(t, ...)``.
      kernel, lr_scales, pntk_mode, chunk_size, sharding: see :func:`tangent_operator`.
      ridge: ``lambda >= 0`` (absolute, like ``kernel_regression``'s).
      tol, maxiter, progress, raise_on_failure: see :func:`cg_solve`.
      rank: Nystrom preconditioner rank (0: none); ``key`` picks its subset.
      columns: dense kernel for the Nystrom columns (see :func:`nystrom`).
      operator: an already built operator on ``x_train`` (e.g.
        :func:`mlp_tangent_operator`); then ``apply``, ``lr_scales``, ``pntk_mode``,
        ``chunk_size`` and ``sharding`` are not used.
      refine: float64 iterative refinement of a float32 solve (see
        :func:`cg_solve`): CG and the preconditioner stay in the operator's
        precision, the residual, coefficients and predictions are float64 from
        the same kernel evaluated in float64 (``op.promoted()``, no cache, one
        product per correction). Runs inside ``jax.enable_x64(True)``, so a
        float32 session works too (it then gets NumPy float64 ``predictions``
        and ``coefficients``); reaches ``tol`` below float32's floor (about
        ``2e-4`` at ``n = 10^5`` with ridge ``1e-3 trace / n``).

    Returns:
      :class:`MatfreeResult`; ``predictions`` ``(t, k)`` (eNTK) or shaped like
      ``y`` with ``t`` rows (pNTK); ``coefficients`` shaped like ``y_train``.

    Raises:
      ConvergenceError: the true relative residual stayed above ``tol``.
    """
    t0 = time.perf_counter()
    for name, a in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test)):
        V.check_finite(name, a)
    V.check_same_rows("x_train", x_train, "y_train", y_train)
    op = operator
    if op is None:
        op = tangent_operator(apply, params, x_train, kernel=kernel, lr_scales=lr_scales,
                              pntk_mode=pntk_mode, chunk_size=chunk_size, sharding=sharding)
    x64_outside = jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float64
    with jax.enable_x64(True) if refine else contextlib.nullcontext():
        hi = op.promoted() if refine else op
        b, back = _as_rhs(jnp.asarray(y_train, hi.dtype), op.n, op.q, kernel)
        pre = None
        if rank > 0:
            if key is None:
                raise ValueError("a Nystrom preconditioner (rank > 0) needs a key")
            pre = nystrom(op, rank, key=key, ridge=ridge, columns=columns)
        res = cg_solve(op.matvec, b, ridge=ridge, tol=tol, maxiter=maxiter, preconditioner=pre,
                       progress=progress, raise_on_failure=raise_on_failure,
                       refine=hi.matvec if refine else None, inner_dtype=op.dtype)
        pred = back(hi.push_to(jnp.asarray(x_test, hi.dtype), hi.rmatvec(res.coefficients)))
        coef = back(res.coefficients)
        if refine and not x64_outside:  # float64 results for a float32 session: NumPy
            pred, coef = np.asarray(pred), np.asarray(coef)
    return res._replace(predictions=pred, coefficients=coef,
                        seconds=time.perf_counter() - t0)


def mlp_matfree_regression(model, params, x_train, y_train, x_test, *,
                           kernel: str = "pntk", ridge: float = 0.0, rank: int = 0,
                           key: jax.Array | None = None, pntk_mode: str = "sum",
                           chunk_size: int = 4096, sharding=None, structured: bool = True,
                           **kwargs) -> MatfreeResult:
    """:func:`matfree_regression` for an :class:`~ntk_explore.core.models.MLP`.

    The kernel is exactly ``mlp_ntk(model)`` / ``mlp_pntk(model)`` (the model's
    learning-rate scales included). ``structured=True`` uses
    :func:`mlp_tangent_operator` (cached layer inputs and backprop signals: half
    the flops of the generic cached VJP/JVP); ``False`` the generic
    :func:`tangent_operator`. With ``rank > 0`` the Nystrom columns come from those
    structured kernels. ``x_train (n, d)``, ``y_train (n, k)`` (both kernels; the
    pNTK solves ``k`` right-hand sides), ``x_test (t, d)`` -> ``predictions (t, k)``.
    Other keyword arguments go to :func:`matfree_regression`.
    """
    from .kernels import mlp_ntk, mlp_pntk

    if kernel not in ("entk", "pntk"):
        raise ValueError(f"unknown kernel {kernel!r}; choose 'entk' or 'pntk'")
    model.check_input(x_train)
    model.check_input(x_test)
    if structured:
        op = mlp_tangent_operator(model, params, x_train, kernel=kernel, pntk_mode=pntk_mode,
                                  chunk_size=chunk_size, sharding=sharding)
    else:
        op = tangent_operator(model.apply, params, x_train, kernel=kernel,
                              lr_scales=model.lr_scales(), pntk_mode=pntk_mode,
                              chunk_size=chunk_size, sharding=sharding)
    columns = mlp_ntk(model) if kernel == "entk" else mlp_pntk(model, mode=pntk_mode)
    return matfree_regression(model.apply, params, x_train, y_train, x_test, kernel=kernel,
                              ridge=ridge, rank=rank, key=key, operator=op,
                              columns=columns if rank > 0 else None, **kwargs)


# ---------------------------------------------------------------------------
# the package's MLPs: cached layer inputs and backprop signals


def _mlp_cache(model, params, x, proj):
    """Layer inputs ``xs[l]`` ``(n, fan_in)`` and signals ``ds[l]`` ``(n, q, fan_out)``:
    ``ds[l][a, c] = d (proj f(x_a))_c / d h_l(x_a)`` (``h_l``: layer ``l``'s pre-activation)."""
    from .models import ACTIVATIONS

    hs, xs, _ = model.features(params, x)
    phi = ACTIVATIONS[model.activation]
    layers = model.layers()
    ds = [jnp.broadcast_to(model.alpha * proj, (x.shape[0],) + proj.shape)]  # (n, q, k)
    for l in range(model.depth - 1, -1, -1):
        slope = jax.jvp(phi, (hs[l],), (jnp.ones_like(hs[l]),))[1]
        back = layers[l + 1].w_mult * ds[0] @ params[l + 1]["w"]  # (n, q, width)
        ds.insert(0, back * slope[:, None, :])
    return xs, ds


_mlp_cache_jit = jax.jit(_mlp_cache, static_argnums=0)


def _mlp_pull(model, cache, v):
    """``diag(r) J^T v``: ``v`` ``(m, n, q)`` -> params list with a leading ``m``."""
    xs, ds = cache
    out = []
    for layer, a, d in zip(model.layers(), xs, ds):
        s = jnp.einsum("mnq,nqi->mni", v, d)  # (m, n, fan_out)
        # plain 2-d matmuls, one per right-hand side (batched ones are slow on CPU)
        w = jnp.stack([s[j].T @ a for j in range(s.shape[0])])  # (m, fan_out, fan_in)
        p = {"w": layer.w_lr * layer.w_mult * w}
        if model.bias:
            p["b"] = layer.b_lr * layer.b_mult * s.sum(1)
        out.append(p)
    return out


def _mlp_push(model, cache, t):
    """``J t``: params list with a leading ``m`` -> ``(m, n, q)``."""
    xs, ds = cache
    out = 0.0
    for layer, a, d, p in zip(model.layers(), xs, ds, t):
        h = layer.w_mult * jnp.stack([a @ w.T for w in p["w"]])  # (m, n, fan_out)
        if model.bias:
            h = h + layer.b_mult * p["b"][:, None, :]
        out = out + jnp.einsum("mni,nqi->mnq", h, d)
    return out


_mlp_pull_jit = jax.jit(_mlp_pull, static_argnums=0)
_mlp_push_jit = jax.jit(_mlp_push, static_argnums=0)


class MLPTangentOperator(TangentOperator):
    """:class:`TangentOperator` of an MLP from cached layer inputs and backprop signals.

    Per block the forward pass is done once; then ``J^T v`` is one matmul per
    layer (``(D * v)^T X``) and ``J t`` one matmul and a row-wise product per
    layer: ``4 n P`` flops per product for ``q = 1``. Memory: the cache,
    ``n (d + depth * width * (1 + q) + q k)`` numbers. Built by
    :func:`mlp_tangent_operator`.
    """

    def __init__(self, model, params, x, proj, chunk_size: int, sharding=None,
                 cache: bool = True):
        self.model, self.proj = model, proj
        self.fn, self.params, self.scales, self.sharding = model.apply, params, None, sharding
        self.x, self.n, self.cache = x, int(x.shape[0]), bool(cache)
        self._set_chunk(chunk_size)
        self.blocks = [self._put(_pad_to(x[i:i + self.chunk], self.chunk))
                       for i in range(0, self.n, self.chunk)]
        self._cached = [self._linearize(b) for b in self.blocks] if self.cache else None
        self.q, self.dtype = int(proj.shape[0]), x.dtype

    def _linearize(self, block):
        return _mlp_cache_jit(self.model, self.params, block, self.proj)

    def promoted(self, dtype=None) -> MLPTangentOperator:
        dtype = _check_x64(dtype)
        cast = _caster(dtype)
        return MLPTangentOperator(self.model, cast(self.params), cast(self.x), cast(self.proj),
                                  self.chunk, self.sharding, cache=False)

    promoted.__doc__ = TangentOperator.promoted.__doc__

    def rmatvec(self, v):
        g = None
        for cache, vb in zip(self._linearizations(), self._blocks_of(v)):
            gb = _mlp_pull_jit(self.model, cache, vb)
            g = gb if g is None else jax.tree.map(jnp.add, g, gb)
        return g

    def push(self, t):
        outs = [_mlp_push_jit(self.model, cache, t) for cache in self._linearizations()]
        return jnp.concatenate(outs, axis=1)[:, :self.n]

    def push_to(self, x_new, t):
        outs = []
        for i in range(0, x_new.shape[0], self.chunk):
            block = self._put(_pad_to(x_new[i:i + self.chunk], self.chunk))
            outs.append(_mlp_push_jit(self.model, self._linearize(block), t))
        return jnp.concatenate(outs, axis=1)[:, :x_new.shape[0]]

    def columns(self, idx, batch: int = 8):
        raise NotImplementedError("use nystrom(..., columns=mlp_ntk(model)) for MLPs")


def mlp_tangent_operator(model, params, x, *, kernel: str = "pntk", pntk_mode: str = "sum",
                         chunk_size: int = 4096, sharding=None) -> MLPTangentOperator:
    """The matrix-free ``mlp_ntk(model)`` (``kernel='entk'``, ``q = k``) or
    ``mlp_pntk(model, mode=pntk_mode)`` (``'pntk'``, ``q = 1``) on ``x`` ``(n, d)``;
    ``matvec(v (m, n, q)) -> (m, n, q)``. See :class:`MLPTangentOperator`."""
    if kernel not in ("entk", "pntk"):
        raise ValueError(f"unknown kernel {kernel!r}; choose 'entk' or 'pntk'")
    model.check_input(x)
    k = model.out_dim
    if kernel == "entk":
        proj = jnp.eye(k, dtype=x.dtype)
    elif pntk_mode == "sum":
        proj = jnp.full((1, k), 1.0 / math.sqrt(k), x.dtype)
    elif pntk_mode == "first":
        proj = jnp.eye(1, k, dtype=x.dtype)
    else:
        raise ValueError(f"unknown pNTK mode {pntk_mode!r}; choose 'sum' or 'first'")
    return MLPTangentOperator(model, params, x, proj, chunk_size, sharding)


def mean_diagonal(kernel_fn: Callable, x, params, *, block: int = 256) -> float:
    """``trace(K) / (n q)`` of a dense kernel ``kernel_fn(x1, x2, params)`` on ``x`` ``(n, ...)``,
    from its ``(block, block)`` diagonal blocks only (``O(n * block)`` memory)."""
    total, count = 0.0, 0
    for i in range(0, x.shape[0], block):
        k = kernel_fn(x[i:i + block], None, params)
        k = k if k.ndim == 2 else jnp.trace(k, axis1=-2, axis2=-1) / k.shape[-1]
        total += float(jnp.sum(jnp.diag(k)))
        count += k.shape[0]
    return total / count


def matfree_kernel_predict(model, params, x, y, x_test, *, kernel: str = "pntk",
                           ridge: float = 1e-3, rank: int = 1000, key: jax.Array | None = None,
                           tol: float = 1e-4, progress: bool = False,
                           return_result: bool = False, **kwargs):
    """Kernel regression with an MLP's tangent kernel for large ``n``, no kernel matrix.

    The matrix-free counterpart of the dense learners (``kernel_predict`` in
    :mod:`ntk_explore.topics.scaling`): ``x (n, d)``, ``y (n, k)``,
    ``x_test (T, d)`` -> predictions ``(T, k)`` (NumPy, float64). ``ridge`` is
    relative to the kernel's mean diagonal (``trace / n``); ``0`` is the
    ridgeless limit (see the module docstring), which CG reaches slowly at large
    ``n``. ``rank`` columns build the Nystrom preconditioner (subset drawn with
    ``key``, default ``jax.random.key(0)``), capped at ``n // 2``; ``tol`` is the
    relative residual. ``return_result``: return the whole :class:`MatfreeResult`
    (iterations, residual, times) instead of the predictions alone. Other keyword
    arguments go to :func:`mlp_matfree_regression`.

    Raises:
      ConvergenceError: CG did not reach ``tol``.
    """
    from .kernels import mlp_ntk, mlp_pntk

    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    dense = mlp_pntk(model) if kernel == "pntk" else mlp_ntk(model)
    scale = mean_diagonal(dense, x, params) if ridge > 0 else 0.0
    rank = min(int(rank), x.shape[0] // 2 * (1 if kernel == "pntk" else model.out_dim))
    key = jax.random.key(0) if key is None else key
    res = mlp_matfree_regression(model, params, x, jnp.asarray(y, x.dtype), x_test,
                                 kernel=kernel, ridge=ridge * scale, rank=rank, key=key,
                                 tol=tol, progress=progress, **kwargs)
    return res if return_result else np.asarray(res.predictions, np.float64)
