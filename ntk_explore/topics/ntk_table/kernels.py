"""The kernels and nets of the table in "Issues with Neural Tangent Kernel Approach".

The experiment (as read in the paper's public code, ``howardhi/NTK-Issues``):
each trial draws ``n = 1000`` inputs uniform on ``[-5, 7]**15``, scales every
row to unit norm, draws targets once from ``N(0, NTKB1(X, X))``, splits 67/33,
and predicts with ``K(test, train) K(train, train)^-1 y`` (no ridge). The score
is the test RMSE, averaged over 50 trials.

Every NNGP/NTK kernel of the table is one ReLU network written as a list of
:class:`LayerScales`. With layer inputs ``a_l`` (``a_0 = x``), pre-activations
``h_l`` and ``G_l(x, y) = <a_l(x), a_l(y)>`` (a plain dot product for the input,
a unit average ``E[relu(h) relu(h')]`` for hidden layers)::

    Sigma_l = b_var + w_var * G_{l-1}                       (NNGP of h_l)
    Theta_l = b_tan + w_tan * G_{l-1} + w_var * Gdot_{l-1} * Theta_{l-1}

with ``Gdot = E[relu'(h) relu'(h')]``. For a centred Gaussian pair with
variances ``q, q'`` and covariance ``c`` the arc-cosine formulas are::

    G    = sqrt(q q') / (2 pi) * (sin t + (pi - t) cos t)
    Gdot = (pi - t) / (2 pi),         t = arccos(rho)

where the textbook angle uses ``rho = c / sqrt(q q')`` (``form='corrected'``)
and the public code uses ``rho = c / (q q')`` (``form='as-coded'``). With unit
inputs the quirk leaves NTKA unchanged (``q = 1``) and shrinks the angle
cosine of the other kernels by ``1/q`` (16/15 in the first layer, 31/15 in
the second). Both forms give positive semi-definite kernels (the arc-cosine
series has non-negative coefficients).

Constants as in the public code: all ``sigma**2 = 1``, ``c1 = c2 = c_sigma = 2``,
Laplacian ``2 exp(-||x - y|| / 6)``. Method names as in the paper:

==========  ===============================================================
GP1, GP2    NNGP of the NTKB nets (1 and 2 hidden layers)
NTKA1/2     Arora et al.: no biases, ``N(0, 1)`` weights, ``c_sigma = 2``
NTKJ1/2     Jacot et al.: biases, ``1/sqrt(d)`` and ``1/sqrt(n)`` multipliers
NTKB1/2     the paper's variant: first-layer weights ``N(0, 1/d)``, no multiplier
Laplacian   ``2 exp(-||x - y|| / 6)``, not derived from a network
NN1, NN2    the NTK-parametrized nets trained by SGD (:func:`train_table_net`)
==========  ===============================================================

NTKJ2 as coded mixes two conventions: its second-layer covariance uses
``c1 = 2`` (``1 + 2 G``) while the first-layer tangent kernel it multiplies has
``c = 1`` (``NTKJ1``). The matching finite net (:func:`matching_net`) therefore
has a first-layer learning rate of one half; it is *not* the tangent kernel of
the paper's two-layer Keras net (that one is ``ne.infinite_kernel_fn`` of
``mlp(15, n, 2, sigma_w=1, sigma_b=1)``, see :func:`table_net_model`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ...core import validation as V
from ...core.models import MLP, mlp

__all__ = ["KERNEL_METHODS", "NET_METHODS", "METHODS", "FORMS", "LayerScales", "ArcCosKernels",
           "kernel_spec", "arccos_kernels", "table_kernel", "laplacian_kernel", "matching_net",
           "table_net_model"]

KERNEL_METHODS = ("GP1", "GP2", "NTKA1", "NTKA2", "NTKJ1", "NTKJ2", "NTKB1", "NTKB2",
                  "Laplacian")
NET_METHODS = ("NN1", "NN2")
METHODS = KERNEL_METHODS + NET_METHODS
FORMS = ("as-coded", "corrected")

_C = 2.0  # c1 = c2 = c_sigma in the public code


class LayerScales(NamedTuple):
    """Width-free scales of one dense layer (see the module docstring).

    ``w_var``/``b_var``: forward variances (weight variance times fan-in for
    hidden layers); ``w_tan``/``b_tan``: the same layer's contribution to the
    tangent kernel (multiplier squared times fan-in times learning rate).
    """

    w_var: float
    b_var: float
    w_tan: float
    b_tan: float


class ArcCosKernels(NamedTuple):
    """NNGP and NTK of one ReLU network, each ``(n1, n2)``."""

    nngp: np.ndarray
    ntk: np.ndarray


def check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; choose one of {FORMS}")


@V.checked
def kernel_spec(method: str, in_dim: V.PositiveInt = 15) -> tuple[LayerScales, ...]:
    """The layers of the network behind a kernel method (``'GP1'`` ... ``'NTKB2'``)."""
    d = float(in_dim)
    ntkb = [LayerScales(1 / d, 1.0, 1.0, 1.0)]
    ntka = [LayerScales(1.0, 0.0, 1.0, 0.0)]
    ntkj1 = [LayerScales(1 / d, 1.0, 1 / d, 1.0)]
    ntkj2 = [LayerScales(1 / d, 1.0, 0.5 / d, 0.5), LayerScales(_C, 1.0, 1.0, 1.0)]
    hidden_b, hidden_a = LayerScales(_C, 1.0, _C, 1.0), LayerScales(_C, 0.0, _C, 0.0)
    specs = {
        "NTKB1": ntkb + [hidden_b], "NTKB2": ntkb + [hidden_b, hidden_b],
        "NTKA1": ntka + [hidden_a], "NTKA2": ntka + [hidden_a, hidden_a],
        "NTKJ1": ntkj1 + [LayerScales(1.0, 1.0, 1.0, 1.0)],
        "NTKJ2": ntkj2 + [LayerScales(1.0, 1.0, 1.0, 1.0)],
    }
    specs["GP1"], specs["GP2"] = specs["NTKB1"], specs["NTKB2"]
    if method not in specs:
        raise ValueError(f"no network spec for method {method!r}; choose one of "
                         f"{sorted(specs)} (Laplacian and NN1/NN2 have none)")
    return tuple(specs[method])


def _relu_moments(cov, q1, q2, form):
    """``E[relu relu']`` and ``E[relu' relu'']`` for covariances ``cov`` ``(n1, n2)``."""
    prod = q1[:, None] * q2[None, :]
    rho = cov / (prod if form == "as-coded" else np.sqrt(prod))
    rho = np.clip(rho, -1.0, 1.0)
    t = np.arccos(rho)
    g = np.sqrt(prod) / (2 * np.pi) * (np.sin(t) + (np.pi - t) * rho)
    return g, (np.pi - t) / (2 * np.pi)


@V.checked
def arccos_kernels(spec: Sequence[LayerScales], x1: V.FiniteArray, x2: V.FiniteArray=None, *,
                   form: str = "corrected") -> ArcCosKernels:
    """NNGP and NTK of the ReLU net ``spec`` by the arc-cosine recursion.

    Args:
      spec: layers from :func:`kernel_spec` (input layer first, read-out last).
      x1: ``(n1, d)``; x2: ``(n2, d)`` or ``None`` (same as ``x1``).
      form: ``'corrected'`` (textbook angle) or ``'as-coded'`` (public code).

    Returns:
      :class:`ArcCosKernels` with ``nngp`` and ``ntk`` of shape ``(n1, n2)``, float64.
    """
    check_form(form)
    x1 = np.asarray(x1, np.float64)
    x2 = x1 if x2 is None else np.asarray(x2, np.float64)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must be (n, d) with the same d, got {x1.shape}, {x2.shape}")
    g, q1, q2 = x1 @ x2.T, np.sum(x1**2, 1), np.sum(x2**2, 1)
    gdot, theta = None, None
    for i, s in enumerate(spec):
        cov = s.b_var + s.w_var * g
        tan = s.b_tan + s.w_tan * g
        theta = tan if i == 0 else tan + s.w_var * gdot * theta
        q1, q2 = s.b_var + s.w_var * q1, s.b_var + s.w_var * q2
        if i < len(spec) - 1:
            g, gdot = _relu_moments(cov, q1, q2, form)
            q1, q2 = q1 / 2, q2 / 2  # E[relu(h)**2] = q / 2
    return ArcCosKernels(cov, theta)


@V.checked
def laplacian_kernel(x1: V.FiniteArray, x2: V.FiniteArray=None, *, scale: V.PositiveFloat = 2.0,
                     length: V.PositiveFloat = 6.0) -> np.ndarray:
    """``scale * exp(-||x - y|| / length)``: ``(n1, d), (n2, d) -> (n1, n2)``."""
    x1 = np.asarray(x1, np.float64)
    x2 = x1 if x2 is None else np.asarray(x2, np.float64)
    sq = np.sum(x1**2, 1)[:, None] + np.sum(x2**2, 1)[None, :] - 2 * x1 @ x2.T
    return scale * np.exp(-np.sqrt(np.clip(sq, 0.0, None)) / length)


@V.checked
def table_kernel(method: str, x1: V.FiniteArray, x2: V.FiniteArray=None, *,
                 form: str = "corrected") -> np.ndarray:
    """Kernel of one table method: ``(n1, d), (n2, d) -> (n1, n2)`` float64.

    ``GP*`` give the NNGP, ``NTK*`` the NTK of :func:`kernel_spec`'s net;
    ``'Laplacian'`` ignores ``form``.
    """
    check_form(form)
    if method == "Laplacian":
        return laplacian_kernel(x1, x2)
    if method not in KERNEL_METHODS:
        raise ValueError(f"unknown kernel method {method!r}; choose one of {KERNEL_METHODS}")
    k = arccos_kernels(kernel_spec(method, np.shape(x1)[1]), x1, x2, form=form)
    return k.nngp if method.startswith("GP") else k.ntk


# ---------------------------------------------------------------------------
# finite networks


def _spec_scalars(spec: Sequence[LayerScales], dims: Sequence[int]) -> tuple:
    """Per-layer ``(w_mult, w_std, w_lr, b_mult, b_std, b_lr)`` of a :class:`LayerScales` spec."""
    out = []
    for l, s in enumerate(spec):
        fan = 1.0 if l == 0 else float(dims[l])  # hidden G is a unit average
        b_tan = s.b_tan if s.b_tan > 0 else 1.0
        out.append((math.sqrt(s.w_tan / fan), math.sqrt(s.w_var / s.w_tan), 1.0,
                    math.sqrt(b_tan), math.sqrt(s.b_var / b_tan), 1.0))
    return tuple(out)


@V.checked
def matching_net(method: str, width: V.PositiveInt, in_dim: V.PositiveInt = 15) -> MLP:
    """The finite ReLU net whose NNGP/NTK the closed form of ``method`` is.

    A package :class:`~ntk_explore.core.models.MLP` (``init``, ``apply``,
    ``mlp_ntk`` all work) with ``depth`` 1 or 2 hidden layers of ``width``
    units; its eNTK at init has expectation ``table_kernel(method)`` (exactly for
    one hidden layer, up to ``O(1/width)`` for two), ``form='corrected'``.
    """
    spec = kernel_spec(method, in_dim)
    base = mlp(in_dim, width, len(spec) - 1, bias=spec[0].b_var > 0)
    return dataclasses.replace(base, scalars=_spec_scalars(spec, base.dims()))


@V.checked
def table_net_model(depth: V.PositiveInt, width: V.PositiveInt, in_dim: V.PositiveInt = 15) -> MLP:
    """The paper's Keras net (NN1/NN2) in the package's NTK parametrization.

    ``f = b + W_L relu(... relu(W_1 x / sqrt(d) + b_1) ...) / sqrt(width)``,
    every weight and bias ``N(0, 1)``: ``mlp(..., parametrization='ntk',
    sigma_w=1, sigma_b=1)``. Its infinite-width NTK is NTKJ1 for ``depth=1``.
    """
    return mlp(in_dim, width, depth, parametrization="ntk", sigma_w=1.0, sigma_b=1.0,
               base_width=min(width, 64))
