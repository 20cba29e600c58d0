"""The products ``Theta v = J diag(r) J^T v`` on the training inputs, never forming ``Theta``.

:class:`TangentOperator` works for any ``apply(params, x)`` through cached VJPs;
:class:`MLPTangentOperator` for the package's MLPs through cached layer inputs and
backprop signals (:func:`~ntk_explore.core.kernels.backprop_signals`, the same factors as
the structured dense eNTK), half the flops. Shapes: right-hand sides ``v`` ``(m, n, q)``
with ``q`` the kernel's outputs (``k`` for the eNTK, 1 for the pNTK).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as V
from ..kernels import backprop_signals, pntk_projection

__all__ = ["TangentOperator", "tangent_operator", "MLPTangentOperator", "mlp_tangent_operator",
           "mean_diagonal", "check_x64"]


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
        dtype = check_x64(dtype)
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


def check_x64(dtype):
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
    chunk_size = V.check_positive_int("chunk_size", chunk_size)
    fn = apply
    if kernel == "pntk":
        k = int(jax.eval_shape(apply, params, x[:1]).shape[-1])
        fn = pntk_projection(apply, pntk_mode, k)
    scales = None
    if lr_scales is not None:
        scales = jax.tree.map(lambda s, p: jnp.asarray(s, p.dtype), lr_scales, params)
    return TangentOperator(fn, params, x, scales, chunk_size, sharding)


# ---------------------------------------------------------------------------
# the package's MLPs: cached layer inputs and backprop signals (kernels.backprop_signals)


_signals_jit = jax.jit(backprop_signals)  # the model is traced: one compile per architecture


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
        return _signals_jit(self.model, self.params, block, self.proj)

    def promoted(self, dtype=None) -> MLPTangentOperator:
        dtype = check_x64(dtype)
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
    V.check_params_match(model, params)
    chunk_size = V.check_positive_int("chunk_size", chunk_size)
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


