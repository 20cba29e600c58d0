"""Empirical and infinite-width tangent kernels, and kernel regression.

Conventions: an empirical NTK (eNTK) of a net with ``k`` outputs is returned as
full blocks ``ntk[a, b, c, e] = <d f_c(x1_a)/d theta, d f_e(x2_b)/d theta>`` of
shape ``(n1, n2, k, k)``, each parameter weighted by its learning-rate scale
when one is given. ``x2=None`` means "same as ``x1``". Scalar kernels (pNTK,
traces, infinite-width kernels) have shape ``(n1, n2)``.

Routes to the eNTK:

* :func:`empirical_ntk` -- any ``apply(params, x)``; Jacobian contraction
  (``method='jacobian'``) or NTK-vector products (``method='ntvp'``), in blocks
  of ``batch_size`` inputs so memory stays bounded.
* :func:`mlp_ntk` -- the package's MLPs, through the per-layer identity
  ``J_l J_l^T = (H_l H_l^T) * (Delta_l Delta_l^T)``: layer-input Gram matrix
  times backprop-signal Gram matrix. No Jacobian is ever formed, so the cost is
  a few forward/backward passes plus ``O(n1 n2 (k**2 width + fan_in))`` flops
  per layer instead of ``O(n1 n2 k**2 P)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from . import validation as V
from .metrics import relative_frobenius
from .models import ACTIVATIONS, MLP

__all__ = [
    "empirical_ntk", "mlp_ntk", "mlp_pntk", "pntk", "ntk_trace", "flatten_blocks",
    "infinite_kernel_fn", "Kernels", "kernel_regression", "NotPositiveDefiniteError",
    "check_kernel_memory", "relative_frobenius", "backprop_signals", "structured_ntk",
    "KernelFactors", "kernel_factors", "regress", "pntk_projection",
]

# ---------------------------------------------------------------------------
# memory guard


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


def _check_pair(x1, x2, dim=None):
    x1 = V.as_float_array("x1", x1, dim=dim)
    x2 = x1 if x2 is None else V.as_float_array("x2", x2, dim=dim)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[1:] != x2.shape[1:]:
        raise ValueError(f"x1 and x2 must be (n, ...) with the same feature shape, "
                         f"got {x1.shape} and {x2.shape}")
    return x1, x2


def _check_mlp_inputs(model, x1, x2, params):
    """Checked ``(x1, x2 or None, params)`` for an MLP kernel (floats; ``(n, in_dim)``)."""
    x1c = V.as_float_array("x1", x1, ndim=2, dim=model.in_dim)
    x2c = None if x2 is None else V.as_float_array("x2", x2, ndim=2, dim=model.in_dim)
    V.check_params_match(model, params)
    return x1c, x2c


def _tree_bytes(params) -> tuple[int, int]:
    """``(number of parameters, itemsize)`` of a pytree of arrays."""
    leaves = jax.tree.leaves(params)
    size = sum(int(np.prod(np.shape(p))) for p in leaves)
    itemsize = max([np.dtype(getattr(p, "dtype", np.float64)).itemsize for p in leaves] or [8])
    return size, itemsize


# ---------------------------------------------------------------------------
# generic route


def _pad_rows(x, start: int, size: int):
    """Rows ``start:start+size`` of ``x``, padded with copies of row 0 to ``size``."""
    block = x[start:start + size]
    missing = size - block.shape[0]
    if missing:
        block = jnp.concatenate([block, jnp.broadcast_to(x[:1], (missing,) + x.shape[1:])])
    return block


def _padded(block, params, x1, i, s1, x2, u, s2):
    """One kernel block; every call has the same shapes, so it compiles once."""
    out = block(params, _pad_rows(x1, i, s1), _pad_rows(x2, u, s2))
    return out[:min(s1, x1.shape[0] - i), :min(s2, x2.shape[0] - u)]


def _scale_tree(tree, scales):
    if scales is None:
        return tree
    return jax.tree.map(lambda t, s: t * s, tree, scales)


def empirical_ntk(apply: Callable, *, method: str = "jacobian", batch_size: int | None = 64,
                  lr_scales=None) -> Callable:
    """Factory for the eNTK of any ``apply(params, x) -> (n, k)``.

    Args:
      apply: the model, params first.
      method: ``'jacobian'`` contracts per-example Jacobians; ``'ntvp'`` builds
        each column from a vector-Jacobian product followed by a Jacobian-vector
        product (no Jacobian stored; slower, less memory).
      batch_size: inputs per block (``None``: all at once).
      lr_scales: optional pytree like ``params`` of per-parameter learning-rate
        multipliers ``r``; the kernel is then ``J diag(r) J^T``.

    Returns:
      ``ntk(x1, x2, params) -> (n1, n2, k, k)``; ``x2=None`` reuses ``x1``.
    """
    V.check_callable("apply", apply)
    V.check_choice("method", method, ("jacobian", "ntvp"))
    if batch_size is not None:
        batch_size = V.check_positive_int("batch_size", batch_size)
    block_fn = _jacobian_block if method == "jacobian" else _ntvp_block
    block = jax.jit(lambda p, a, b: block_fn(apply, p, a, b, lr_scales))

    def ntk(x1, x2, params):
        x1, x2 = _check_pair(x1, x2)
        k = _output_dim(apply, params, x1)
        s1 = x1.shape[0] if batch_size is None else min(batch_size, x1.shape[0])
        s2 = x2.shape[0] if batch_size is None else min(batch_size, x2.shape[0])
        P, item = _tree_bytes(params)
        work = (s1 + s2) * k * P * item if method == "jacobian" else (s2 * k) ** 2 * item + 2 * P * item
        check_kernel_memory(x1.shape[0], x2.shape[0], k, extra_bytes=work,
                            extra_what=f"{method} blocks of {s1} and {s2} inputs x {P} parameters")
        rows = [jnp.concatenate([_padded(block, params, x1, i, s1, x2, u, s2)
                                 for u in range(0, x2.shape[0], s2)], axis=1)
                for i in range(0, x1.shape[0], s1)]
        return jnp.concatenate(rows, axis=0)

    return ntk


def _output_dim(apply, params, x) -> int:
    """``k`` of ``apply(params, x[:1]) -> (1, k)``, with a clear error otherwise."""
    try:
        out = jax.eval_shape(apply, params, x[:1])
    except Exception as err:  # noqa: BLE001 - re-raised with the user's names
        raise ValueError(f"apply(params, x1[:1]) failed for x1 of shape {tuple(x.shape)}: "
                         f"{type(err).__name__}: {err}") from err
    if getattr(out, "ndim", None) != 2 or out.shape[0] != 1:
        raise ValueError(f"apply(params, x) must return (n, k) outputs; for x1[:1] it "
                         f"returned shape {getattr(out, 'shape', type(out).__name__)}")
    return int(out.shape[-1])


def _per_example_jacobian(apply, params, x):
    # (n, k, *param_shape) per leaf
    return jax.vmap(jax.jacrev(lambda p, xi: apply(p, xi[None])[0]), (None, 0))(params, x)


def _jacobian_block(apply, params, x1, x2, scales):
    j1 = _scale_tree(_per_example_jacobian(apply, params, x1), scales)
    j2 = _per_example_jacobian(apply, params, x2)

    def contract(a, b):  # (n1, k, *s), (n2, k, *s) -> (n1, n2, k, k)
        a = a.reshape(a.shape[:2] + (-1,))
        b = b.reshape(b.shape[:2] + (-1,))
        return jnp.einsum("acp,bep->abce", a, b)

    return sum(jax.tree.leaves(jax.tree.map(contract, j1, j2)))


def _ntvp_block(apply, params, x1, x2, scales):
    f2, pullback = jax.vjp(lambda p: apply(p, x2), params)
    n2, k = f2.shape
    basis = jnp.eye(n2 * k, dtype=f2.dtype).reshape(n2 * k, n2, k)

    def column(cot):  # one cotangent e_(b, e) -> K[:, b, :, e] of shape (n1, k)
        (v,) = pullback(cot)
        return jax.jvp(lambda p: apply(p, x1), (params,), (_scale_tree(v, scales),))[1]

    cols = jax.lax.map(column, basis)  # (n2 * k, n1, k)
    return cols.reshape(n2, k, -1, k).transpose(2, 0, 3, 1)


def pntk_projection(apply: Callable, mode: str, k: int) -> Callable:
    """The one-logit model whose tangent kernel is the pNTK: ``(p, x) -> (n, 1)``.

    ``mode='sum'``: ``sum_c f_c(p, x) / sqrt(k)``; ``mode='first'``: ``f_0(p, x)``.
    """
    if mode == "sum":
        return lambda p, x: apply(p, x).sum(-1, keepdims=True) / math.sqrt(k)
    if mode == "first":
        return lambda p, x: apply(p, x)[:, :1]
    raise ValueError(f"unknown pNTK mode {mode!r}; choose 'sum' or 'first'")


def pntk(apply: Callable, out_dim: int, *, mode: str = "sum", **kwargs) -> Callable:
    """Factory for the pseudo-NTK of any ``apply``: ``pntk(x1, x2, params) -> (n1, n2)``.

    ``mode='sum'`` uses the gradient of ``sum_c f_c / sqrt(k)``, ``'first'`` that
    of ``f_1`` alone. At initialisation ``E[eNTK] = E[pNTK] I_k`` and
    ``eNTK ~ pNTK (x) I_k`` with an error that shrinks like ``1/sqrt(width)``.
    Extra keyword arguments go to :func:`empirical_ntk`.
    """
    V.check_callable("apply", apply)
    out_dim = V.check_positive_int("out_dim", out_dim)
    V.check_choice("mode", mode, ("sum", "first"))
    inner = empirical_ntk(pntk_projection(apply, mode, out_dim), **kwargs)
    return lambda x1, x2, params: inner(x1, x2, params)[..., 0, 0]


# ---------------------------------------------------------------------------
# structured route for the package's MLPs


def _derivative(phi, h):
    return jax.jvp(phi, (h,), (jnp.ones_like(h),))[1]


def backprop_signals(model: MLP, params, x: jax.Array, proj: jax.Array):
    """Layer inputs and backpropagated signals of an MLP, one forward and backward pass.

    Args:
      model, params: the net (``model`` may be traced).
      x: ``(n, d)`` inputs.
      proj: ``(q, k)`` output projection (``eye(k)`` for the full eNTK, one row for
        a pNTK).

    Returns:
      ``(xs, deltas)``: ``xs[l]`` ``(n, fan_in_l)`` is layer ``l``'s input (``xs[0] =
      x``) and ``deltas[l]`` ``(n, q, fan_out_l)`` is ``d (proj @ f(x_a))_c / d h_l(x_a)``
      for its pre-activation ``h_l`` (the output layer's is the same for every input).
    """
    hs, xs, _ = model.features(params, x)
    layers = model.layers()
    phi = ACTIVATIONS[model.activation]
    g = jnp.broadcast_to(model.alpha * proj, (x.shape[0],) + proj.shape)  # (n, q, k)
    deltas = [g]
    for l in range(model.depth - 1, -1, -1):
        back = layers[l + 1].w_mult * deltas[0] @ params[l + 1]["w"]  # (n, q, width)
        deltas.insert(0, back * _derivative(phi, hs[l])[:, None, :])
    return xs, deltas


def structured_ntk(model: MLP, params, x1: jax.Array, x2: jax.Array | None, proj: jax.Array):
    """The eNTK of ``proj @ f``, ``(n1, n2, q, q)``, by the per-layer identity (no Jacobian).

    ``x1`` ``(n1, d)``, ``x2`` ``(n2, d)`` or ``None`` (same as ``x1``), ``proj`` ``(q, k)``.
    Traceable in ``model``; :func:`mlp_ntk` and :func:`mlp_pntk` wrap it.
    """
    xs1, d1 = backprop_signals(model, params, x1, proj)
    xs2, d2 = (xs1, d1) if x2 is None else backprop_signals(model, params, x2, proj)
    total = 0.0
    for layer, a1, a2, g1, g2 in zip(model.layers(), xs1, xs2, d1, d2):
        signal = jnp.einsum("aci,bei->abce", g1, g2)  # (n1, n2, q, q)
        inputs = a1 @ a2.T  # (n1, n2)
        total = total + layer.w_lr * layer.w_mult**2 * inputs[:, :, None, None] * signal
        if model.bias:
            total = total + layer.b_lr * layer.b_mult**2 * signal
    return total


_structured_jit = jax.jit(structured_ntk)  # the model is traced: one compile per architecture


class KernelFactors(NamedTuple):
    """Per-layer factors of the eNTK on ``n`` inputs, for ``L + 1`` layers.

    ``feature[l]`` ``(n, n)``: ``w_lr w_mult**2 X_l X_l^T + b_lr b_mult**2``
    (layer ``l``'s input Gram, bias as a constant input); ``backprop[l]``
    ``(n, n, k, k)``: Gram of ``d f / d h_l``. ``eNTK = sum_l feature[l] * backprop[l]``.
    """

    feature: jax.Array
    backprop: jax.Array

    def ntk(self) -> jax.Array:
        """The eNTK ``(n, n, k, k)`` rebuilt from the factors."""
        return jnp.sum(self.feature[:, :, :, None, None] * self.backprop, axis=0)


def kernel_factors(model: MLP, params, x: jax.Array) -> KernelFactors:
    """Feature and backprop Gram matrices of each layer; see :class:`KernelFactors`.

    ``x`` ``(n, d)``; returns ``feature`` ``(L+1, n, n)`` and ``backprop``
    ``(L+1, n, n, k, k)``. Compiled once per architecture.
    """
    model.check_input(x)
    return _kernel_factors_jit(model, params, x)


def _kernel_factors(model, params, x):
    proj = jnp.eye(model.out_dim, dtype=x.dtype)
    xs, deltas = backprop_signals(model, params, x, proj)
    feats, backs = [], []
    for layer, a, g in zip(model.layers(), xs, deltas):
        gram = layer.w_lr * layer.w_mult**2 * (a @ a.T)  # (n, n)
        if model.bias:
            gram = gram + layer.b_lr * layer.b_mult**2
        feats.append(gram)
        backs.append(jnp.einsum("aci,bei->abce", g, g))  # (n, n, k, k)
    return KernelFactors(jnp.stack(feats), jnp.stack(backs))


_kernel_factors_jit = jax.jit(_kernel_factors)


def mlp_ntk(model: MLP) -> Callable:
    """Structured eNTK of an :class:`~ntk_explore.core.models.MLP`.

    Returns ``ntk(x1, x2, params) -> (n1, n2, k, k)``, equal to
    ``J(x1) diag(r) J(x2)^T`` (``r``: the model's learning-rate scales) without
    forming ``J``: for each layer, ``w_mult**2 * (X_in X_in'^T) * (D D'^T)``
    plus ``b_mult**2 * (D D'^T)`` for its bias.
    """
    V.check_model("model", model, MLP)

    def ntk(x1, x2, params):
        x1, x2 = _check_mlp_inputs(model, x1, x2, params)
        check_kernel_memory(x1.shape[0], (x1 if x2 is None else x2).shape[0], model.out_dim)
        proj = jnp.eye(model.out_dim, dtype=x1.dtype)
        return _structured_jit(model, params, x1, x2, proj)

    return ntk


def mlp_pntk(model: MLP, *, mode: str = "sum") -> Callable:
    """Structured pNTK of an MLP: ``pntk(x1, x2, params) -> (n1, n2)``; see :func:`pntk`."""
    V.check_model("model", model, MLP)
    V.check_choice("mode", mode, ("sum", "first"))
    k = model.out_dim
    if mode == "sum":
        row = jnp.full((1, k), 1.0 / math.sqrt(k))
    elif mode == "first":
        row = jnp.eye(1, k)
    else:
        raise ValueError(f"unknown pNTK mode {mode!r}; choose 'sum' or 'first'")

    def kernel(x1, x2, params):
        x1, x2 = _check_mlp_inputs(model, x1, x2, params)
        check_kernel_memory(x1.shape[0], (x1 if x2 is None else x2).shape[0], 1)
        return _structured_jit(model, params, x1, x2, row.astype(x1.dtype))[..., 0, 0]

    return kernel


def _check_blocks(ntk):
    ntk = V.as_float_array("ntk", ntk, finite=False)
    if ntk.ndim != 4 or ntk.shape[2] != ntk.shape[3]:
        raise ValueError(f"ntk must be eNTK blocks of shape (n1, n2, k, k), got shape "
                         f"{tuple(ntk.shape)}")
    return ntk


def ntk_trace(ntk: jax.Array) -> jax.Array:
    """Sum of the output-diagonal blocks: ``(n1, n2, k, k) -> (n1, n2)``."""
    ntk = _check_blocks(ntk)
    return jnp.trace(ntk, axis1=-2, axis2=-1)


def flatten_blocks(ntk: jax.Array) -> jax.Array:
    """``(n1, n2, k, k) -> (n1 k, n2 k)`` with row index ``a * k + c``."""
    ntk = _check_blocks(ntk)
    n1, n2, k, _ = ntk.shape
    return ntk.transpose(0, 2, 1, 3).reshape(n1 * k, n2 * k)


def regress(k_train, y, k_test_train, ridge: float = 0.0) -> np.ndarray:
    """:func:`kernel_regression` with a ridge relative to the kernel's scale.

    ``k_train (n, n)``, ``y (n,)`` or ``(n, m)``, ``k_test_train (T, n)``;
    the ridge added is ``ridge * mean(diag k_train)``.
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    scale = float(np.mean(np.diag(np.asarray(k_train, np.float64))))
    return kernel_regression(k_train, y, k_test_train, ridge=ridge * scale)


# ---------------------------------------------------------------------------
# infinite width, through neural-tangents stax


class Kernels(NamedTuple):
    """Infinite-width kernels, each ``(n1, n2)``."""

    nngp: jax.Array
    ntk: jax.Array


def _stax_activation(stax, name: str):
    if name == "relu":
        return stax.Relu()
    return stax.Erf()


def _stax_net(model: MLP, out_scale: float):
    from . import _nt_compat

    stax = _nt_compat.load().stax
    b_std = model.sigma_b if model.bias else None
    layers = []
    for _ in range(model.depth):
        layers += [stax.Dense(model.width, W_std=model.sigma_w, b_std=b_std,
                              parameterization="ntk"),
                   _stax_activation(stax, model.activation)]
    out_b = None if b_std is None else b_std * model.alpha
    layers.append(stax.Dense(model.out_dim, W_std=model.sigma_w * model.alpha * out_scale,
                             b_std=out_b, parameterization="ntk"))
    return stax.serial(*layers)[2]


# tanh without a closed form: a Gaussian scale mixture of erf.
#
# pi t / sinh(pi t) = prod_j (1 + t**2 / j**2)**-1 is the characteristic function of
# the logistic law, so sech(x)**2 = 2 E_S[N(x; 0, S / 2)] with S = sum_j E_j / j**2
# (E_j independent standard exponentials), and integrating, tanh(x) = E_S[erf(x / sqrt S)].
# S has the CDF theta(s) = sum_{j in Z} (-1)**j exp(-j**2 s) (Jacobi's theta, whose dual
# form converges fast for small s) and density theta'(s). Both Gaussian expectations a
# tanh layer needs then have closed forms for each pair of scales (S, S'):
#   E[erf(u / sqrt S) erf(v / sqrt S')] = 2/pi asin(2 q12 / sqrt((S + 2 q11)(S' + 2 q22)))
#   E[N(u; 0, S/2) N(v; 0, S'/2)]      = 1 / (2 pi sqrt((q11 + S/2)(q22 + S'/2) - q12**2))
# for (u, v) ~ N(0, [[q11, q12], [q12, q22]]); the remaining expectation over (S, S') has
# a smooth integrand for every q, so a 48-node Gauss-Legendre rule in log S (over
# [0.02, 50], outside which S has mass below 1e-20) is exact to round-off: it reproduces
# tanh itself to 5e-15 on [-10, 10] (tests/test_kernels.py), whatever the input norm.

def _mixture_density(s: np.ndarray) -> np.ndarray:
    """Density of ``S = sum_j E_j / j**2`` (float64), series chosen per range."""
    out = np.empty_like(s)
    big = s >= 1.0
    j = np.arange(1, 12, dtype=np.float64)[:, None]
    out[big] = (2.0 * (-1.0) ** (j + 1) * j**2 * np.exp(-j**2 * s[big])).sum(0)
    c = np.pi**2 * (np.arange(0, 6, dtype=np.float64)[:, None] + 0.5) ** 2
    t = s[~big]
    out[~big] = (2.0 * np.sqrt(np.pi) * np.exp(-c / t) * (c * t**-2.5 - 0.5 * t**-1.5)).sum(0)
    return out


def _mixture_rule(nodes: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``S_i`` and weights ``w_i`` with ``E[g(S)] ~ sum_i w_i g(S_i)``."""
    z, w = np.polynomial.legendre.leggauss(nodes)
    lo, hi = math.log(0.02), math.log(50.0)
    s = np.exp((hi - lo) / 2 * z + (hi + lo) / 2)
    return s, w * (hi - lo) / 2 * s * _mixture_density(s)


_TANH_RULE = _mixture_rule()


def _tanh_moments(q11, q22, q12, block: int = 256):
    """``E[tanh u tanh v]`` and ``E[tanh' u tanh' v]``, elementwise over broadcast
    ``q11 (n1, 1)``, ``q22 (1, n2)``, ``q12 (n1, n2)`` (float64), rows in blocks."""
    s, w = _TANH_RULE
    si, sj = s[:, None, None, None], s[None, :, None, None]  # (m, 1, ., .), (1, m, ., .)
    ww = (w[:, None] * w[None, :])[:, :, None, None]
    nngp, dot = np.empty(q12.shape), np.empty(q12.shape)
    for r in range(0, q12.shape[0], block):
        a, c = q11[r:r + block][None, None], q12[r:r + block][None, None]
        b = q22[None, None]
        arg = 2.0 * c / np.sqrt((si + 2.0 * a) * (sj + 2.0 * b))
        nngp[r:r + block] = (2 / np.pi) * np.sum(ww * np.arcsin(np.clip(arg, -1.0, 1.0)), (0, 1))
        det = (a + si / 2) * (b + sj / 2) - c**2
        dot[r:r + block] = (2 / np.pi) * np.sum(ww / np.sqrt(det), (0, 1))
    return nngp, dot


def _tanh_kernels(model: MLP, x1: np.ndarray, x2: np.ndarray | None, out_scales):
    """Infinite-width ``(nngp, ntk)`` of a tanh MLP in the NTK parametrization (the
    recursion of neural-tangents' ``stax.Dense(parameterization='ntk')``), one NNGP
    per output scale in ``out_scales`` and the NTK for scale 1; float64 arrays."""
    x2_ = x1 if x2 is None else x2
    sw2, sb2 = model.sigma_w**2, (model.sigma_b**2 if model.bias else 0.0)
    d = x1.shape[1]
    q12 = sw2 * (x1 @ x2_.T) / d + sb2
    q11 = sw2 * np.sum(x1 * x1, 1) / d + sb2
    q22 = sw2 * np.sum(x2_ * x2_, 1) / d + sb2
    ntk = q12.copy()
    for layer in range(model.depth):
        nngp, dot = _tanh_moments(q11[:, None], q22[None, :], q12)
        if x2 is None:  # the same inputs: symmetric to round-off by construction
            nngp, dot = (nngp + nngp.T) / 2, (dot + dot.T) / 2
        if layer == model.depth - 1:
            break
        d11 = _tanh_moments(q11[:, None], q11[:, None], q11[:, None])[0][:, 0]
        d22 = d11 if x2 is None else _tanh_moments(q22[:, None], q22[:, None], q22[:, None])[0][:, 0]
        q12, q11, q22 = sw2 * nngp + sb2, sw2 * d11 + sb2, sw2 * d22 + sb2
        ntk = sw2 * dot * ntk + q12
    w_out2, b_out2 = sw2 * model.alpha**2, sb2 * model.alpha**2
    nngps = [w_out2 * sc**2 * nngp + b_out2 for sc in out_scales]
    return nngps, w_out2 * dot * ntk + (w_out2 * nngp + b_out2)


def infinite_kernel_fn(model: MLP) -> Callable:
    """Infinite-width NNGP and NTK of the net that ``model`` describes.

    Built with neural-tangents ``stax`` from the same fields as the finite net
    (activation, depth, ``sigma_w``, ``sigma_b``, bias, ``alpha``). Returns
    ``kernel_fn(x1, x2=None) -> Kernels(nngp, ntk)``, each ``(n1, n2)`` (the
    full eNTK converges to ``ntk (x) I_k``).

    * ``'ntk'``: the classic limit (Jacot et al.).
    * ``'mup'``: the NTK at init equals the NTK-parametrization one (the
      output layer's ``1/sqrt(rho)`` shrink is undone by its larger learning
      rate); the NNGP is the output covariance at the model's width, whose
      weight part shrinks like ``base_width / width`` and vanishes in the limit.
    * ``'standard'``: raises; its tangent kernel has no limit (it grows
      linearly with width). Its NNGP equals the ``'ntk'`` one.

    Activations: ``relu`` and ``erf`` in closed form (neural-tangents); ``tanh``
    through an exact scale-mixture identity (see ``_tanh_kernels``), accurate to
    round-off for any input norm and symmetric when ``x2`` is ``None``.

    Raises:
      TypeError: ``model`` is not an MLP.
      ValueError: ``'standard'`` or a custom parametrization; inputs that are not
        ``(n, in_dim)`` or hold NaN/inf.
    """
    V.check_model("model", model, MLP)
    name = model.parametrization.name
    if name == "standard":
        raise ValueError(
            "parametrization 'standard' has no infinite-width NTK: its tangent kernel "
            "grows linearly with width. Use 'ntk' (same NNGP, same forward pass) or "
            "'mup', or the empirical NTK at a finite width (mlp_ntk).")
    if name not in ("ntk", "mup"):
        raise ValueError(f"no infinite-width kernels for custom parametrization {name!r}")
    prior_scale = 1.0 / math.sqrt(model.rho) if name == "mup" else 1.0
    if model.activation == "tanh":
        return _tanh_kernel_fn(model, prior_scale)
    tangent = _stax_net(model, 1.0)
    prior = _stax_net(model, prior_scale) if name == "mup" else tangent

    def kernel_fn(x1, x2=None) -> Kernels:
        x1, x2 = _check_pair(x1, x2, dim=model.in_dim)
        if x1.ndim != 2:
            raise ValueError(f"x1 must be (n, {model.in_dim}), got shape {tuple(x1.shape)}")
        check_kernel_memory(x1.shape[0], x2.shape[0], 2)
        return Kernels(prior(x1, x2, "nngp"), tangent(x1, x2, "ntk"))

    return kernel_fn


def _tanh_kernel_fn(model: MLP, prior_scale: float) -> Callable:
    def kernel_fn(x1, x2=None) -> Kernels:
        a = V.as_float_array("x1", x1, ndim=2, dim=model.in_dim)
        b = None if x2 is None else V.as_float_array("x2", x2, ndim=2, dim=model.in_dim)
        n2 = a.shape[0] if b is None else b.shape[0]
        # float64 temporaries: a (rows, n2) block per quadrature node pair, plus the kernels
        check_kernel_memory(a.shape[0], n2, 2, extra_bytes=2 * 48**2 * min(256, a.shape[0]) * n2 * 8,
                            extra_what="tanh quadrature blocks")
        nngps, ntk = _tanh_kernels(model, np.asarray(a, np.float64),
                                   None if b is None else np.asarray(b, np.float64),
                                   (prior_scale,))
        return Kernels(jnp.asarray(nngps[0], a.dtype), jnp.asarray(ntk, a.dtype))

    return kernel_fn


# ---------------------------------------------------------------------------
# kernel regression


NotPositiveDefiniteError = V.NotPositiveDefiniteError  # raised by V.check_kernel_matrix


RCOND_CHOLESKY = 1e-10
"""Cholesky answers are kept only when LAPACK's reciprocal condition estimate of the
factorised kernel exceeds this (relative error of the solve below about 1e-6 in
float64); otherwise :func:`kernel_regression` takes the eigendecomposition route."""


def _cholesky_solve(A, y):
    """``A^-1 y`` by Cholesky when ``A`` is well conditioned, else ``None``."""
    try:
        chol = scipy.linalg.cho_factor(A, lower=True)
    except np.linalg.LinAlgError:
        return None
    rcond, info = scipy.linalg.lapack.dpocon(chol[0], float(np.linalg.norm(A, 1)), uplo="L")
    if info != 0 or not rcond > RCOND_CHOLESKY:
        return None
    return scipy.linalg.cho_solve(chol, y)


def kernel_regression(k_train: np.ndarray, y_train: np.ndarray, k_test_train: np.ndarray, *,
                      ridge: float = 0.0) -> np.ndarray:
    """Kernel (ridge) regression ``K(test, train) (K(train, train) + ridge I)^+ y``.

    Solved in float64. A well-conditioned kernel (LAPACK's reciprocal condition
    estimate above :data:`RCOND_CHOLESKY`) is solved by Cholesky. Otherwise the
    symmetrised kernel is diagonalised and eigenvalues at or below
    ``n * eps * lam_max`` (``eps`` of the dtype the kernel came in, like NumPy's
    ``pinv``) are treated as zero modes: the answer is then the minimum-norm
    interpolant (the pseudo-inverse), exact for a singular kernel whose targets lie
    in its range. Never a jittered approximation.

    Args:
      k_train: ``(n, n)`` symmetric positive semi-definite kernel on the training inputs.
      y_train: ``(n,)`` or ``(n, m)`` targets.
      k_test_train: ``(t, n)`` kernel between test and training inputs.
      ridge: non-negative ridge ``lambda``.

    Returns:
      predictions ``(t,)`` or ``(t, m)``, float64.

    Raises:
      TypeError: a non-numeric argument.
      ValueError: mismatched shapes, NaN/inf values, a negative ridge, an all-zero
        or non-symmetric ``k_train`` (tolerance: see
        :func:`~ntk_explore.core.validation.check_kernel_matrix`).
      NotPositiveDefiniteError: ``k_train + ridge I`` has an eigenvalue below
        ``-tol * lam_max`` (the message gives it).
    """
    dtype = np.result_type(getattr(k_train, "dtype", np.float64), np.float32)
    K = V.as_float_array("k_train", k_train, ndim=2, numpy=True)
    n = K.shape[0]
    if K.shape != (n, n):
        raise ValueError(f"k_train must be square (n, n), got {K.shape}")
    y = V.as_float_array("y_train", y_train, numpy=True)
    if y.shape[:1] != (n,) or y.ndim > 2:
        raise ValueError(f"y_train must be ({n},) or ({n}, m), got {y.shape}")
    Ks = V.as_float_array("k_test_train", k_test_train, ndim=2, min_rows=0, numpy=True)
    if Ks.shape[1] != n:
        raise ValueError(f"k_test_train must be (t, {n}), got {Ks.shape}")
    ridge = V.check_nonnegative_float("ridge", ridge)
    scale = float(np.max(np.abs(K)))
    asym = float(np.max(np.abs(K - K.T))) / scale if scale > 0 else 0.0
    A = (K + K.T) / 2 + ridge * np.eye(n)  # symmetric within round-off of its dtype, or refused
    if scale > 0 and asym <= max(1e-6, 1000 * V.round_off(dtype, 1)):
        alpha = _cholesky_solve(A, y)
        if alpha is not None:
            return Ks @ alpha
    lam, U = V.check_kernel_matrix("k_train + ridge I" if ridge else "k_train",
                                   K + ridge * np.eye(n), dtype=dtype)
    inv = np.divide(1.0, lam, out=np.zeros_like(lam), where=lam > 0)
    return Ks @ (U @ (inv[:, None] * (U.T @ y.reshape(n, -1)))).reshape(y.shape)
