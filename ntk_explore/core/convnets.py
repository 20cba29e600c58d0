"""A small convolutional net in the NTK parametrization, and its infinite-width kernels.

The net (``channels = (C_1, ..., C_L)``, square ``kernel_size`` filters, stride 1,
``'SAME'`` padding) maps an image ``x`` stored flat as ``(n, H*W*C_0)`` to ``(n, k)``::

    z_0 = reshape(x, (n, H, W, C_0))
    z_l = relu(conv(z_{l-1}, sigma_w / sqrt(q*q*C_{l-1}) * w_l) + sigma_b * b_l)   l = 1..L
    r   = flatten(z_L)  (fan-in H*W*C_L)   or   mean over positions of z_L (fan-in C_L)
    f   = alpha * (r @ (sigma_w / sqrt(fan_in) * w_out).T + sigma_b * b_out)

with every stored ``w``, ``b`` drawn from ``N(0, 1)``: the NTK parametrization of
neural-tangents' ``stax.Conv``/``stax.Dense(parameterization='ntk')``, so
:func:`stax_layers` describes the same net and its infinite-width (channels -> oo)
NNGP and NTK (the CNTK of Arora et al. 2019). ``readout='flatten'`` keeps every
position; ``readout='gap'`` averages over positions (global average pooling), which
makes the kernel compare every pair of positions of two images, and costs about
``(H W)**2`` times more to compute (minutes for ``load_digits`` on 2 cores).

Like :class:`~ntk_explore.core.models.MLP`, a :class:`CNN` is a pytree whose shapes
(image size, channels, filter size, outputs, readout, bias flag) are static and whose
scalars (``sigma_w``, ``sigma_b``, ``alpha``) are traced: one compiled program per
architecture, any output scale. ``alpha = 1 / gamma`` is the output scale of the
centred net ``(h(theta) - h(theta0)) / gamma`` trained in :mod:`ntk_explore.topics.natural`.

The eNTK goes through the generic routes of :mod:`ntk_explore.core.kernels`
(``empirical_ntk(cnn.apply)``, ``pntk(cnn.apply, k)``) and the matrix-free one of
:mod:`ntk_explore.core.matfree` (``matfree_regression(cnn.apply, ...)``); the
infinite-width kernels through :func:`cntk`, in row blocks inside the memory guard.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import validation as V

__all__ = ["CNN", "cnn", "READOUTS", "stax_layers", "cntk", "BLOCK_ROWS", "cntk_block_bytes"]

READOUTS = ("flatten", "gap")


@dataclasses.dataclass(frozen=True)
class CNN:
    """A convolutional net; see the module doc and :func:`cnn`."""

    height: int
    width: int
    in_channels: int
    channels: tuple[int, ...]
    out_dim: int
    kernel_size: int = 3
    readout: str = "flatten"
    bias: bool = True
    sigma_w: float = math.sqrt(2.0)
    sigma_b: float = 0.1
    alpha: float = 1.0

    @property
    def in_dim(self) -> int:
        """Length ``H*W*C_0`` of a flattened input image."""
        return self.height * self.width * self.in_channels

    def shapes(self) -> list[dict]:
        """Stored parameter shapes: conv ``w (q, q, C_in, C_out)``, ``b (C_out,)``; readout
        ``w (k, fan_in)``, ``b (k,)``."""
        q, out = self.kernel_size, []
        fan = (self.in_channels,) + tuple(self.channels)
        for c_in, c_out in zip(fan[:-1], fan[1:]):
            out.append({"w": (q, q, c_in, c_out), "b": (c_out,)} if self.bias else
                       {"w": (q, q, c_in, c_out)})
        out.append({"w": (self.out_dim, self.readout_fan_in), "b": (self.out_dim,)}
                   if self.bias else {"w": (self.out_dim, self.readout_fan_in)})
        return out

    @property
    def readout_fan_in(self) -> int:
        c = self.channels[-1]
        return self.height * self.width * c if self.readout == "flatten" else c

    @property
    def num_params(self) -> int:
        return sum(math.prod(s) for layer in self.shapes() for s in layer.values())

    def init(self, key: jax.Array, dtype=None) -> list[dict]:
        """Stored parameters, every entry ``N(0, 1)``, cut from one flat draw (the layout of
        :meth:`shapes`, layer by layer: weights, then bias)."""
        key = V.check_key("key", key)
        dtype = jnp.dtype(jnp.zeros(()).dtype if dtype is None else dtype)
        V.check_memory(2 * self.num_params * dtype.itemsize,
                       f"the parameters of this CNN ({self.num_params} numbers)")
        z = _normal_draw(key, self.num_params, dtype)
        params, i = [], 0
        for layer in self.shapes():
            p = {}
            for name, shape in layer.items():
                size = math.prod(shape)
                p[name] = z[i:i + size].reshape(shape)
                i += size
            params.append(p)
        return params

    def features(self, params, x: jax.Array) -> jax.Array:
        """The readout's input ``r``: ``x (n, H*W*C_0)`` -> ``(n, readout_fan_in)``."""
        z = x.reshape((x.shape[0], self.height, self.width, self.in_channels))  # (n, H, W, C0)
        q = self.kernel_size
        for p in params[:-1]:
            c_in = p["w"].shape[2]
            w = self.sigma_w / math.sqrt(q * q * c_in) * p["w"]
            z = _conv_same(z, w)  # (n, H, W, C_l)
            if self.bias:
                z = z + self.sigma_b * p["b"][None, None, None, :]
            z = jax.nn.relu(z)  # (n, H, W, C_l)
        if self.readout == "gap":
            return jnp.mean(z, axis=(1, 2))  # (n, C_L)
        return z.reshape((z.shape[0], -1))  # (n, H*W*C_L), row-major like stax.Flatten

    def apply(self, params, x: jax.Array) -> jax.Array:
        """Outputs ``(n, k)`` for flattened images ``x (n, H*W*C_0)``."""
        if not isinstance(x, jax.core.Tracer):
            x = V.as_float_array("x", x, ndim=2, dim=self.in_dim, finite=False)
        r = self.features(params, x)
        last = params[-1]
        f = self.sigma_w / math.sqrt(self.readout_fan_in) * r @ last["w"].T  # (n, k)
        if self.bias:
            f = f + self.sigma_b * last["b"][None, :]
        return self.alpha * f

    def tree_flatten(self):
        leaves = (self.sigma_w, self.sigma_b, self.alpha)
        shape = (self.height, self.width, self.in_channels, self.channels, self.out_dim,
                 self.kernel_size, self.readout, self.bias)
        return leaves, shape

    @classmethod
    def tree_unflatten(cls, shape, leaves):
        h, w, c0, ch, k, q, readout, bias = shape
        return cls(h, w, c0, ch, k, q, readout, bias, *leaves)


