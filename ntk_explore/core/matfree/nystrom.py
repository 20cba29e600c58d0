"""The randomized Nystrom preconditioner for conjugate gradients on a tangent kernel.

``Theta ~ C W^+ C^T`` from ``rank`` columns ``C = Theta(X, X_S)`` on a random subset
``S`` (Frangella, Tropp and Udell 2023), applied as
``P^-1 = (lam_r + mu) U (Lam + mu)^-1 U^T + (I - U U^T)``. Its Gram matrix is
accumulated in float64 whatever the operator's precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ..._threads import all_blas_threads
from .operator import TangentOperator

__all__ = ["Nystrom", "nystrom", "apply_nystrom"]


class Nystrom(NamedTuple):
    """``P^-1 v = U diag(w) U^T v + (v - U U^T v)``; ``U`` ``(n q, r)`` with orthonormal
    columns, stored as a tuple of row blocks; ``w`` ``(r,)``.

    ``eigenvalues`` ``(r,)``: the Nystrom approximation's eigenvalues (descending).
    """

    U: tuple
    w: jax.Array
    eigenvalues: np.ndarray


@jax.jit
def apply_nystrom(U, w, r):  # U: row blocks (rows_i, r); r: (m, n, q)
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
    with all_blas_threads():  # JAX is idle here; r x r work in float64 on every core
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


