"""MLPs in Yang and Hu's abc-parametrization.

A hidden width ``n`` is compared with a base width ``n0`` through the ratio
``rho = n / n0``. Layer ``l`` (input ``l = 1``, hidden ``2..L``, output
``L + 1``) with fan-in ``f_l`` stores trainable weights ``w_l`` and uses the
effective weights::

    W_l = sigma_w / sqrt(f0_l) * rho**(-a_l) * w_l,   w_l ~ N(0, rho**(-2 b_l))
    learning rate of w_l = lr * rho**(-c_l)

where ``f0_l`` is the base fan-in (``d`` for the input layer, ``n0`` after it).
Hidden biases use the input layer's ``(a, b, c)`` with constant ``sigma_b``;
the output bias always uses ``(0, 0, 0)``. The network is::

    x_0 = x;  h_l = x_{l-1} @ W_l.T + B_l;  x_l = phi(h_l)   (l = 1..L)
    f(x) = alpha * (x_L @ W_{L+1}.T + B_{L+1})                shape (n, k)

Built-in parametrizations (exponents for input, hidden, output weights):

==========  ==================  ==================  =========
name        a                   b                   c
==========  ==================  ==================  =========
standard    (0, 0, 0)           (0, 1/2, 1/2)       (0, 0, 0)
ntk         (0, 1/2, 1/2)       (0, 0, 0)           (0, 0, 0)
mup         (-1/2, 0, 1/2)      (1/2, 1/2, 1/2)     (0, 0, 0)
==========  ==================  ==================  =========

All three share the forward distribution of ``W_l`` at ``n = n0`` and coincide
there exactly. ``standard`` and ``ntk`` have the same forward distribution at
every width (variance ``sigma_w**2 / fan_in``) and differ in how gradients
scale; ``mup`` shrinks the output layer (variance ``sigma_w**2 n0 / n**2``), so
its output at init vanishes as ``n`` grows while features keep moving by
``Theta(1)``. Because ``c = 0`` everywhere, plain gradient descent on the
stored ``w`` already applies the right per-layer rates; a custom
:class:`Parametrization` with ``c != 0`` gets them from :func:`lr_scales`.

Under ``jit`` an :class:`MLP` is a pytree: what changes a shape (sizes, depth,
activation, bias flag, base width) is static, every scalar (``sigma_w``,
``sigma_b``, ``alpha``, the abc exponents, explicit per-layer scalars) is traced
data. Passed as an ordinary argument of a jitted function, a model compiles once
per architecture: moving alpha, the parametrization or a learning rate compiles
nothing new.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import validation as V

__all__ = [
    "ACTIVATIONS", "PARAMETRIZATIONS", "Parametrization", "MLP", "Layer",
    "mlp", "params_from_normals", "init_from_draw", "apply_jit",
    "ModelArg", "ParamsArg", "TrainedParamsArg", "InputsArg",
]

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "erf": jax.scipy.special.erf,
    "tanh": jnp.tanh,
}


class Parametrization(NamedTuple):
    """abc exponents for (input, hidden, output) weights; see the module doc."""

    name: str
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    c: tuple[float, float, float] = (0.0, 0.0, 0.0)


PARAMETRIZATIONS = {
    "standard": Parametrization("standard", (0.0, 0.0, 0.0), (0.0, 0.5, 0.5)),
    "ntk": Parametrization("ntk", (0.0, 0.5, 0.5), (0.0, 0.0, 0.0)),
    "mup": Parametrization("mup", (-0.5, 0.0, 0.5), (0.5, 0.5, 0.5)),
}


class Layer(NamedTuple):
    """Scalars of one dense layer: ``W = w_mult * w`` with ``w ~ N(0, w_std**2)``."""

    fan_in: int
    fan_out: int
    w_mult: float
    w_std: float
    w_lr: float
    b_mult: float
    b_std: float
    b_lr: float


@dataclasses.dataclass(frozen=True)
class MLP:
    """Description of a fully connected network; see :func:`mlp`.

    One description serves the finite net (:meth:`init`, :meth:`apply`, with
    the package-wide signature ``apply(params, x)``) and its infinite-width
    kernels (:func:`ntk_explore.core.kernels.infinite_kernel_fn`), so the two cannot
    drift apart. Frozen and hashable: it can be a static argument of ``jit``.
    """

    in_dim: int
    width: int
    depth: int
    out_dim: int = 1
    activation: str = "relu"
    parametrization: Parametrization = PARAMETRIZATIONS["ntk"]
    base_width: int = 64
    sigma_w: float = math.sqrt(2.0)
    sigma_b: float = 0.1
    bias: bool = True
    alpha: float = 1.0
    scalars: tuple | None = None

    @property
    def rho(self) -> float:
        return self.width / self.base_width

    def dims(self) -> list[int]:
        """Layer widths ``[d, n, ..., n, k]`` (``depth + 2`` entries)."""
        return [self.in_dim] + [self.width] * self.depth + [self.out_dim]

    def layers(self) -> tuple[Layer, ...]:
        """Per-layer multipliers, init stds and learning-rate scales.

        From the abc formulas of the module docstring or, for a model built with
        explicit ``scalars`` (one ``(w_mult, w_std, w_lr, b_mult, b_std, b_lr)`` per
        layer, e.g. :func:`ntk_explore.topics.ntk_table.matching_net`), from those.
        """
        dims = self.dims()
        if self.scalars is not None:
            return tuple(Layer(dims[l], dims[l + 1], *v) for l, v in enumerate(self.scalars))
        p, rho = self.parametrization, self.rho
        out = []
        for l in range(self.depth + 1):
            kind = 0 if l == 0 else (2 if l == self.depth else 1)
            base_fan_in = self.in_dim if l == 0 else self.base_width
            a, b, c = p.a[kind], p.b[kind], p.c[kind]
            # Biases: hidden ones scale like input weights, the output one is O(1).
            ba, bb, bc = (0.0, 0.0, 0.0) if kind == 2 else (p.a[0], p.b[0], p.c[0])
            out.append(Layer(
                fan_in=dims[l], fan_out=dims[l + 1],
                w_mult=self.sigma_w / math.sqrt(base_fan_in) * rho ** (-a),
                w_std=rho ** (-b), w_lr=rho ** (-c),
                b_mult=(self.sigma_b if self.bias else 0.0) * rho ** (-ba),
                b_std=rho ** (-bb), b_lr=rho ** (-bc),
            ))
        return tuple(out)

    @property
    def num_params(self) -> int:
        dims = self.dims()
        return sum(a * b + (b if self.bias else 0) for a, b in zip(dims[:-1], dims[1:]))

    # -- the finite network ------------------------------------------------
    def init(self, key: jax.Array, dtype=None) -> list[dict]:
        """Draw stored parameters ``[{'w': (fan_out, fan_in), 'b': (fan_out,)}, ...]``.

        Standard normals are scaled by each layer's ``w_std`` / ``b_std``; two
        models that differ only in parametrization, initialised with the same
        key, share the same underlying normal draws.
        """
        key = V.check_key("key", key)
        if dtype is None:
            dtype = jnp.zeros(()).dtype  # float64 when jax_enable_x64 is on
        dtype = jnp.dtype(dtype)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be a floating dtype such as jnp.float32, got {dtype}")
        # the flat draw and the per-layer copies cut from it
        V.check_memory(2 * self.num_params * dtype.itemsize,
                       f"the parameters of this MLP ({self.num_params} = {self.num_params:.3g} "
                       f"numbers, drawn then cut into layers)", "use a smaller width or depth")
        return _init_jit(self, key, dtype)

    def tree_flatten(self):
        p = self.parametrization
        leaves = (self.sigma_w, self.sigma_b, self.alpha, (p.a, p.b, p.c), self.scalars)
        shape = (self.in_dim, self.width, self.depth, self.out_dim, self.activation,
                 self.base_width, self.bias, _Label(p.name))
        return leaves, shape

    @classmethod
    def tree_unflatten(cls, shape, leaves):
        in_dim, width, depth, out_dim, activation, base_width, bias, name = shape
        sigma_w, sigma_b, alpha, (a, b, c), scalars = leaves
        return cls(in_dim, width, depth, out_dim, activation,
                   Parametrization(name.name, a, b, c), base_width, sigma_w, sigma_b, bias,
                   alpha, scalars)

    def _init(self, key, dtype):
        # One flat draw (one random-number kernel to compile), then cut into layers.
        return self.params_from_normals(jax.random.normal(key, (self.num_params,), dtype))

    def params_from_normals(self, z: jax.Array) -> list[dict]:
        """Parameters from a flat ``(num_params,)`` vector of standard normals ``z``:
        what :meth:`init` does after its one draw. Models of the same shape share
        ``z``, so their parameters differ only by each layer's ``w_std``/``b_std``."""
        return params_from_normals(self.layers(), self.bias, z)

    def check_input(self, x) -> None:
        """Raise ``ValueError`` unless ``x`` has shape ``(n, in_dim)``."""
        if getattr(x, "ndim", None) != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (n, {self.in_dim}), got {tuple(jnp.shape(x))}")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"x must be a floating array (got dtype {x.dtype}); convert it "
                            f"with jnp.asarray(x, float)")

    def features(self, params, x: jax.Array) -> tuple[list, list, jax.Array]:
        """Forward pass that keeps every layer.

        Returns ``(hs, xs, f)``: pre-activations ``hs[l]`` ``(n, width)`` for
        ``l = 0..L-1``; layer inputs ``xs[l]`` (``xs[0] = x`` of shape
        ``(n, d)``, then post-activations ``(n, width)``); outputs ``f`` ``(n, k)``.
        """
        self.check_input(x)
        phi = ACTIVATIONS[self.activation]
        layers = self.layers()
        hs, xs = [], [x]
        for layer, p in zip(layers[:-1], params[:-1]):
            h = layer.w_mult * xs[-1] @ p["w"].T  # (n, width)
            if self.bias:
                h = h + layer.b_mult * p["b"][None, :]
            hs.append(h)
            xs.append(phi(h))
        last, p = layers[-1], params[-1]
        f = last.w_mult * xs[-1] @ p["w"].T  # (n, k)
        if self.bias:
            f = f + last.b_mult * p["b"][None, :]
        return hs, xs, self.alpha * f

    def apply(self, params, x: jax.Array) -> jax.Array:
        """Network outputs: ``x`` ``(n, d)`` -> ``f(x)`` ``(n, k)``.

        Integer inputs and lists are promoted to floats; params must match the model.
        """
        if not isinstance(x, jax.core.Tracer):
            x = V.as_float_array("x", x, ndim=2, dim=self.in_dim, finite=False)
        V.check_params_match(self, params, finite=False)
        return self.features(params, x)[2]

    def lr_scales(self) -> list[dict]:
        """Per-parameter learning-rate multipliers ``rho**(-c)``, same tree as params."""
        out = []
        for layer in self.layers():
            s = {"w": layer.w_lr}
            if self.bias:
                s["b"] = layer.b_lr
            out.append(s)
        return out


