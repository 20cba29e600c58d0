"""Infinite-width NNGP and NTK kernels of the package's MLPs, through neural-tangents' stax.

ReLU and erf use neural-tangents' closed forms; tanh has none there, so its Gaussian
expectations are computed here by a quadrature rule checked against a brute-force
integral in the tests. Kernels are ``(n1, n2)`` arrays; ``x2=None`` means ``x1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import validation as V
from .kernel_checks import check_kernel_memory, check_pair
from .models import MLP

__all__ = ["Kernels", "infinite_kernel_fn"]


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
        x1, x2 = check_pair(x1, x2, dim=model.in_dim)
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
