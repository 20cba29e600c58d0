"""Synthetic inputs and tasks with known ground truth (nothing is downloaded)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["circle", "sphere"]


def circle(n: int, dtype=None) -> tuple[jax.Array, np.ndarray]:
    """``n`` equally spaced points on the unit circle: ``(x (n, 2), angle (n,))``.

    Kernels of rotation-invariant nets are functions of the angle between two
    points, so heat maps over this grid are easy to read.
    """
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
    x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return jnp.asarray(x, dtype=dtype or jnp.zeros(()).dtype), theta


def sphere(key: jax.Array, n: int, d: int, dtype=None) -> jax.Array:
    """``n`` points uniform on the unit sphere in ``R^d``: ``(n, d)``."""
    if not (isinstance(n, int) and n > 0 and isinstance(d, int) and d > 0):
        raise ValueError(f"n and d must be positive integers, got n={n!r}, d={d!r}")
    x = jax.random.normal(key, (n, d), dtype or jnp.zeros(()).dtype)
    return x / jnp.linalg.norm(x, axis=1, keepdims=True)