jax.tree_util.register_pytree_node(CNN, CNN.tree_flatten, CNN.tree_unflatten)


def _conv_same(z: jax.Array, w: jax.Array) -> jax.Array:
    """Stride-1 ``'SAME'`` convolution of ``z (n, H, W, C_in)`` with ``w (q, q, C_in, C_out)``
    as one matrix product over the ``q*q`` shifted copies of the zero-padded image.

    The same numbers as ``lax.conv_general_dilated(z, w, (1, 1), 'SAME')``; on XLA's CPU
    backend a convolution inside a compiled loop body (the GD loop) ran about 30 times
    slower than this product (5.1 s against 0.06 s per step for 1200 digits, 2 cores).
    """
    q = w.shape[0]
    r = q // 2
    _, h, wd, c = z.shape
    zp = jnp.pad(z, ((0, 0), (r, r), (r, r), (0, 0)))
    cols = [zp[:, i:i + h, j:j + wd, :] for i in range(q) for j in range(q)]
    return jnp.concatenate(cols, axis=-1) @ w.reshape(q * q * c, -1)  # (n, H, W, C_out)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _normal_draw(key, size: int, dtype):
    return jax.random.normal(key, (size,), dtype)


def cnn(height: int = 8, width: int = 8, in_channels: int = 1, *, channels=(16, 16),
        out_dim: int = 10, kernel_size: int = 3, readout: str = "flatten", bias: bool = True,
        sigma_w: float = math.sqrt(2.0), sigma_b: float = 0.1, alpha: float = 1.0) -> CNN:
    """Describe a CNN (see the module doc); ``alpha`` is the output multiplier ``1 / gamma``.

    Raises:
      ValueError: a non-positive size, an even ``kernel_size``, an unknown readout or a
        non-finite / non-positive scale (the message names it).
    """
    sizes = [V.check_positive_int(name, v) for name, v in (
        ("height", height), ("width", width), ("in_channels", in_channels),
        ("out_dim", out_dim), ("kernel_size", kernel_size))]
    if sizes[4] % 2 == 0:
        raise ValueError(f"kernel_size must be odd ('SAME' padding), got {kernel_size}")
    chans = tuple(V.check_int_list("channels", channels, min_len=1, distinct=False))
    V.check_choice("readout", readout, READOUTS)
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be True or False, got {type(bias).__name__} {bias!r}")
    return CNN(*sizes[:3], chans, sizes[3], sizes[4], readout, bool(bias),
               V.check_positive_float("sigma_w", sigma_w),
               V.check_nonnegative_float("sigma_b", sigma_b),
               V.check_positive_float("alpha", alpha))


