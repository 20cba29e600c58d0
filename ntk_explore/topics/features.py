"""Lazy vs feature learning: how much a trained MLP's insides move, as a function of width.

For a net trained by full-batch gradient descent on a fixed task, this module
measures, between the initial parameters ``theta_0`` and the trained ones
``theta_T`` (all on the training inputs ``X`` of shape ``(n, d)``):

* hidden-feature change per layer ``||h_T - h_0||_F / ||h_0||_F`` of the
  pre-activations ``h_l`` ``(n, width)``;
* weight change per layer ``||W_T - W_0||_F / ||W_0||_F`` of the effective
  weights ``W = w_mult * w`` (the multiplier cancels, so this is also the
  relative change of the stored ``w``);
* eNTK change ``||K_T - K_0||_F / ||K_0||_F`` of the ``(n, n, k, k)`` eNTK;
* linear CKA between initial and final post-activation features, per layer;
* the two factors of the eNTK identity (see :func:`kernel_factors`)::

      eNTK(x, x') = sum_l  G_l(x, x') * B_l(x, x')

  with ``G_l`` the Gram matrix of layer ``l``'s inputs (a constant column for
  the bias folded in) and ``B_l`` the Gram matrix of the backpropagated
  signals ``d f / d h_l``. Lazy training means neither factor moves.

Learning rates. ``lr`` is the rate at the base width; :func:`width_lr` turns it
into the rate used at width ``n``: unchanged for ``'ntk'`` and ``'mup'`` (their
stable rate does not depend on width), ``lr * base_width / n`` for
``'standard'`` (its tangent kernel grows like ``n``, so a fixed rate diverges),
and divided by ``alpha**2`` for an output scale ``alpha`` (Chizat, Oyallon and
Bach's lazy limit; the output is then centred, ``alpha * (f(theta) - f(theta_0))``,
so the initial function does not grow with ``alpha``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from ..core import validation as V
from ..core.kernels import _backprop_signals
from ..core.models import ACTIVATIONS, MLP, mlp
from ..core.training import DivergenceError, train
from .regimes import LogLogFit, fit_loglog

__all__ = [
    "DEFAULTS", "MUP_MIN_WIDTH", "FeatureTask", "feature_task", "width_lr", "linear_cka", "KernelFactors",
    "kernel_factors", "ChangeStats", "measure_change", "FeatureSweep", "feature_sweep",
    "feature_sweeps", "precompile_sweep", "CoordCheck", "coord_check",
]


# Notebook 03's defaults (also used by the tests and the width benchmark). Measured
# stable rate at the base width on this task: about 1.16 (2 n / lambda_max of
# the initial eNTK), so lr = 0.8 stays below the edge of stability at every
# width for 'ntk' and 'mup' (above about 2 the nets catapult and even
# NTK-parametrized features move by O(1)). The target scale 2.5 makes muP's
# features move by about 0.2 while the NTK-parametrized net stays lazy.
DEFAULTS = dict(n=64, d=10, scale=2.5, widths=(64, 128, 256, 512, 1024), depth=2,
                lr=0.8, steps=300, seeds=2)
MUP_MIN_WIDTH = 256  # fit muP slopes above its base width (64), where it equals 'ntk'

# ---------------------------------------------------------------------------
# task and learning rates


class FeatureTask(NamedTuple):
    """Training inputs ``x`` ``(n, d)`` and targets ``y`` ``(n, 1)``."""

    x: jax.Array
    y: jax.Array


@V.checked
def feature_task(key: jax.Array, n: int = 64, d: int = 10, scale: float = 1.0,
                 dtype=None) -> FeatureTask:
    """A single-index regression task ``y = scale * g(x . u)``, ``g`` of unit variance.

    ``x ~ N(0, I_d)`` ``(n, d)`` (coordinates of order one, as the models'
    input scaling expects), ``u`` a random unit direction and
    ``g(z) = (z + (z**2 - 1) / sqrt(2)) / sqrt(2)`` (a linear plus a quadratic
    Hermite part). Returns :class:`FeatureTask` with ``y`` ``(n, 1)``.
    """
    if not (isinstance(n, int) and n > 1 and isinstance(d, int) and d > 0):
        raise ValueError(f"n must be an integer > 1 and d a positive integer, got {n!r}, {d!r}")
    dtype = dtype or jnp.zeros(()).dtype
    kx, ku = jax.random.split(key)
    x = jax.random.normal(kx, (n, d), dtype)
    u = jax.random.normal(ku, (d,), dtype)
    z = x @ (u / jnp.linalg.norm(u))  # (n,)
    y = (z + (z**2 - 1.0) / jnp.sqrt(2.0)) / jnp.sqrt(2.0)
    return FeatureTask(x, scale * y[:, None])


@V.checked
def width_lr(lr: float, parametrization: str, width: int, base_width: int = 64,
             alpha: float = 1.0) -> float:
    """The rate used at ``width``: see the module docstring. ``lr`` is the base-width rate."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    scale = base_width / width if parametrization == "standard" else 1.0
    return float(lr * scale / alpha**2)


