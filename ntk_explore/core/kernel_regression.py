"""Kernel (ridge) regression in float64: Cholesky when well conditioned, else the
minimum-norm answer from an eigendecomposition. Never a jittered approximation."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from . import validation as V

__all__ = ["kernel_regression", "regress", "NotPositiveDefiniteError", "RCOND_CHOLESKY"]

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


def regress(k_train, y, k_test_train, ridge: float = 0.0) -> np.ndarray:
    """:func:`kernel_regression` with a ridge relative to the kernel's scale.

    ``k_train (n, n)``, ``y (n,)`` or ``(n, m)``, ``k_test_train (T, n)``;
    the ridge added is ``ridge * mean(diag k_train)``.
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    scale = float(np.mean(np.diag(np.asarray(k_train, np.float64))))
    return kernel_regression(k_train, y, k_test_train, ridge=ridge * scale)
