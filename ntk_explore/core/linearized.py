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

from .training import DivergenceError

__all__ = ["linearize", "LinearizedPrediction", "mse_dynamics", "stable_lr"]


def linearize(apply: Callable, params0) -> Callable:
    """``apply_lin(params, x) = f(params0, x) + J(params0, x) (params - params0)``.

    ``apply`` has the package-wide signature ``apply(params, x) -> (n, k)``.
    """
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
    K = np.asarray(kernel, np.float64)
    if K.ndim == 2:
        return np.kron(K, np.eye(k))
    if K.ndim == 4 and K.shape[2:] == (k, k):
        return K.transpose(0, 2, 1, 3).reshape(K.shape[0] * k, K.shape[1] * k)
    raise ValueError(f"kernel must be (n1, n2) or (n1, n2, {k}, {k}), got {K.shape}")


def stable_lr(ntk_train, n: int | None = None) -> float:
    """Largest rate for which GD on the linearized model converges: ``2 n / lam_max``.

    ``ntk_train``: ``(n, n)`` scalar kernel or ``(n, n, k, k)`` eNTK blocks; ``n``
    defaults to ``ntk_train.shape[0]`` (the loss is a mean over ``n`` points).
    """
    K = np.asarray(ntk_train, np.float64)
    n = K.shape[0] if n is None else n
    K2 = _as_blocks(K, 1 if K.ndim == 2 else K.shape[-1])
    return 2.0 * n / float(np.linalg.eigvalsh(K2)[-1])


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
      ValueError: neither or both of ``times`` / ``steps``; mismatched shapes.
      DivergenceError: ``lr`` above the stability limit ``2 n / lam_max``.
    """
    y = np.asarray(y_train, np.float64)
    f0 = np.asarray(f0_train, np.float64)
    if y.ndim != 2 or f0.shape != y.shape:
        raise ValueError(f"y_train and f0_train must both be (n, k), got {y.shape} and {f0.shape}")
    n, k = y.shape
    K = _as_blocks(ntk_train, k)
    if K.shape != (n * k, n * k):
        raise ValueError(f"ntk_train does not match {n} training points with {k} outputs")
    lam, U = np.linalg.eigh((K + K.T) / 2)
    lam = np.clip(lam, 0.0, None)
    t, decay, gain = _schedule(lam / n, times, steps, lr)
    coeff = U.T @ (f0 - y).reshape(-1)  # (n k,)
    train = y[None] + ((U[None] * decay[:, None, :]) @ coeff).reshape(-1, n, k)
    test = None
    if ntk_test_train is not None:
        if f0_test is None:
            raise ValueError("f0_test is needed with ntk_test_train")
        f0t = np.asarray(f0_test, np.float64)
        Ks = _as_blocks(ntk_test_train, k)
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
        t = np.atleast_1d(np.asarray(times, np.float64))
        decay = np.exp(-np.outer(t, rate))
        linear = np.broadcast_to(t[:, None], decay.shape)
    else:
        if lr is None or not lr > 0:
            raise ValueError(f"steps= needs a positive lr=, got {lr!r}")
        s = np.atleast_1d(np.asarray(steps, np.float64))
        if rate.max() * lr > 2.0:
            raise DivergenceError(
                f"learning rate {lr:g} diverges for this kernel: gradient descent on the "
                f"linearized model is stable only below {2.0 / rate.max():.4g}")
        decay = (1.0 - lr * rate)[None, :] ** s[:, None]
        linear = np.broadcast_to((lr * s)[:, None], decay.shape)
        t = lr * s
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(rate > 1e-300, (1.0 - decay) / np.where(rate > 0, rate, 1.0), linear)
    return t, decay, gain
