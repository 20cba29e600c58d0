"""Keep BLAS single-threaded beside JAX (imported first by the package), and lend it every
core for a moment when JAX is idle."""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["limit_blas_threads", "all_blas_threads", "PACKAGE_LIMIT"]

PACKAGE_LIMIT: int | None = None
"""The BLAS thread limit this package set at import (``None``: the user chose one)."""

_lock = threading.Lock()
_borrowers = 0
_limiter = None


def limit_blas_threads() -> None:
    """One BLAS thread, unless the user set ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``.

    With JAX's own CPU thread pool in the same process, a multi-threaded OpenBLAS
    spins against it: a 200 x 200 Cholesky (``kernel_regression``) measured
    0.19 ms with one thread and 81 ms with the default, 1000 x 1000 12 ms vs
    557 ms (2 cores, jax 0.10.2). The heavy work here runs in JAX, not BLAS.
    """
    global PACKAGE_LIMIT
    if any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "MKL_NUM_THREADS")):
        return
    import numpy  # noqa: F401  load both BLAS libraries (numpy's and scipy's own),
    import scipy.linalg  # noqa: F401  since a limit only reaches libraries already loaded
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    PACKAGE_LIMIT = 1


@contextlib.contextmanager
def all_blas_threads():
    """Every core for BLAS while inside (dense float64 work with JAX idle).

    Safe under threads: the first caller in raises the limit and remembers the limits it
    found; the last one out restores those (overlapping callers share one raise, so none
    restores a limit another had raised), and concurrent solves leave BLAS as it was
    before the first of them.
    """
    global _borrowers, _limiter
    from threadpoolctl import threadpool_limits

    with _lock:
        _borrowers += 1
        if _borrowers == 1:
            _limiter = threadpool_limits(limits=os.cpu_count() or 1, user_api="blas")
    try:
        yield
    finally:
        with _lock:
            _borrowers -= 1
            if _borrowers == 0:
                _limiter.restore_original_limits()
                _limiter = None


limit_blas_threads()
