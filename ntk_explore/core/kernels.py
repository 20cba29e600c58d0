"""Empirical tangent kernels (the infinite-width ones and kernel regression live in
:mod:`.infinite` and :mod:`.kernel_regression`, re-exported here).

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

from . import validation as V
from .infinite import Kernels, infinite_kernel_fn
from .kernel_checks import check_kernel_memory, check_mlp_inputs, check_pair, tree_bytes
from .kernel_regression import NotPositiveDefiniteError, kernel_regression, regress
from .metrics import linear_cka, relative_frobenius, relative_norm
from .models import ACTIVATIONS, MLP, InputsArg, ModelArg, ParamsArg, TrainedParamsArg

__all__ = [
    "ChangeStats", "measure_change",
    "empirical_ntk", "mlp_ntk", "mlp_pntk", "pntk", "ntk_trace", "flatten_blocks",
    "infinite_kernel_fn", "Kernels", "kernel_regression", "NotPositiveDefiniteError",
    "check_kernel_memory", "relative_frobenius", "backprop_signals", "structured_ntk",
    "KernelFactors", "kernel_factors", "regress", "pntk_projection",
]

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
        x1, x2 = check_pair(x1, x2)
        k = _output_dim(apply, params, x1)
        s1 = x1.shape[0] if batch_size is None else min(batch_size, x1.shape[0])
        s2 = x2.shape[0] if batch_size is None else min(batch_size, x2.shape[0])
        P, item = tree_bytes(params)
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
        x1, x2 = check_mlp_inputs(model, x1, x2, params)
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
        x1, x2 = check_mlp_inputs(model, x1, x2, params)
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


# ---------------------------------------------------------------------------
# how far one net moved: features, weights, the eNTK and its factors


class ChangeStats(NamedTuple):
    """How far one net moved from ``theta_0`` to ``theta_T`` (``L`` hidden layers).

    ``feature`` ``(L,)``, ``weight`` ``(L+1,)``, ``kernel`` scalar, ``cka``
    ``(L,)``, ``feature_gram`` / ``backprop_gram`` ``(L+1,)`` relative changes
    of the two eNTK factors, ``loss`` the final training loss.
    """

    feature: np.ndarray
    weight: np.ndarray
    kernel: float
    cka: np.ndarray
    feature_gram: np.ndarray
    backprop_gram: np.ndarray
    loss: float


@jax.jit
def change_arrays(model: MLP, params0, params1, x):
    """Relative changes (as :class:`ChangeStats` fields, in JAX) and the post-activations
    at both ends; one compile per architecture (``model`` traced)."""
    h0, x0, _ = model.features(params0, x)
    h1, x1, _ = model.features(params1, x)
    f0, f1 = kernel_factors(model, params0, x), kernel_factors(model, params1, x)
    rel = lambda new, old: jnp.stack([relative_norm(b, a) for a, b in zip(old, new)])  # noqa: E731
    return dict(feature=rel(h1, h0), weight=rel([p["w"] for p in params1], [p["w"] for p in params0]),
                kernel=relative_norm(f1.ntk(), f0.ntk()),
                feature_gram=rel(f1.feature, f0.feature),
                backprop_gram=rel(f1.backprop, f0.backprop)), x0[1:], x1[1:]


@V.checked
def measure_change(model: ModelArg, params0: ParamsArg, params1: TrainedParamsArg, x: InputsArg,
                   loss=float("nan")) -> ChangeStats:
    """Relative changes between ``params0`` and ``params1`` on inputs ``x`` ``(n, d)``
    (each ``||new - old|| / ||old||``; CKA of the post-activations, in float64).
    ``loss`` is the run's final training loss, kept as given (NaN for a diverged run, whose
    CKA is NaN too)."""
    model.check_input(x)
    arrays, a0, a1 = jax.device_get(change_arrays(model, params0, params1, x))
    return ChangeStats(
        feature=np.asarray(arrays["feature"]), weight=np.asarray(arrays["weight"]),
        kernel=float(arrays["kernel"]),
        cka=np.array([linear_cka(a, b) if np.all(np.isfinite(b)) else np.nan  # NaN: diverged
                      for a, b in zip(a0, a1)]),
        feature_gram=np.asarray(arrays["feature_gram"]),
        backprop_gram=np.asarray(arrays["backprop_gram"]), loss=float(loss))
