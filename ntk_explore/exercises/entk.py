"""Exercise of notebook 01: the eNTK of a one-hidden-layer net, by hand.

The net is ``f(x) = a . relu(W x / sqrt(d)) / sqrt(m)`` with ``W`` ``(m, d)`` and
``a`` ``(m,)`` (NTK parametrization, no biases). Its eNTK sums, over every weight, the
product of the two outputs' derivatives:

``Theta(x, x') = (1/m) sum_j [ relu(h_j) relu(h'_j) + a_j^2 1[h_j > 0] 1[h'_j > 0] (x . x') / d ]``

with ``h = W x / sqrt(d)``: the first term comes from the readout ``a``, the second from
``W``. The checker compares the reader's function with the library's Jacobian-contraction
eNTK (:func:`ntk_explore.core.kernels.empirical_ntk`) of the same net.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core.kernels import empirical_ntk
from . import Feedback, compare, register, run_answer

__all__ = ["one_hidden_layer", "reference_entk", "check_entk_by_hand"]


def one_hidden_layer(params, x):
    """``f(x) = a . relu(W x / sqrt(d)) / sqrt(m)``; ``params = (W (m, d), a (m,))``, ``x (n, d)``
    -> ``(n, 1)``."""
    w, a = params
    m, d = w.shape
    h = x @ w.T / jnp.sqrt(d)  # (n, m)
    return (jax.nn.relu(h) @ a / jnp.sqrt(m))[:, None]


def reference_entk(w, a, x) -> np.ndarray:
    """The library's eNTK of :func:`one_hidden_layer` at ``(W, a)`` on ``x`` ``(n, d)``: ``(n, n)``."""
    ntk = empirical_ntk(one_hidden_layer, batch_size=None)
    return np.asarray(ntk(x, None, (w, a))[:, :, 0, 0])


def _problem(seed: int, m: int = 7, d: int = 3, n: int = 5):
    kw, ka, kx = jax.random.split(jax.random.key(seed), 3)
    with jax.enable_x64(True):
        w = jax.random.normal(kw, (m, d), jnp.float64)
        a = jax.random.normal(ka, (m,), jnp.float64)
        x = jax.random.normal(kx, (n, d), jnp.float64)
    return np.asarray(w), np.asarray(a), np.asarray(x)


@register("entk_by_hand", "01_entk_vs_width.ipynb",
          "Write entk(W, a, x) -> (n, n), the eNTK of f(x) = a . relu(W x / sqrt(d)) / sqrt(m).")
def check_entk_by_hand(answer) -> Feedback:
    """Check ``answer(W (m, d), a (m,), x (n, d)) -> (n, n)`` on two random problems."""
    for seed, (m, d, n) in enumerate(((7, 3, 5), (16, 4, 6))):
        w, a, x = _problem(seed, m, d, n)
        got, error = run_answer(answer, w, a, x)
        if error is not None:
            return error
        with jax.enable_x64(True):
            want = reference_entk(w, a, x)
        fb = compare("Theta", got, want)
        if not fb.ok:
            readout = (jax.nn.relu(x @ w.T / np.sqrt(d)) @ jax.nn.relu(x @ w.T / np.sqrt(d)).T) / m
            if np.allclose(np.asarray(got, float), np.asarray(readout), rtol=1e-6):
                return Feedback(False, "you have only the readout's part (the derivatives with "
                                       "respect to a); add the hidden weights' part")
            return Feedback(False, f"with m = {m}, d = {d}, n = {n}: {fb.message}")
    return Feedback(True, "your eNTK equals the library's Jacobian-contraction eNTK on two "
                          "random nets (to 1e-6 relative).")
