"""Matrix-free kernel regression with the empirical NTK and pNTK.

The dense routes (:mod:`ntk_explore.core.kernels`) form the ``(n, n, k, k)``
kernel, which caps ``n`` at a few thousand. Kernel regression never needs it:
with ``J`` the ``(n q, P)`` Jacobian of the outputs and ``r`` the per-parameter
learning-rate scales, ``Theta v = J diag(r) J^T v`` is one vector-Jacobian
product (VJP) and one Jacobian-vector product (JVP) over the inputs. This module
solves ``(Theta + ridge I) c = y`` by preconditioned conjugate gradients (CG)
using only those two products, then predicts ``Theta(x_test, X) c`` with one
more VJP/JVP pair.

* Memory: ``O(chunk_size * P)`` for one block's autodiff plus the cached
  linearisation (the forward activations, ``O(n * width)``), never ``O(n^2)``.
  The linearisation at ``params`` is computed once per block of inputs
  (``jax.vjp`` keeps its residuals); each CG iteration reuses it, so an iteration
  costs the linear part of a VJP and a JVP, without forward passes.
* Kernels: ``kernel='entk'`` (the full eNTK, a system of size ``n k``) or
  ``'pntk'`` (the tangent kernel of ``sum_c f_c / sqrt(k)``, a system of size
  ``n`` with one right-hand side per target column), matching
  :func:`~ntk_explore.core.kernels.mlp_ntk` / :func:`~ntk_explore.core.kernels.mlp_pntk`
  and their ``kernel_regression``.
* CG: a Python loop over jitted products, not ``jax.scipy.sparse.linalg.cg``
  (which reports neither iterations nor residuals, and cannot restart), nor
  lineax (not among the package's dependencies). The loop reports progress,
  recomputes the true residual ``||y - (Theta + ridge I) c|| / ||y||`` whenever
  the recursive one claims convergence, and restarts from the current iterate
  when the two disagree (in float32 they drift apart after a few hundred
  iterations).
* Preconditioner: an optional randomized Nystrom approximation
  ``Theta ~ C W^+ C^T`` from ``rank`` columns ``C = Theta(X, X_S)`` on a random
  subset ``S`` (Frangella, Tropp and Udell 2023), applied as
  ``P^-1 = (lam_r + mu) U (Lam + mu)^-1 U^T + (I - U U^T)``. Columns come from
  JVPs of the subset's Jacobian rows, or from any dense kernel function
  (``columns=mlp_ntk(model)``), which is much faster for the package's MLPs.

* Precision: float32 CG has a floor: for an ill-conditioned system the product
  ``J^T v`` loses accuracy by cancellation (at ``n = 10^5``, ridge
  ``1e-3 trace / n``: true residual ~``2e-4``, measured). ``refine=True`` keeps CG
  and the preconditioner in float32 and the solution and residual in float64
  (iterative refinement with a float64 copy of the operator that recomputes the
  forward pass per block, so no float64 cache is held); when float32
  corrections stop paying, the last stretch is float64 CG. At ``n = 10^5`` this
  reached ``8.5e-5`` in 229 s (``benchmarks/results/scale.txt``). The
  preconditioner's Gram matrix is always accumulated in float64.

The ridgeless limit (``ridge=0``): CG from ``c = 0`` stays in the range of
``Theta``, so when ``y`` lies in that range (always when ``Theta`` is positive
definite, e.g. ``n k <= P`` for a generic net) it converges to the minimum-norm
solution ``Theta^+ y``, and the predictions are the ``ridge -> 0`` limit of
ridge regression: the interpolating kernel predictor. When ``y`` is not in the
range (``n k > P``), no interpolant exists, CG stalls and
:class:`ConvergenceError` says to add a ridge.

The package's modules: :mod:`.operator` (the products ``Theta v``: generic VJP/JVP and
the MLPs' cached layer inputs and backprop signals), :mod:`.nystrom` (the
preconditioner), :mod:`.cg` (conjugate gradients, iterative refinement, the result
type) and :mod:`.regression` (the three public entry points).
"""

from .cg import ConvergenceError, MatfreeResult, cg_solve
from .nystrom import Nystrom, nystrom
from .operator import (
    MLPTangentOperator,
    TangentOperator,
    mean_diagonal,
    mlp_tangent_operator,
    tangent_operator,
)
from .regression import matfree_kernel_predict, matfree_regression, mlp_matfree_regression

__all__ = [
    "TangentOperator", "tangent_operator", "Nystrom", "nystrom", "MatfreeResult",
    "ConvergenceError", "cg_solve", "matfree_regression", "mlp_matfree_regression",
    "MLPTangentOperator", "mlp_tangent_operator", "mean_diagonal", "matfree_kernel_predict",
]
