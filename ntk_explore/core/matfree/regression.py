"""Kernel regression with an eNTK or pNTK by conjugate gradients: the public entry points."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as V
from ..kernels import mlp_ntk, mlp_pntk
from ..models import MLP
from .cg import ConvergenceError, MatfreeResult, cg_solve
from .nystrom import nystrom
from .operator import TangentOperator, mean_diagonal, mlp_tangent_operator, tangent_operator

__all__ = ["matfree_regression", "mlp_matfree_regression", "matfree_kernel_predict"]


def _as_rhs(y, n: int, q: int, kernel: str):
    """Targets -> ``(m, n, q)`` and a function mapping ``(m, t, q)`` back like ``y``."""
    y = jnp.asarray(y)
    if kernel == "entk":
        if q == 1 and y.shape == (n,):
            return y[None, :, None], lambda f: f[0, :, 0]
        if y.shape != (n, q):
            raise ValueError(f"y_train must be ({n}, {q}) for the eNTK, got {y.shape}")
        return y[None], lambda f: f[0]
    if y.ndim == 1 and y.shape[0] == n:
        return y[None, :, None], lambda f: f[0, :, 0]
    if y.ndim == 2 and y.shape[0] == n:
        return y.T[:, :, None], lambda f: f[:, :, 0].T
    raise ValueError(f"y_train must be ({n},) or ({n}, m) for the pNTK, got {y.shape}")


@V.checked
def matfree_regression(apply: Annotated[Callable, V.IsCallable()], params, x_train: _Rows,
                       y_train, x_test, *,
                       kernel: Annotated[str, V.OneOf("entk", "pntk")] = "entk", lr_scales=None,
                       ridge: V.NonNegativeFloat = 0.0, tol: V.OpenUnitInterval = 1e-6,
                       maxiter: V.PositiveInt | None = None, chunk_size: V.PositiveInt = 4096,
                       rank: V.NonNegativeInt = 0, key: V.Key | None = None,
                       columns: Callable | None = None,
                       pntk_mode: Annotated[str, V.OneOf("sum", "first")] = "sum",
                       sharding=None, progress: bool = False, raise_on_failure: bool = True,
                       operator: TangentOperator | None = None,
                       refine: bool = False) -> MatfreeResult:
    """Kernel (ridge) regression ``Theta(x_test, X) (Theta + ridge I)^-1 y`` without ``Theta``.

    Equals ``kernel_regression(flatten_blocks(ntk(X, X)), y.reshape(-1),
    flatten_blocks(ntk(x_test, X)), ridge=ridge)`` (eNTK) or
    ``kernel_regression(pntk(X, X), y, pntk(x_test, X), ridge=ridge)`` (pNTK) up
    to the CG tolerance; see the module docstring for ``ridge=0``.

    Args:
      apply: ``apply(params, x) -> (n, k)``.
      x_train: ``(n, ...)``; y_train: ``(n, k)`` (eNTK; ``(n,)`` too when ``k = 1``) or
        ``(n,)`` / ``(n, m)`` (pNTK); NaN or inf in any input raises ``ValueError``.
      x_test: ``(t, ...)``.
      kernel, lr_scales, pntk_mode, chunk_size, sharding: see :func:`tangent_operator`.
      ridge: ``lambda >= 0`` (absolute, like ``kernel_regression``'s).
      tol, maxiter, progress, raise_on_failure: see :func:`cg_solve`.
      rank: Nystrom preconditioner rank (0: none); ``key`` picks its subset.
      columns: dense kernel for the Nystrom columns (see :func:`nystrom`).
      operator: an already built operator on ``x_train`` (e.g.
        :func:`mlp_tangent_operator`); then ``apply``, ``lr_scales``, ``pntk_mode``,
        ``chunk_size`` and ``sharding`` are not used.
      refine: float64 iterative refinement of a float32 solve (see
        :func:`cg_solve`): CG and the preconditioner stay in the operator's
        precision, the residual, coefficients and predictions are float64 from
        the same kernel evaluated in float64 (``op.promoted()``, no cache, one
        product per correction). Runs inside ``jax.enable_x64(True)``, so a
        float32 session works too (it then gets NumPy float64 ``predictions``
        and ``coefficients``); reaches ``tol`` below float32's floor (about
        ``2e-4`` at ``n = 10^5`` with ridge ``1e-3 trace / n``).

    Returns:
      :class:`MatfreeResult`; ``predictions`` ``(t, k)`` (eNTK) or shaped like
      ``y`` with ``t`` rows (pNTK); ``coefficients`` shaped like ``y_train``.

    Raises:
      ConvergenceError: the true relative residual stayed above ``tol``.
    """
    t0 = time.perf_counter()
    x_train, y_train, x_test = _check_data(x_train, y_train, x_test)
    _check_params(params)
    if rank > 0 and key is None:
        raise ValueError("rank > 0 asks for a Nystrom preconditioner, which needs key= "
                         "(e.g. jax.random.key(0)) to choose its columns")
    op = operator
    if op is None:
        op = tangent_operator(apply, params, x_train, kernel=kernel, lr_scales=lr_scales,
                              pntk_mode=pntk_mode, chunk_size=chunk_size, sharding=sharding)
    else:
        _check_operator(op, x_train, params)
    b0, _ = _as_rhs(y_train, op.n, op.q, kernel)  # shapes checked before any solve
    _check_solvable(op, params, ridge, b0)
    if x_test.shape[0] == 0:
        return _empty_result(op, y_train, kernel, t0)
    x64_outside = jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float64
    with jax.enable_x64(True) if refine else contextlib.nullcontext():
        hi = op.promoted() if refine else op
        b, back = _as_rhs(jnp.asarray(y_train, hi.dtype), op.n, op.q, kernel)
        pre = nystrom(op, rank, key=key, ridge=ridge, columns=columns) if rank > 0 else None
        res = cg_solve(op.matvec, b, ridge=ridge, tol=tol, maxiter=maxiter, preconditioner=pre,
                       progress=progress, raise_on_failure=raise_on_failure,
                       refine=hi.matvec if refine else None, inner_dtype=op.dtype)
        pred = back(hi.push_to(jnp.asarray(x_test, hi.dtype), hi.rmatvec(res.coefficients)))
        coef = back(res.coefficients)
        if refine and not x64_outside:  # float64 results for a float32 session: NumPy
            pred, coef = np.asarray(pred), np.asarray(coef)
    return res._replace(predictions=pred, coefficients=coef,
                        seconds=time.perf_counter() - t0)


_Rows = Annotated[jax.Array, V.Inputs(None)]


def _check_data(x_train, y_train, x_test):
    """Finite arrays; as many targets as inputs; test inputs shaped like training inputs
    (checked before any work). An empty ``x_test`` is legal (no predictions)."""
    x_train = jnp.asarray(V.as_float_array("x_train", x_train, ndim=None))
    if x_train.ndim < 2:
        raise ValueError(f"x_train must be (n, d) (or (n, ...)), got shape {x_train.shape}")
    y_train = V.as_float_array("y_train", y_train, ndim=None)
    if y_train.ndim not in (1, 2):
        raise ValueError(f"y_train must be (n,) or (n, k), got shape {tuple(y_train.shape)}")
    V.check_same_rows("x_train", x_train, "y_train", y_train)
    x_test = V.as_float_array("x_test", x_test, ndim=None, min_rows=0)
    if tuple(x_test.shape[1:]) != tuple(x_train.shape[1:]):
        raise ValueError(f"x_test must have the shape of one training input per row, "
                         f"(t, {', '.join(map(str, x_train.shape[1:]))}), got "
                         f"{tuple(x_test.shape)}")
    return x_train, jnp.asarray(y_train, x_train.dtype), jnp.asarray(x_test, x_train.dtype)


def _check_params(params) -> None:
    for i, leaf in enumerate(jax.tree.leaves(params)):
        V.check_finite(f"params (leaf {i})", leaf)


def _check_operator(op: TangentOperator, x_train, params) -> None:
    """An ``operator=`` must be built on these training inputs and parameters."""
    if not isinstance(op, TangentOperator):
        raise TypeError(f"operator must be a TangentOperator (tangent_operator(...) or "
                        f"mlp_tangent_operator(...)), got {type(op).__name__}")
    same_x = op.x.shape == x_train.shape and bool(jnp.array_equal(op.x, x_train))
    if not same_x:
        raise ValueError(f"operator was built on other inputs (shape {tuple(op.x.shape)}) than "
                         f"x_train (shape {tuple(x_train.shape)}); build it on x_train")
    same_p = jax.tree.structure(op.params) == jax.tree.structure(params) and all(
        a.shape == b.shape and bool(jnp.array_equal(a, b))
        for a, b in zip(jax.tree.leaves(op.params), jax.tree.leaves(params)))
    if not same_p:
        raise ValueError("operator was built at other parameters than params; build it at params")


def _check_solvable(op: TangentOperator, params, ridge: float, b) -> None:
    """Ridge 0 with more equations than parameters: ``Theta`` (rank <= P) is singular and a
    generic target has no interpolant, so CG cannot converge; say so before trying."""
    p = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    if ridge == 0 and op.n * op.q > p:
        raise ConvergenceError(
            f"no interpolant: with ridge 0 the system has {op.n * op.q} equations (n = {op.n} "
            f"inputs x q = {op.q} outputs) but the kernel has rank at most P = {p} (the "
            f"parameter count), so a generic target cannot be fitted exactly; use ridge > 0",
            MatfreeResult(None, jnp.zeros_like(b), 0, 1.0, 0, False, 0.0, 0.0))


def _empty_result(op, y_train, kernel, t0) -> MatfreeResult:
    """No test points: no solve, empty predictions shaped like the targets."""
    _, back = _as_rhs(y_train, op.n, op.q, kernel)
    empty = back(jnp.zeros((1 if kernel == "entk" else _columns(y_train), 0, op.q), op.dtype))
    dt = time.perf_counter() - t0
    return MatfreeResult(empty, jnp.zeros_like(y_train), 0, 0.0, 0, True, dt, 0.0)


def _columns(y) -> int:
    return 1 if y.ndim == 1 else int(y.shape[1])


_Model = Annotated[MLP, V.InstanceOf(MLP, "from ntk_explore.mlp(...)")]
_Params = Annotated[object, V.MatchesModel("model")]
_X = Annotated[jax.Array, V.Inputs(2, model="model")]
_XTest = Annotated[jax.Array, V.Inputs(2, model="model", min_rows=0)]
_Y = Annotated[jax.Array, V.Inputs(None, rows_of="x_train")]
_Kernel = Annotated[str, V.OneOf("entk", "pntk")]


@V.checked
def mlp_matfree_regression(model: _Model, params: _Params, x_train: _X, y_train: _Y,
                           x_test: _XTest, *, kernel: _Kernel = "pntk",
                           ridge: V.NonNegativeFloat = 0.0, rank: V.NonNegativeInt = 0,
                           key: V.Key | None = None,
                           pntk_mode: Annotated[str, V.OneOf("sum", "first")] = "sum",
                           chunk_size: V.PositiveInt = 4096, sharding=None,
                           structured: bool = True, **kwargs) -> MatfreeResult:
    """:func:`matfree_regression` for an :class:`~ntk_explore.core.models.MLP`.

    The kernel is exactly ``mlp_ntk(model)`` / ``mlp_pntk(model)`` (the model's
    learning-rate scales included). ``structured=True`` uses
    :func:`mlp_tangent_operator` (cached layer inputs and backprop signals: half
    the flops of the generic cached VJP/JVP); ``False`` the generic
    :func:`tangent_operator`. With ``rank > 0`` the Nystrom columns come from those
    structured kernels. ``x_train (n, d)``, ``y_train (n, k)`` (both kernels; the
    pNTK solves ``k`` right-hand sides), ``x_test (t, d)`` -> ``predictions (t, k)``.
    Other keyword arguments go to :func:`matfree_regression`.
    """
    if structured:
        op = mlp_tangent_operator(model, params, x_train, kernel=kernel, pntk_mode=pntk_mode,
                                  chunk_size=chunk_size, sharding=sharding)
    else:
        op = tangent_operator(model.apply, params, x_train, kernel=kernel,
                              lr_scales=model.lr_scales(), pntk_mode=pntk_mode,
                              chunk_size=chunk_size, sharding=sharding)
    columns = mlp_ntk(model) if kernel == "entk" else mlp_pntk(model, mode=pntk_mode)
    return matfree_regression(model.apply, params, x_train, y_train, x_test, kernel=kernel,
                              ridge=ridge, rank=rank, key=key, operator=op,
                              columns=columns if rank > 0 else None, **kwargs)


@V.checked
def matfree_kernel_predict(model: _Model, params: _Params,
                           x: Annotated[jax.Array, V.Inputs(2, model="model")],
                           y: Annotated[jax.Array, V.Inputs(None, rows_of="x")], x_test: _XTest,
                           *, kernel: _Kernel = "pntk", ridge: V.NonNegativeFloat = 1e-3,
                           rank: V.NonNegativeInt = 1000, key: V.Key | None = None,
                           tol: V.OpenUnitInterval = 1e-4, progress: bool = False,
                           return_result: bool = False, **kwargs):
    """Kernel regression with an MLP's tangent kernel for large ``n``, no kernel matrix.

    The matrix-free counterpart of the dense learners (``kernel_predict`` in
    :mod:`ntk_explore.topics.scaling`): ``x (n, d)``, ``y (n, k)``,
    ``x_test (T, d)`` -> predictions ``(T, k)`` (NumPy, float64). ``ridge`` is
    relative to the kernel's mean diagonal (``trace / n``); ``0`` is the
    ridgeless limit (see the module docstring), which CG reaches slowly at large
    ``n``. ``rank`` columns build the Nystrom preconditioner (subset drawn with
    ``key``, default ``jax.random.key(0)``), capped at ``n // 2``; ``tol`` is the
    relative residual. ``return_result``: return the whole :class:`MatfreeResult`
    (iterations, residual, times) instead of the predictions alone. Other keyword
    arguments go to :func:`mlp_matfree_regression`.

    Raises:
      ConvergenceError: CG did not reach ``tol``.
    """
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    dense = mlp_pntk(model) if kernel == "pntk" else mlp_ntk(model)
    scale = mean_diagonal(dense, x, params) if ridge > 0 else 0.0
    rank = min(int(rank), x.shape[0] // 2 * (1 if kernel == "pntk" else model.out_dim))
    key = jax.random.key(0) if key is None else key
    res = mlp_matfree_regression(model, params, x, jnp.asarray(y, x.dtype), x_test,
                                 kernel=kernel, ridge=ridge * scale, rank=rank, key=key,
                                 tol=tol, progress=progress, **kwargs)
    return res if return_result else np.asarray(res.predictions, np.float64)