# ---------------------------------------------------------------------------
# similarity and kernel factors


def _centred_gram(a: jax.Array) -> jax.Array:
    a = a - a.mean(axis=0, keepdims=True)  # (n, p)
    return a @ a.T  # (n, n)


@V.checked
def linear_cka(a: jax.Array, b: jax.Array) -> float:
    """Linear CKA of two feature matrices over the same ``n`` inputs.

    ``a`` ``(n, p)``, ``b`` ``(n, q)``. With column-centred ``A``, ``B``:
    ``CKA = ||A^T B||_F^2 / (||A^T A||_F ||B^T B||_F)``, computed through the
    ``(n, n)`` Gram matrices (cheap for wide layers). 1 means the same features
    up to rotation and scale; 0 means unrelated.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must be (n, p) and (n, q), got {a.shape} and {b.shape}")
    ka, kb = _centred_gram(a), _centred_gram(b)
    return float(jnp.sum(ka * kb) / (jnp.linalg.norm(ka) * jnp.linalg.norm(kb)))


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


@V.checked
def kernel_factors(model: MLP, params, x: jax.Array) -> KernelFactors:
    """Feature and backprop Gram matrices of each layer; see :class:`KernelFactors`.

    ``x`` ``(n, d)``; returns ``feature`` ``(L+1, n, n)`` and ``backprop``
    ``(L+1, n, n, k, k)``.
    """
    model.check_input(x)
    return _kernel_factors_jit(model, params, x)


def _kernel_factors(model, params, x):
    proj = jnp.eye(model.out_dim, dtype=x.dtype)
    xs, deltas = _backprop_signals(model, params, x, proj)
    feats, backs = [], []
    for layer, a, g in zip(model.layers(), xs, deltas):
        gram = layer.w_lr * layer.w_mult**2 * (a @ a.T)  # (n, n)
        if model.bias:
            gram = gram + layer.b_lr * layer.b_mult**2
        feats.append(gram)
        backs.append(jnp.einsum("aci,bei->abce", g, g))  # (n, n, k, k)
    return KernelFactors(jnp.stack(feats), jnp.stack(backs))


_kernel_factors_jit = jax.jit(_kernel_factors, static_argnums=0)


# ---------------------------------------------------------------------------
# one trained net


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


def _rel(a, b) -> float:
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@V.checked
def measure_change(model: MLP, params0, params1, x: jax.Array, loss: float = float("nan")
                   ) -> ChangeStats:
    """Relative changes between ``params0`` and ``params1`` on inputs ``x`` ``(n, d)``."""
    h0, x0, _ = model.features(params0, x)
    h1, x1, _ = model.features(params1, x)
    f0, f1 = kernel_factors(model, params0, x), kernel_factors(model, params1, x)
    k0, k1 = f0.ntk(), f1.ntk()
    return ChangeStats(
        feature=np.array([_rel(b, a) for a, b in zip(h0, h1)]),
        weight=np.array([_rel(b["w"], a["w"]) for a, b in zip(params0, params1)]),
        kernel=_rel(k1, k0),
        cka=np.array([linear_cka(a, b) for a, b in zip(x0[1:], x1[1:])]),
        feature_gram=np.array([_rel(b, a) for a, b in zip(f0.feature, f1.feature)]),
        backprop_gram=np.array([_rel(b, a) for a, b in zip(f0.backprop, f1.backprop)]),
        loss=float(loss))


# ---------------------------------------------------------------------------
# width sweep


@dataclasses.dataclass(frozen=True)
class FeatureSweep:
    """Changes after training, per seed and width.

    Arrays: ``feature`` ``(S, W, L)``, ``weight`` ``(S, W, L+1)``, ``kernel``
    ``(S, W)``, ``cka`` ``(S, W, L)``, ``feature_gram`` / ``backprop_gram``
    ``(S, W, L+1)``, ``loss`` ``(S, W)``, for ``S`` seeds and widths ``(W,)``.
    """

    widths: np.ndarray
    parametrization: str
    alpha: float
    lr: float
    steps: int
    feature: np.ndarray
    weight: np.ndarray
    kernel: np.ndarray
    cka: np.ndarray
    feature_gram: np.ndarray
    backprop_gram: np.ndarray
    loss: np.ndarray

    def mean(self, quantity: str = "feature") -> np.ndarray:
        """Seed (and layer) mean of ``quantity`` (a field name), ``(W,)``."""
        values = getattr(self, quantity)
        return values.mean(axis=(0,) + tuple(range(2, values.ndim)))

    def fit(self, quantity: str = "feature", min_width: int = 0) -> LogLogFit:
        """Log-log fit against width of :meth:`mean` over widths ``>= min_width``.

        For ``'mup'`` use ``min_width > base_width``: at the base width every
        parametrization coincides with NTK parametrization.
        """
        keep = self.widths >= min_width
        return fit_loglog(self.widths[keep], self.mean(quantity)[keep])


def _one_run(model: MLP, task: FeatureTask, key, lr: float, steps: int, center: bool):
    params0 = model.init(key, dtype=task.x.dtype)
    y = task.y + model.apply(params0, task.x) if center else task.y  # centred output
    res = train(model.apply, params0, task.x, y, lr=lr, steps=steps, record_every=steps,
                progress=False, desc=f"width {model.width}")
    return measure_change(model, params0, res.params, task.x, res.loss[-1])


def _check_sweep_args(widths, seeds):
    widths = np.asarray(sorted(int(w) for w in widths))
    if widths.size < 3 or seeds < 1:
        raise ValueError(f"need at least 3 widths and 1 seed, got {widths.size} and {seeds}")
    return widths


def _feature_sweep_reference(task: FeatureTask, widths: Sequence[int], *, key: jax.Array,
                             parametrization: str = "ntk", depth: int = 2, lr: float = 1.0,
                             steps: int = 500, seeds: int = 4, alpha: float = 1.0,
                             base_width: int = 64, activation: str = "relu") -> FeatureSweep:
    """The plain route to :func:`feature_sweep`: :func:`~ntk_explore.core.training.train` and
    :func:`measure_change` per net (one compile per model). The tests check that the
    fused route equals it."""
    widths = _check_sweep_args(widths, seeds)
    runs = [[None] * widths.size for _ in range(seeds)]
    for j, width in enumerate(widths):
        model = mlp(task.x.shape[1], int(width), depth, task.y.shape[1], activation=activation,
                    parametrization=parametrization, base_width=base_width, alpha=alpha)
        rate = width_lr(lr, parametrization, int(width), base_width, alpha)
        for s in range(seeds):
            runs[s][j] = _one_run(model, task, jax.random.fold_in(key, s), rate, steps,
                                  alpha != 1.0)
    stack = {f: np.array([[getattr(r, f) for r in row] for row in runs])
             for f in ChangeStats._fields}
    return FeatureSweep(widths, parametrization, float(alpha), float(lr), int(steps), **stack)


# -- the fast route: one compiled training loop per (width, depth) -----------------------
#
# The per-layer scalars of an MLP (multipliers, init scales, alpha; in the order of
# models.Layer's fields) and the learning rate are traced arguments, so switching
# parametrization, alpha, lr or the number of steps reuses the compiled loop; one run
# is measured after several step counts (checkpoints). The measurements are a handful
# of matrix products per net, done in NumPy so that no measuring code has to be
# compiled for each new shape.

class _NetSpec(NamedTuple):
    in_dim: int
    out_dim: int
    width: int
    depth: int
    activation: str
    bias: bool


def _dims(spec: _NetSpec) -> list:
    return [spec.in_dim] + [spec.width] * spec.depth + [spec.out_dim]


@functools.partial(jax.jit, static_argnums=(1, 2))
def _draw(key, size: int, dtype):
    return jax.random.normal(key, (size,), dtype)


def _normals(key, n: int, dtype) -> np.ndarray:
    """``jax.random.normal(key, (n,), dtype)`` as a NumPy array. With the (default)
    partitionable threefry a draw's prefix does not depend on its length, so the draw
    is made at the next power of two and cut: one compile serves many sizes."""
    if not jax.config.jax_threefry_partitionable:
        return np.asarray(_draw(key, n, jnp.dtype(dtype)))
    return np.asarray(_draw(key, max(4096, 1 << (n - 1).bit_length()), jnp.dtype(dtype)))[:n]


def _init_params(spec: _NetSpec, scalars: np.ndarray, key, dtype) -> list:
    """``mlp(...).init(key, dtype)`` from the layer scalars: one flat standard-normal
    draw cut into layers in the same order, scaled by ``w_std`` / ``b_std``."""
    dims = _dims(spec)
    sizes = [(dims[l + 1], dims[l]) for l in range(spec.depth + 1)]
    z = _normals(key, sum(o * i + (o if spec.bias else 0) for o, i in sizes), dtype)
    std = scalars.astype(z.dtype)
    params, i = [], 0
    for l, (fan_out, fan_in) in enumerate(sizes):
        p = {"w": std[l, 1] * z[i:i + fan_out * fan_in].reshape(fan_out, fan_in)}
        i += fan_out * fan_in
        if spec.bias:
            p["b"] = std[l, 4] * z[i:i + fan_out]
            i += fan_out
        params.append(p)
    return params


def _traced_apply(spec: _NetSpec, scalars, alpha, params, x):
    """``MLP.apply`` with traced layer scalars and ``alpha``: ``x`` ``(n, d)`` -> ``(n, k)``."""
    phi = ACTIVATIONS[spec.activation]
    a = x
    for l, p in enumerate(params):
        h = scalars[l, 0] * a @ p["w"].T
        if spec.bias:
            h = h + scalars[l, 3] * p["b"][None, :]
        a = phi(h) if l < spec.depth else h
    return alpha * a


_SCALARS = ("w_mult", "w_std", "w_lr", "b_mult", "b_std", "b_lr")  # Layer's field order


def _layer_scalars(model: MLP) -> np.ndarray:
    """``(L+1, 6)`` per-layer scalars of ``model`` in :class:`~ntk_explore.core.models.Layer` order."""
    return np.array([[getattr(layer, f) for f in _SCALARS] for layer in model.layers()])


def _mse(f, y):
    return 0.5 * jnp.sum((f - y) ** 2) / f.shape[0]


@functools.partial(jax.jit, static_argnums=0)
def _gd_segment(spec: _NetSpec, scalars, alpha, rate, center, params0, params, x, y, count):
    """``count`` full-batch GD steps from ``params`` as :func:`~ntk_explore.core.training.train`
    takes them, on the MSE to ``y + center * f(params0)`` (``center = 1``: centred output).
    Returns ``(params after the steps, loss before, loss after)``."""
    apply = functools.partial(_traced_apply, spec, scalars, alpha)
    target = y + center * apply(params0, x)
    loss = lambda p: _mse(apply(p, x), target)  # noqa: E731

    def step(_, p):
        grads = jax.grad(loss)(p)
        return jax.tree.map(lambda a, g: a - rate * g, p, grads)

    out = jax.lax.fori_loop(0, count, step, params)
    return out, loss(params), loss(out)


def _net_args(task: FeatureTask, width: int, depth: int, parametrization: str, lr: float,
              alpha: float, base_width: int, activation: str):
    model = mlp(task.x.shape[1], int(width), depth, task.y.shape[1], activation=activation,
                parametrization=parametrization, base_width=base_width, alpha=alpha)
    spec = _NetSpec(model.in_dim, model.out_dim, model.width, depth, activation, model.bias)
    dtype = task.x.dtype
    rate = width_lr(lr, parametrization, int(width), base_width, alpha)
    traced = (jnp.asarray(_layer_scalars(model), dtype), jnp.asarray(alpha, dtype),
              jnp.asarray(rate, dtype), jnp.asarray(float(alpha != 1.0), dtype))
    return spec, _layer_scalars(model), traced


@V.checked
def precompile_sweep(task: FeatureTask, widths: Sequence[int], depth: int = 2,
                     activation: str = "relu", base_width: int = 64) -> None:
    """Compile :func:`feature_sweeps`' training loops for these widths and depth ahead of
    use (no training is done). Safe to run in a background thread."""
    for width in widths:
        spec, scalars, traced = _net_args(task, int(width), depth, "ntk", 1.0, 1.0, base_width,
                                          activation)
        p0 = _init_params(spec, scalars, jax.random.key(0), task.x.dtype)
        jax.block_until_ready(_gd_segment(spec, *traced, p0, p0, task.x, task.y,
                                          jnp.asarray(0, jnp.int32)))


_NP_ACT = {"relu": lambda h: np.maximum(h, 0), "tanh": np.tanh, "erf": scipy.special.erf}
_NP_DERIV = {"relu": lambda h: (h > 0).astype(h.dtype), "tanh": lambda h: 1 - np.tanh(h) ** 2,
             "erf": lambda h: 2 / np.sqrt(np.pi) * np.exp(-h * h)}


def _np_layers(spec: _NetSpec, scalars, alpha, params, x):
    """NumPy forward and backprop pass: pre-activations, layer inputs, feature and
    backprop Grams of one net (as ``MLP.features`` and :func:`kernel_factors`)."""
    phi, dphi = _NP_ACT[spec.activation], _NP_DERIV[spec.activation]
    sc = scalars.astype(x.dtype)
    hs, xs = [], [x]
    for l in range(spec.depth):
        h = (sc[l, 0] * xs[-1]) @ params[l]["w"].T
        if spec.bias:
            h = h + sc[l, 3] * params[l]["b"][None, :]
        hs.append(h)
        xs.append(phi(h).astype(x.dtype))
    k = spec.out_dim
    deltas = [np.broadcast_to(alpha * np.eye(k, dtype=x.dtype), (x.shape[0], k, k))]
    for l in range(spec.depth - 1, -1, -1):
        back = (sc[l + 1, 0] * deltas[0]) @ params[l + 1]["w"]  # (n, k, width)
        deltas.insert(0, back * dphi(hs[l])[:, None, :])
    feats, backs = [], []
    for l, (a, g) in enumerate(zip(xs, deltas)):
        gram = sc[l, 2] * sc[l, 0] ** 2 * (a @ a.T)
        if spec.bias:
            gram = gram + sc[l, 5] * sc[l, 3] ** 2
        feats.append(gram)
        backs.append(np.einsum("aci,bei->abce", g, g))
    return hs, xs, feats, backs


def _np_rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _np_cka(a, b) -> float:
    ka, kb = (_np_centred_gram(m) for m in (a, b))
    return float(np.sum(ka * kb) / (np.linalg.norm(ka) * np.linalg.norm(kb)))


def _np_centred_gram(a):
    a = a - a.mean(axis=0, keepdims=True)
    return a @ a.T


def _np_change(spec, scalars, alpha, params0, params1, x, loss, first=None) -> ChangeStats:
    """:func:`measure_change` in NumPy (``first``: ``_np_layers`` of ``params0`` if known)."""
    h0, x0, g0, b0 = first or _np_layers(spec, scalars, alpha, params0, x)
    h1, x1, g1, b1 = _np_layers(spec, scalars, alpha, params1, x)
    k0 = sum(g[:, :, None, None] * b for g, b in zip(g0, b0))
    k1 = sum(g[:, :, None, None] * b for g, b in zip(g1, b1))
    return ChangeStats(
        feature=np.array([_np_rel(b, a) for a, b in zip(h0, h1)]),
        weight=np.array([_np_rel(b["w"], a["w"]) for a, b in zip(params0, params1)]),
        kernel=_np_rel(k1, k0),
        cka=np.array([_np_cka(a, b) for a, b in zip(x0[1:], x1[1:])]),
        feature_gram=np.array([_np_rel(b, a) for a, b in zip(g0, g1)]),
        backprop_gram=np.array([_np_rel(b, a) for a, b in zip(b0, b1)]),
        loss=float(loss))


@V.checked
def feature_sweeps(task: FeatureTask, widths: Sequence[int], *, key: jax.Array,
                   steps: Sequence[int], parametrization: str = "ntk", depth: int = 2,
                   lr: float = 1.0, seeds: int = 4, alpha: float = 1.0, base_width: int = 64,
                   activation: str = "relu", divergence_factor: float = 1e4
                   ) -> dict[int, FeatureSweep]:
    """:func:`feature_sweep` at several step counts, measured along one training run.

    Each net trains to ``max(steps)`` and is measured after each count in
    ``steps``. One compiled training loop per ``(width, depth)``
    serves every parametrization, ``alpha``, ``lr``, seed and step count.

    Returns ``{steps: FeatureSweep}`` for the counts at which no run had
    diverged (loss not finite or above ``divergence_factor`` times the initial
    loss, as :func:`~ntk_explore.core.training.train` decides).
    """
    widths = _check_sweep_args(widths, seeds)
    points = sorted({int(s) for s in steps})
    if not points or points[0] < 0:
        raise ValueError(f"steps must be non-negative step counts, got {steps!r}")
    counts = np.diff([0] + points)
    x = np.asarray(task.x)
    runs = np.empty((seeds, widths.size, len(points)), dtype=object)
    first_loss = np.empty((seeds, widths.size))
    for j, width in enumerate(widths):
        spec, scalars, traced = _net_args(task, int(width), depth, parametrization, lr, alpha,
                                          base_width, activation)
        for s in range(seeds):
            p0 = _init_params(spec, scalars, jax.random.fold_in(key, s), x.dtype)
            first, p = _np_layers(spec, scalars, alpha, p0, x), p0
            for c, count in enumerate(counts):
                p, loss0, loss = _gd_segment(spec, *traced, p0, p, task.x, task.y,
                                             jnp.asarray(count, jnp.int32))
                p = jax.tree.map(np.asarray, p)
                if c == 0:
                    first_loss[s, j] = loss0
                with np.errstate(all="ignore"):  # NaN after a divergence
                    runs[s, j, c] = _np_change(spec, scalars, alpha, p0, p, x, loss, first)
    limit = divergence_factor * np.maximum(first_loss, 1e-8)  # (S, W)
    out = {}
    for c, n_steps in enumerate(points):
        fields = {f: np.array([[getattr(r, f) for r in row] for row in runs[:, :, c]])
                  for f in ChangeStats._fields}
        if np.all(np.isfinite(fields["loss"])) and np.all(fields["loss"] <= limit):
            out[n_steps] = FeatureSweep(widths, parametrization, float(alpha), float(lr),
                                        n_steps, **fields)
    return out


@V.checked
def feature_sweep(task: FeatureTask, widths: Sequence[int], *, key: jax.Array,
                  parametrization: str = "ntk", depth: int = 2, lr: float = 1.0,
                  steps: int = 500, seeds: int = 4, alpha: float = 1.0,
                  base_width: int = 64, activation: str = "relu",
                  progress: bool = False) -> FeatureSweep:
    """Train one net per (seed, width) by full-batch GD on ``task`` and measure changes.

    Args:
      task: :class:`FeatureTask` with ``x`` ``(n, d)``, ``y`` ``(n, 1)``.
      widths: hidden widths (at least 3 for the log-log fits).
      key: seed ``s`` initialises every width from ``fold_in(key, s)``.
      lr: base-width learning rate, mapped to each width by :func:`width_lr`.
      alpha: output scale; ``alpha != 1`` trains the centred output.
      progress: accepted for compatibility; the sweep runs as one compiled program.

    Returns: :class:`FeatureSweep` (computed by :func:`feature_sweeps`; equal, up to
    float rounding, to training each net with :func:`~ntk_explore.core.training.train`
    and measuring it with :func:`measure_change`).

    Raises:
      ValueError: fewer than 3 widths or 1 seed; DivergenceError: training blew up.
    """
    out = feature_sweeps(task, widths, key=key, steps=[steps], parametrization=parametrization,
                         depth=depth, lr=lr, seeds=seeds, alpha=alpha, base_width=base_width,
                         activation=activation)
    if steps not in out:
        raise DivergenceError(
            f"training diverged within {steps} steps (lr={lr:g}, {parametrization}, alpha "
            f"{alpha:g}): the loss is not finite or exploded; lower the learning rate")
    return out[steps]


# ---------------------------------------------------------------------------
# coordinate check


class CoordCheck(NamedTuple):
    """RMS coordinate size of ``h_l(t) - h_l(0)`` (hidden layers) and ``f(t) - f(0)``.

    ``size`` ``(T, W, L+1)`` for steps ``(T,)`` = 1..T and widths ``(W,)``,
    averaged over seeds; ``NaN`` where training had diverged.
    """

    widths: np.ndarray
    steps: np.ndarray
    parametrization: str
    size: np.ndarray


def _coord_sizes(model, params0, params_t, x):
    h0, _, f0 = model.features(params0, x)
    ht, _, ft = model.features(params_t, x)
    hidden = [float(jnp.sqrt(jnp.mean((b - a) ** 2))) for a, b in zip(h0, ht)]
    return hidden + [float(jnp.sqrt(jnp.mean((ft - f0) ** 2)))]


def _coord_check_reference(task: FeatureTask, widths: Sequence[int], *, key: jax.Array,
                           parametrization: str = "mup", depth: int = 2, lr: float = 1.0,
                           steps: int = 4, seeds: int = 2, base_width: int = 64) -> CoordCheck:
    """The plain route to :func:`coord_check` (:func:`~ntk_explore.core.training.train`)."""
    widths = np.asarray(sorted(int(w) for w in widths))
    size = np.full((seeds, steps, widths.size, depth + 1), np.nan)
    for j, width in enumerate(widths):
        model = mlp(task.x.shape[1], int(width), depth, task.y.shape[1],
                    parametrization=parametrization, base_width=base_width)
        for s in range(seeds):
            p0 = model.init(jax.random.fold_in(key, s), dtype=task.x.dtype)
            res = train(model.apply, p0, task.x, task.y, lr=lr, steps=steps, record_every=1,
                        keep_params=True, progress=False, raise_on_divergence=False)
            for t, p in zip(res.steps[1:], res.param_history[1:]):
                size[s, t - 1, j] = _coord_sizes(model, p0, p, task.x)
    return CoordCheck(widths, np.arange(1, steps + 1), parametrization, np.nanmean(size, axis=0))


def _np_coord_sizes(spec, scalars, params0, params_t, x) -> list:
    h0, x0, _, _ = _np_layers(spec, scalars, 1.0, params0, x)
    ht, xt, _, _ = _np_layers(spec, scalars, 1.0, params_t, x)
    out = []
    for xs, p in ((x0, params0), (xt, params_t)):
        f = (scalars[-1, 0].astype(x.dtype) * xs[-1]) @ p[-1]["w"].T
        out.append(f + scalars[-1, 3].astype(x.dtype) * p[-1]["b"][None, :] if spec.bias else f)
    rms = lambda a, b: float(np.sqrt(np.mean((b - a) ** 2)))  # noqa: E731
    return [rms(a, b) for a, b in zip(h0, ht)] + [rms(out[0], out[1])]


@V.checked
def coord_check(task: FeatureTask, widths: Sequence[int], *, key: jax.Array,
                parametrization: str = "mup", depth: int = 2, lr: float = 1.0,
                steps: int = 4, seeds: int = 2, base_width: int = 64,
                divergence_factor: float = 1e4) -> CoordCheck:
    """muP-style coordinate check: the same ``lr`` at every width, first ``steps`` GD steps.

    Under muP every curve is flat in width; under NTK parametrization hidden
    updates shrink like ``1/sqrt(n)``; under standard parametrization the
    output update grows with ``n`` (and eventually diverges).
    Returns :class:`CoordCheck` with ``size`` ``(steps, W, depth + 1)``. Runs on the
    compiled loops of :func:`feature_sweeps`; steps from the first diverged one on
    (as :func:`~ntk_explore.core.training.train` decides) are left out.
    """
    widths = np.asarray(sorted(int(w) for w in widths))
    size = np.full((seeds, steps, widths.size, depth + 1), np.nan)
    x, one = np.asarray(task.x), jnp.asarray(1, jnp.int32)
    for j, width in enumerate(widths):
        spec, scalars, traced = _net_args(task, int(width), depth, parametrization, lr, 1.0,
                                          base_width, "relu")
        traced = traced[:2] + (jnp.asarray(lr, task.x.dtype),) + traced[3:]  # same lr everywhere
        for s in range(seeds):
            p0 = _init_params(spec, scalars, jax.random.fold_in(key, s), x.dtype)
            p = p0
            for t in range(steps):
                p, loss0, loss = _gd_segment(spec, *traced, p0, p, task.x, task.y, one)
                if t == 0:
                    limit = divergence_factor * max(float(loss0), 1e-8)
                if not (math.isfinite(float(loss)) and float(loss) <= limit):
                    break
                p = jax.tree.map(np.asarray, p)
                size[s, t, j] = _np_coord_sizes(spec, scalars, p0, p, x)
    return CoordCheck(widths, np.arange(1, steps + 1), parametrization, np.nanmean(size, axis=0))
