"""Tasks with a known target: single-/multi-index models and sparse parity.

* index models: ``x ~ N(0, I_d)``, ``y = (1/sqrt r) sum_j g(w_j . x)`` with ``W`` of
  shape ``(r, d)``, orthonormal rows, ``r << d``; ``g`` has mean 0 and variance 1
  under ``N(0, 1)`` (so ``Var(y) = 1``):

  ===========  ==============================================
  ``he2``      ``He_2(z) / sqrt 2 = (z**2 - 1) / sqrt 2``
  ``he1_he3``  ``(z + He_3(z) / sqrt 6) / sqrt 2``, ``He_3 = z**3 - 3 z``
  ``relu``     ``(relu(z) - 1/sqrt(2 pi)) / sqrt(1/2 - 1/(2 pi))``
  ===========  ==============================================

* ``k``-sparse parity on ``d`` bits: ``x`` uniform on ``{-1, +1}**d``,
  ``y = x_1 x_2 ... x_k`` (the first ``k`` coordinates, without loss of generality).

Every task draws a training pool (use its first ``n`` rows for a size-``n``
training set, so curves over ``n`` are nested), a separate validation set (for
choosing ridges) and a separate test set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp

from . import validation as V

__all__ = ["LINKS", "link", "IndexTask", "index_task", "parity_task"]

_RELU_MEAN = 1.0 / math.sqrt(2.0 * math.pi)
_RELU_STD = math.sqrt(0.5 - 1.0 / (2.0 * math.pi))

LINKS: dict[str, Callable] = {
    "he2": lambda z: (z**2 - 1.0) / math.sqrt(2.0),
    "he1_he3": lambda z: (z + (z**3 - 3.0 * z) / math.sqrt(6.0)) / math.sqrt(2.0),
    "relu": lambda z: (jnp.maximum(z, 0.0) - _RELU_MEAN) / _RELU_STD,
}


def link(name: str) -> Callable:
    """The link ``g`` named ``name`` (one of :data:`LINKS`): ``z (...) -> g(z) (...)``."""
    if name not in LINKS:
        raise ValueError(f"link must be one of {sorted(LINKS)}, got {name!r}")
    return LINKS[name]


class IndexTask(NamedTuple):
    """Inputs ``x*`` of shape ``(N, d)``, targets ``y*`` of shape ``(N, 1)``.

    ``x``/``y``: training pool (``n_pool`` rows); ``x_val``/``y_val``, ``x_test``/``y_test``:
    separate sets. ``w``: ``(r, d)`` directions (``None`` for parity).
    ``kind``: ``'index'`` or ``'parity'``.
    """

    x: jax.Array
    y: jax.Array
    x_val: jax.Array
    y_val: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    w: jax.Array | None
    kind: str

    def train_set(self, n: int) -> tuple[jax.Array, jax.Array]:
        """The first ``n`` pool rows: ``(n, d)``, ``(n, 1)``."""
        if not 0 < n <= self.x.shape[0]:
            raise ValueError(f"n must be in [1, {self.x.shape[0]}] (the pool size), got {n!r}")
        return self.x[:n], self.y[:n]


@V.checked
def index_task(key: V.Key, n_pool: V.PositiveInt, *, d: V.PositiveInt = 32, r: V.PositiveInt = 1,
               g: Annotated[str, V.OneOf(*LINKS)] = "he1_he3", n_val: V.PositiveInt = 1000,
               n_test: V.PositiveInt = 1000, dtype=None) -> IndexTask:
    """Single- (``r = 1``) or multi-index task ``y = sum_j g(w_j . x) / sqrt r``.

    Args:
      key: a ``jax.random`` key (directions and all three sets come from it).
      n_pool: training-pool size; ``d``: input dimension; ``r``: number of
        directions (``1 <= r <= d``); ``g``: link name (:data:`LINKS`).
      n_val, n_test: validation and test set sizes.

    The three sets are consecutive rows of one draw, so the validation and test sets
    depend on ``(key, n_pool)``: an experiment that varies its training size must keep
    ``n_pool`` fixed and take nested prefixes (:meth:`IndexTask.train_set`), as the
    topics do, or the test set moves with the training size.

    Raises:
      ValueError: ``r > d``, an unknown link or a non-positive size (named).
      TypeError: ``key`` is not a JAX key (an integer seed, say).
    """
    if r > d:
        raise ValueError(f"r (the number of directions) must be at most d = {d}, got r = {r}")
    g_fn = link(g)
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    k_w, k_x = jax.random.split(key)
    q, _ = jnp.linalg.qr(jax.random.normal(k_w, (d, r), dtype))  # (d, r) orthonormal columns
    w = q.T  # (r, d)
    x = jax.random.normal(k_x, (n_pool + n_val + n_test, d), dtype)
    y = jnp.sum(g_fn(x @ w.T), axis=1, keepdims=True) / math.sqrt(r)  # (N, 1)
    a, b = n_pool, n_pool + n_val
    return IndexTask(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], w, "index")


@V.checked
def parity_task(key: V.Key, n_pool: V.PositiveInt, *, d: V.PositiveInt = 20, k: V.PositiveInt = 3,
                n_val: V.PositiveInt = 1000, n_test: V.PositiveInt = 1000, dtype=None) -> IndexTask:
    """``k``-sparse parity on ``d`` bits: ``y = prod_{i < k} x_i``, ``x`` uniform on ``{-1, 1}**d``.

    Raises:
      ValueError: ``k > d`` or a non-positive size (named).
    """
    if k > d:
        raise ValueError(f"k (the parity's support) must be at most d = {d}, got k = {k}")
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    bits = jax.random.bernoulli(key, 0.5, (n_pool + n_val + n_test, d))
    x = jnp.where(bits, 1.0, -1.0).astype(dtype)
    y = jnp.prod(x[:, :k], axis=1, keepdims=True)
    a, b = n_pool, n_pool + n_val
    return IndexTask(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], None, "parity")