class _Label:
    """The parametrization's name in an MLP's pytree structure: kept for display, but
    equal to every other label, so that switching parametrization reuses a compiled
    function (only the exponents, which are traced, differ)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other) -> bool:
        return isinstance(other, _Label)

    def __hash__(self) -> int:
        return 0


jax.tree_util.register_pytree_node(MLP, MLP.tree_flatten, MLP.tree_unflatten)


def mlp(in_dim: int, width: int, depth: int, out_dim: int = 1, *,
        activation: str = "relu", parametrization: str | Parametrization = "ntk",
        base_width: int = 64, sigma_w: float = math.sqrt(2.0), sigma_b: float = 0.1,
        bias: bool = True, alpha: float = 1.0) -> MLP:
    """Describe an MLP with ``depth`` hidden layers of ``width`` units.

    Args:
      in_dim: input dimension ``d``.
      width: hidden width ``n`` (all hidden layers).
      depth: number of hidden layers ``L`` (``L = 1`` is a two-layer net).
      out_dim: number of outputs ``k``.
      activation: ``'relu'``, ``'erf'`` or ``'tanh'``.
      parametrization: ``'standard'``, ``'ntk'``, ``'mup'`` or a
        :class:`Parametrization`.
      base_width: ``n0``; all parametrizations coincide at ``width == base_width``.
      sigma_w, sigma_b: weight and bias scales (``sigma_w**2 / fan_in`` is the
        effective weight variance at base width).
      bias: whether layers have biases.
      alpha: output multiplier (Chizat, Oyallon and Bach's lazy-training scale):
        large ``alpha`` with learning rate ``~ 1 / alpha**2`` trains lazily.

    Raises:
      ValueError: a non-positive size, an unknown activation or parametrization,
        or a non-finite / non-positive scale; the message names the value.
    """
    in_dim, width, depth, out_dim, base_width = (
        V.check_positive_int(name, value) for name, value in (
            ("in_dim", in_dim), ("width", width), ("depth", depth), ("out_dim", out_dim),
            ("base_width", base_width)))
    V.check_choice("activation", activation, tuple(ACTIVATIONS))
    if isinstance(parametrization, str):
        parametrization = PARAMETRIZATIONS[V.check_choice(
            "parametrization", parametrization, tuple(PARAMETRIZATIONS))]
    elif not isinstance(parametrization, Parametrization):
        raise TypeError(f"parametrization must be a name {sorted(PARAMETRIZATIONS)} or a "
                        f"Parametrization, got {type(parametrization).__name__} "
                        f"{parametrization!r}")
    for field in ("a", "b", "c"):
        values = getattr(parametrization, field)
        if len(values) != 3:
            raise ValueError(f"parametrization.{field} must hold 3 exponents (input, hidden, "
                             f"output), got {values!r}")
        for i, v in enumerate(values):
            V.as_real(f"parametrization.{field}[{i}]", v)
    sigma_w = V.check_positive_float("sigma_w", sigma_w)
    alpha = V.check_positive_float("alpha", alpha)
    sigma_b = V.check_nonnegative_float("sigma_b", sigma_b)
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be True or False, got {type(bias).__name__} {bias!r}")
    return MLP(in_dim, width, depth, out_dim, activation, parametrization, base_width,
               float(sigma_w), float(sigma_b), bool(bias), float(alpha))




_init_jit = jax.jit(lambda model, key, dtype: model._init(key, dtype), static_argnums=2)

apply_jit = jax.jit(lambda model, params, x: model.apply(params, x))
apply_jit.__doc__ = """``model.apply(params, x)`` compiled once per architecture (``model`` traced)."""


@functools.partial(jax.jit, static_argnums=(1, 2))
def _normal_draw(key, size: int, dtype):
    return jax.random.normal(key, (size,), dtype)


def init_from_draw(model: MLP, key: jax.Array, *, draw_size: int | None = None,
                   dtype=None) -> list[dict]:
    """``model.init(key, dtype)`` cut from one shared standard-normal draw.

    ``MLP.init`` cuts one draw ``jax.random.normal(key, (num_params,))`` into layers.
    With JAX's partitionable threefry (the default) that draw is a prefix of any
    longer draw from the same key, so every model (any width, depth or
    parametrization) is initialised from one draw of at least ``draw_size`` values,
    rounded up to a power of two: a width slider compiles no new initialisation.
    The cut and the scaling are done in NumPy. Falls back to ``model.init`` when the
    prefix property is not guaranteed.
    """
    dtype = jnp.dtype(jnp.zeros(()).dtype if dtype is None else dtype)
    if not jax.config.jax_threefry_partitionable:
        return model.init(key, dtype)
    n = max(4096, model.num_params, int(draw_size or 0))
    z = np.asarray(_normal_draw(key, 1 << (n - 1).bit_length(), dtype))[:model.num_params]
    return jax.tree.map(jnp.asarray, params_from_normals(model.layers(), model.bias, z))


def params_from_normals(layers, bias: bool, z: jax.Array) -> list[dict]:
    """Cut a flat ``(num_params,)`` vector of standard normals ``z`` into per-layer
    ``{'w': (fan_out, fan_in), 'b': (fan_out,)}`` scaled by each :class:`Layer`'s
    ``w_std``/``b_std`` (layer by layer: weights, then bias if ``bias``)."""
    params, i = [], 0
    for layer in layers:
        size = layer.fan_out * layer.fan_in
        p = {"w": layer.w_std * z[i:i + size].reshape(layer.fan_out, layer.fan_in)}
        i += size
        if bias:
            p["b"] = layer.b_std * z[i:i + layer.fan_out]
            i += layer.fan_out
        params.append(p)
    return params


# Declared argument types for functions that take a model (see core.validation.declared):
ModelArg = Annotated[MLP, V.InstanceOf(MLP, "from ntk_explore.mlp(...)")]
"""An :class:`MLP`."""
ParamsArg = Annotated[object, V.MatchesModel("model")]
"""Parameters with the tree and shapes ``model.init`` makes, finite."""
TrainedParamsArg = Annotated[object, V.MatchesModel("model", finite=False)]
"""Trained parameters: the shapes of ``model.init``; a diverged run's NaN is the callee's to report."""
InputsArg = Annotated[jax.Array, V.Inputs(2, model="model")]
"""Inputs ``(n, model.in_dim)``, finite."""