def stax_layers(net: CNN):
    """neural-tangents ``stax`` layers of the same net (NHWC images), through the compat
    module: ``(init_fn, apply_fn, kernel_fn)`` of ``stax.serial(...)``."""
    from . import _nt_compat

    stax = _nt_compat.load().stax
    b_std = net.sigma_b if net.bias else None
    q = net.kernel_size
    layers = []
    for c in net.channels:
        layers += [stax.Conv(c, (q, q), padding="SAME", W_std=net.sigma_w, b_std=b_std,
                             parameterization="ntk"), stax.Relu()]
    layers.append(stax.Flatten() if net.readout == "flatten" else stax.GlobalAvgPool())
    out_b = None if b_std is None else b_std * net.alpha
    layers.append(stax.Dense(net.out_dim, W_std=net.sigma_w * net.alpha, b_std=out_b,
                             parameterization="ntk"))
    return stax.serial(*layers)


BLOCK_ROWS = {"flatten": 256, "gap": 16}
"""Rows per block of :func:`cntk` (columns: all of ``x2`` up to 512 at a time)."""


def cntk_block_bytes(net: CNN, rows: int, cols: int, itemsize: int = 4) -> int:
    """Working memory of one ``(rows, cols)`` block of the infinite-width kernels: about
    eight arrays of the layer covariances (``(rows, cols, H, W)`` for ``'flatten'``,
    ``(rows, cols, H, W, H, W)`` for ``'gap'``)."""
    spatial = net.height * net.width
    per_pair = spatial if net.readout == "flatten" else spatial**2
    return 8 * rows * cols * per_pair * itemsize


def _kernel_jit(net: CNN, what: str):
    """One compiled ``(rows, cols)`` block of ``net``'s kernel ``what`` (compiled on first use)."""
    kernel_fn = stax_layers(net)[2]
    shape = (net.height, net.width, net.in_channels)

    def block(a, b):
        a = a.reshape((a.shape[0],) + shape)
        b = b.reshape((b.shape[0],) + shape)
        return kernel_fn(a, b, what)

    return jax.jit(block)


def cntk(net: CNN, x1, x2=None, *, what: str = "ntk", block_rows: int | None = None,
         block_cols: int = 512, progress: bool = False) -> np.ndarray:
    """The infinite-width kernel ``what`` (``'ntk'`` or ``'nngp'``) of ``net``'s architecture
    between flattened images ``x1 (n1, H*W*C_0)`` and ``x2 (n2, H*W*C_0)`` (``None``: ``x1``):
    a float64 ``(n1, n2)`` array, computed by neural-tangents' ``stax`` in blocks of
    ``block_rows x block_cols`` (padded, so every block has one compiled shape).

    Raises:
      MemoryError: the result or one block's working memory would not fit (the message
        names the shape).
    """
    from .kernels import check_kernel_memory

    V.check_choice("what", what, ("ntk", "nngp"))
    x1 = V.as_float_array("x1", x1, ndim=2, dim=net.in_dim)
    x2 = x1 if x2 is None else V.as_float_array("x2", x2, ndim=2, dim=net.in_dim)
    n1, n2 = x1.shape[0], x2.shape[0]
    b1 = min(block_rows or BLOCK_ROWS[net.readout], n1)
    b2 = min(block_cols, n2)
    check_kernel_memory(n1, n2, 1, extra_bytes=cntk_block_bytes(net, b1, b2),
                        extra_what=f"stax blocks of {b1} x {b2} images")
    fn = _kernel_jit(net, what)
    p1, p2 = _pad(x1, b1), _pad(x2, b2)
    out = np.empty((n1, n2), np.float64)
    starts = [(i, j) for i in range(0, n1, b1) for j in range(0, n2, b2)]
    from tqdm.auto import tqdm

    for i, j in tqdm(starts, disable=not progress, desc=f"CNTK ({net.readout})", leave=False):
        tile = np.asarray(fn(p1[i:i + b1], p2[j:j + b2]), np.float64)
        out[i:i + b1, j:j + b2] = tile[:min(b1, n1 - i), :min(b2, n2 - j)]
    return out


def _pad(x, block: int):
    """``x`` padded to whole blocks of rows with copies of its first row."""
    extra = -x.shape[0] % block
    return jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)]) if extra else x
