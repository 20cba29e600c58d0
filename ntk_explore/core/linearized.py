"""First-order Taylor models and their closed-form MSE dynamics.

Loss convention (used throughout the package)::

    L(theta) = 1 / (2 n) * sum_i ||f(x_i) - y_i||**2

so one gradient-descent step with rate ``eta`` changes the outputs of a
linearized model by ``-(eta / n) * Theta(x, X) (f(X) - Y)`` exactly, where
``Theta`` is the (learning-rate weighted) tangent kernel. With
``Theta(X, X) = U diag(lam) U^T`` and residual ``r_0 = f_0(X) - Y``:

* gradient descent after ``s`` steps: ``r_s = U (1 - eta lam / n)**s U^T r_0``;
* gradient flow at time ``t``:        ``r_t = U exp(-t lam / n) U^T r_0``;
* test points: ``f_t(x*) = f_0(x*) - Theta(x*, X) U diag(g(lam)) U^T r_0``
  with ``g = (1 - decay) / lam`` (and its limit ``s eta / n`` or ``t / n`` at
  ``lam = 0``), which tends to the kernel-regression interpolant as
  ``t -> inf``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from . import validation as V
from .training import check_stable_rate

__all__ = ["linearize", "LinearizedPrediction", "mse_dynamics", "stable_lr"]


def linearize(apply: Callable, params0) -> Callable:
    """``apply_lin(params, x) = f(params0, x) + J(params0, x) (params - params0)``.

    ``apply`` has the package-wide signature ``apply(params, x) -> (n, k)``.
    """
    V.check_callable("apply", apply)
    for i, leaf in enumerate(jax.tree.leaves(params0)):
        V.check_finite(f"params0 (leaf {i})", leaf)
    def apply_lin(params, x):
        delta = jax.tree.map(lambda p, p0: p - p0, params, params0)
        f0, df = jax.jvp(lambda p: apply(p, x), (params0,), (delta,))
        return f0 + df

    return apply_lin


class LinearizedPrediction(NamedTuple):
    """Outputs of the linearized model at each requested time: ``(T, n, k)``, ``(T, m, k)``."""

    times: np.ndarray
    train: np.ndarray
    test: np.ndarray | None


def _as_blocks(kernel, k: int) -> np.ndarray:
    """``(n1, n2)`` scalar kernel (meaning ``kernel (x) I_k``) or ``(n1, n2, k, k)`` -> 2-D."""
    K = V.as_float_array("kernel", kernel, numpy=True)
    if K.ndim == 2:
        return np.kron(K, np.eye(k))
    if K.ndim == 4 and K.shape[2:] == (k, k):
        return K.transpose(0, 2, 1, 3).reshape(K.shape[0] * k, K.shape[1] * k)
    raise ValueError(f"kernel must be (n1, n2) or (n1, n2, {k}, {k}), got {K.shape}")


def stable_lr(ntk_train, n: int | None = None) -> float:
    """Largest rate for which GD on the linearized model converges: ``2 n / lam_max``.

    ``ntk_train``: ``(n, n)`` scalar kernel or ``(n, n, k, k)`` eNTK blocks; ``n``
    defaults to ``ntk_train.shape[0]`` (the loss is a mean over ``n`` points).

    Raises:
      ValueError: a kernel that is not square, not symmetric, not positive
        semi-definite beyond round-off, all zero, or holds NaN/inf (tolerances:
        :func:`~ntk_explore.core.validation.check_kernel_matrix`); a bad ``n``.
    """
    lam, _ = _eig("ntk_train", ntk_train)
    n = _n_points(ntk_train) if n is None else V.check_positive_int("n", n)
    return 2.0 * n / float(lam[-1])


def _n_points(kernel) -> int:
    return int(np.shape(kernel)[0])


def _eig(name, kernel, k=None):
    """Eigendecomposition ``(lam, U)`` of a checked square kernel (zero modes exactly 0)."""
    dtype = np.result_type(getattr(kernel, "dtype", np.float64), np.float32)
    K = V.as_float_array(name, kernel, numpy=True)
    if K.ndim not in (2, 4) or K.shape[0] != K.shape[1] or (K.ndim == 4 and K.shape[2] != K.shape[3]):
        raise ValueError(f"{name} must be a square (n, n) kernel or (n, n, k, k) blocks, "
                         f"got shape {K.shape}")
    K2 = _as_blocks(K, 1 if K.ndim == 2 else K.shape[-1]) if k is None else _as_blocks(K, k)
    return V.check_kernel_matrix(name, K2, dtype=dtype)


def mse_dynamics(ntk_train, y_train, f0_train, *, ntk_test_train=None, f0_test=None,
                 times=None, steps=None, lr: float | None = None) -> LinearizedPrediction:
    """Closed-form outputs of the linearized model under MSE training.

    Args:
      ntk_train: ``(n, n, k, k)`` eNTK blocks or ``(n, n)`` scalar kernel on
        the training inputs.
      y_train, f0_train: ``(n, k)`` targets and outputs at ``params0``.
      ntk_test_train: ``(m, n, k, k)`` or ``(m, n)``; with ``f0_test`` ``(m, k)``.
      times: gradient-flow times (in units of ``eta * steps``), shape ``(T,)``.
      steps, lr: instead of ``times``, gradient-descent step counts ``(T,)`` at
        rate ``lr``.

    Returns:
      :class:`LinearizedPrediction` with ``train`` ``(T, n, k)`` and
      ``test`` ``(T, m, k)`` (``None`` without test inputs), float64.

    Raises:
      ValueError: neither or both of ``times`` / ``steps``; negative or non-finite
        times or step counts; mismatched shapes; NaN/inf data; a kernel that is
        not symmetric or not positive semi-definite beyond round-off (zero modes,
        up to ``n k eps lam_max``, are kept as exact zero modes and never decay).
      DivergenceError: ``lr`` above the stability limit ``2 n / lam_max``.
    """
    y = V.as_float_array("y_train", y_train, numpy=True)
    f0 = V.as_float_array("f0_train", f0_train, numpy=True)
    if y.ndim != 2 or f0.shape != y.shape:
        raise ValueError(f"y_train and f0_train must both be (n, k), got {y.shape} and {f0.shape}")
    n, k = y.shape
    K = _as_blocks(ntk_train, k)
    if K.shape != (n * k, n * k):
        raise ValueError(f"ntk_train of shape {np.shape(ntk_train)} does not match {n} "
                         f"training points with {k} outputs")
    lam, U = _eig("ntk_train", ntk_train, k)  # checked; near-zero modes exactly 0
    t, decay, gain = _schedule(lam / n, times, steps, lr)
    coeff = U.T @ (f0 - y).reshape(-1)  # (n k,)
    train = y[None] + ((U[None] * decay[:, None, :]) @ coeff).reshape(-1, n, k)
    test = None
    if ntk_test_train is not None:
        if f0_test is None:
            raise ValueError("f0_test is needed with ntk_test_train")
        f0t = V.as_float_array("f0_test", f0_test, numpy=True)
        Ks = _as_blocks(V.as_float_array("ntk_test_train", ntk_test_train, numpy=True), k)
        if Ks.shape != (f0t.size, n * k):
            raise ValueError(f"ntk_test_train {np.shape(ntk_test_train)} does not match "
                             f"f0_test {f0t.shape} and {n} training points")
        test = f0t[None] - ((Ks @ U)[None] * (gain / n)[:, None, :] @ coeff).reshape(-1, *f0t.shape)
    return LinearizedPrediction(t, train, test)


def _schedule(rate, times, steps, lr):
    """Per-eigenvalue ``decay`` ``(T, p)`` and ``gain = n (1 - decay) / lam`` ``(T, p)``."""
    if (times is None) == (steps is None):
        raise ValueError("give exactly one of times= (gradient flow) or steps= with lr=")
    if times is not None:
        t = np.atleast_1d(V.as_float_array("times", times, numpy=True))
        if t.ndim != 1 or np.any(t < 0):
            raise ValueError(f"times must be a 1-D sequence of non-negative gradient-flow "
                             f"times, got {np.asarray(times).tolist()!r}")
        decay = np.exp(-np.outer(t, rate))
        linear = np.broadcast_to(t[:, None], decay.shape)
    else:
        if lr is None:
            raise ValueError("steps= needs a positive lr=, got None")
        lr = V.check_positive_float("lr", lr)
        s = np.atleast_1d(V.as_float_array("steps", steps, numpy=True))
        if s.ndim != 1 or np.any(s < 0) or np.any(s != np.round(s)):
            raise ValueError(f"steps must be a 1-D sequence of non-negative integer step "
                             f"counts, got {np.asarray(steps).tolist()!r}")
        check_stable_rate(lr, float(rate.max()))
        decay = (1.0 - lr * rate)[None, :] ** s[:, None]
        linear = np.broadcast_to((lr * s)[:, None], decay.shape)
        t = lr * s
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(rate > 1e-300, (1.0 - decay) / np.where(rate > 0, rate, 1.0), linear)
    return t, decay, gain
