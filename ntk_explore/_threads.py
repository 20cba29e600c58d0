"""Keep BLAS single-threaded beside JAX (imported first by the package)."""

from __future__ import annotations

import os


def limit_blas_threads() -> None:
    """One BLAS thread, unless the user set ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``.

    With JAX's own CPU thread pool in the same process, a multi-threaded OpenBLAS
    spins against it: a 200 x 200 Cholesky (``kernel_regression``) measured
    0.19 ms with one thread and 81 ms with the default, 1000 x 1000 12 ms vs
    557 ms (2 cores, jax 0.10.2). The heavy work here runs in JAX, not BLAS.
    """
    if any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "MKL_NUM_THREADS")):
        return
    import numpy  # noqa: F401  load both BLAS libraries (numpy's and scipy's own),
    import scipy.linalg  # noqa: F401  since a limit only reaches libraries already loaded
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


limit_blas_threads()
