"""Checks shared by every kernel route: the memory guard and the inputs' shapes."""

from __future__ import annotations

import jax
import numpy as np

from . import validation as V

__all__ = ["check_kernel_memory", "check_pair", "check_mlp_inputs", "tree_bytes"]


def check_kernel_memory(n1: int, n2: int, k: int = 1, itemsize: int = 8,
                        limit_bytes: int | None = None, *, extra_bytes: int = 0,
                        extra_what: str = "") -> int:
    """Estimate the bytes of an ``(n1, n2, k, k)`` kernel (plus ``extra_bytes`` of
    working memory, e.g. Jacobian blocks, described by ``extra_what``) before
    allocating it.

    Returns the estimate; raises ``MemoryError`` (naming the shape and the
    estimate) when it exceeds ``limit_bytes`` (default: half the machine's RAM,
    or ``$NTK_EXPLORE_MAX_KERNEL_BYTES``, which must be a positive number).
    """
    need = int(n1) * int(n2) * int(k) ** 2 * int(itemsize) + int(extra_bytes)
    what = f"a kernel of shape ({n1}, {n2}, {k}, {k})"
    if extra_bytes:
        what += f" with {extra_what or 'working memory'} ({V.format_bytes(extra_bytes)})"
    return V.check_memory(need, what, "for kernel regression use the matrix-free route "
                          "ntk_explore.core.matfree.matfree_regression (eNTK/pNTK, no kernel "
                          f"matrix), or use fewer points, the pNTK (shape ({n1}, {n2})), "
                          f"a smaller batch_size", limit_bytes)


def check_pair(x1, x2, dim=None):
    x1 = V.as_float_array("x1", x1, dim=dim)
    x2 = x1 if x2 is None else V.as_float_array("x2", x2, dim=dim)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[1:] != x2.shape[1:]:
        raise ValueError(f"x1 and x2 must be (n, ...) with the same feature shape, "
                         f"got {x1.shape} and {x2.shape}")
    return x1, x2


def check_mlp_inputs(model, x1, x2, params):
    """Checked ``(x1, x2 or None, params)`` for an MLP kernel (floats; ``(n, in_dim)``)."""
    x1c = V.as_float_array("x1", x1, ndim=2, dim=model.in_dim)
    x2c = None if x2 is None else V.as_float_array("x2", x2, ndim=2, dim=model.in_dim)
    V.check_params_match(model, params)
    return x1c, x2c


def tree_bytes(params) -> tuple[int, int]:
    """``(number of parameters, itemsize)`` of a pytree of arrays."""
    leaves = jax.tree.leaves(params)
    size = sum(int(np.prod(np.shape(p))) for p in leaves)
    itemsize = max([np.dtype(getattr(p, "dtype", np.float64)).itemsize for p in leaves] or [8])
    return size, itemsize
