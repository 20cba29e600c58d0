"""The pseudo-NTK (pNTK) as a stand-in for the full empirical NTK.

A net with ``k`` outputs has an eNTK of shape ``(n1, n2, k, k)``; its pNTK is
the ``(n1, n2)`` tangent kernel of ``sum_c f_c / sqrt(k)`` (Mohamadi, Bae and
Sutherland). At init ``E[eNTK] = E[pNTK] I_k`` and

    ||eNTK - pNTK (x) I_k||_F / ||eNTK||_F = O(1 / sqrt(width)).

This module measures that gap against width (at init and after training),
judges the claim that it falls like ``width^-1/2`` (:func:`pntk_verdict`, claim
``'pntk_gap'`` of :mod:`ntk_explore.core.verdicts`), compares kernel-regression
predictions made with each kernel (and the time of each solve), and times both
kernels as ``k`` grows.

Source: :data:`~ntk_explore.core.verdicts.PNTK` (Mohamadi, Bae & Sutherland 2023).
"""

from __future__ import annotations

import dataclasses
import math
import time
import types
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ..core import validation as V
from ..core.datasets import digits_task
from ..core.kernel_regression import RCOND_CHOLESKY
from ..core.kernels import (
    check_kernel_memory,
    flatten_blocks,
    kernel_regression,
    mlp_ntk,
    mlp_pntk,
    regress,
)
from ..core.metrics import LogLogFit, fit_loglog, relative_frobenius, relative_norm
from ..core.models import InputsArg, ModelArg, ParamsArg, mlp
from ..core.training import train
from ..core.verdicts import Verdict, judge

__all__ = [
    "pntk_gap", "GapSweep", "gap_vs_width", "RegressionComparison", "entk_regression",
    "compare_regression",
    "CostRow", "cost_vs_k", "full_entk_bytes",
    "VERDICT_SETTINGS", "verdict_sweep", "pntk_verdict",
]

VERDICT_SETTINGS = types.MappingProxyType(dict(n_points=32, widths=(64, 256, 1024, 4096), seeds=2,
                                                out_dim=10, depth=1, seed=1))
"""Where the ``'pntk_gap'`` claim is judged (the tour and notebook 08 alike): the first
``n_points`` ``load_digits`` training images, these widths, ``seeds`` initialisations per
width from ``jax.random.key(seed)``, ``out_dim`` outputs, one hidden ReLU layer."""


def _kron_eye(p, k: int):
    """``(n1, n2) -> (n1, n2, k, k)``: ``p (x) I_k`` laid out like eNTK blocks."""
    return p[:, :, None, None] * jnp.eye(k, dtype=p.dtype)[None, None]


@V.checked
def pntk_gap(model: ModelArg, params: ParamsArg, x: InputsArg, *, mode: str = "sum") -> float:
    """``||eNTK - pNTK (x) I_k||_F / ||eNTK||_F`` on inputs ``x (n, d)``."""
    x = jnp.asarray(x)
    entk = mlp_ntk(model)(x, None, params)  # (n, n, k, k)
    p = mlp_pntk(model, mode=mode)(x, None, params)  # (n, n)
    return float(relative_norm(_kron_eye(p, model.out_dim), entk))


@dataclasses.dataclass(frozen=True)
class GapSweep:
    """Relative pNTK/eNTK gaps ``gaps (seeds, widths)`` at ``widths (W,)``."""

    widths: np.ndarray
    gaps: np.ndarray
    train_steps: int

    @property
    def mean(self) -> np.ndarray:
        return self.gaps.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        return self.gaps.std(axis=0, ddof=1) / math.sqrt(self.gaps.shape[0])

    @property
    def fit(self) -> LogLogFit:
        """Log-log fit of the seed-averaged gap against width (theory at init: -1/2)."""
        return fit_loglog(self.widths, self.mean)


@V.checked
def gap_vs_width(x: V.FiniteArray, widths: V.Sizes, *, key: V.Key, seeds: V.PositiveInt = 3,
                 out_dim: V.PositiveInt = 10, depth: V.PositiveInt = 1, y=None,
                 train_steps: V.NonNegativeInt = 0, lr: V.PositiveFloat = 1.0, mode: str = "sum") -> GapSweep:
    """pNTK/eNTK gap per width and seed, at init (``train_steps=0``) or after GD.

    Args:
      x: ``(n, d)`` inputs on which both kernels are compared.
      widths: hidden widths (>= 3 values for a fit).
      key: seed ``s`` initialises with ``fold_in(key, s)`` at every width.
      seeds: initialisations per width (>= 2).
      out_dim, depth: the ReLU MLP in NTK parametrization.
      y: ``(n, out_dim)`` targets, needed when ``train_steps > 0`` (full-batch
        GD on the MSE loss at rate ``lr``).
    """
    if seeds < 2:
        raise ValueError(f"seeds must be >= 2, got {seeds}")
    if train_steps and y is None:
        raise ValueError("train_steps > 0 needs targets y of shape (n, out_dim)")
    x = jnp.asarray(x)
    widths = np.asarray(sorted(int(w) for w in widths))
    gaps = np.zeros((seeds, widths.size))
    for j, width in enumerate(widths):
        model = mlp(x.shape[1], int(width), depth, out_dim)
        for s in range(seeds):
            params = model.init(jax.random.fold_in(key, s))
            if train_steps:
                params = train(model.apply, params, x, y, lr=lr, steps=train_steps,
                               progress=False).params
            gaps[s, j] = pntk_gap(model, params, x, mode=mode)
    return GapSweep(widths, gaps, int(train_steps))


def verdict_sweep(train_steps: int = 0, *, seed: int | None = None, lr: float = 1.0) -> GapSweep:
    """:func:`gap_vs_width` at :data:`VERDICT_SETTINGS` on ``load_digits`` (trained on its
    one-hot targets when ``train_steps > 0``; ``seed`` replaces the settings' seed)."""
    s = VERDICT_SETTINGS
    task = digits_task()
    n, k = s["n_points"], s["out_dim"]
    return gap_vs_width(task.x[:n], s["widths"], key=jax.random.key(s["seed"] if seed is None else seed),
                        seeds=s["seeds"], out_dim=k, depth=s["depth"], y=task.y[:n, :k],
                        train_steps=train_steps, lr=lr)


def pntk_verdict(sweep: GapSweep | None = None) -> Verdict:
    """The ``'pntk_gap'`` claim judged on a gap-vs-width ``sweep`` (default:
    :func:`verdict_sweep`, at init).

    Measured: the log-log slope of the seed-averaged relative gap against width, with the
    fit's 95% interval; side condition: the gap falls at every width step. A ``sweep`` made
    elsewhere (notebook 08's app) at :data:`VERDICT_SETTINGS` gives the same verdict.
    """
    sweep = verdict_sweep() if sweep is None else sweep
    fit = sweep.fit
    w = sweep.widths
    when = "at init" if sweep.train_steps == 0 else f"after {sweep.train_steps} GD steps"
    return judge("pntk_gap", fit.slope, fit.ci95,
                 measured_what=(f"log-log slope of ||eNTK - pNTK x I|| / ||eNTK|| vs width "
                                f"({w[0]}-{w[-1]}, {when})"),
                 interval_what="95% CI of the fit", extra=bool(np.all(np.diff(sweep.mean) < 0)),
                 detail=f"gap {sweep.mean[0]:.3f} at width {w[0]}, {sweep.mean[-1]:.4f} at width {w[-1]}")


class RegressionComparison(NamedTuple):
    """Kernel-regression predictions ``(T, k)`` with the eNTK and with ``pNTK (x) I_k``.

    ``rel_diff`` = ``||pred_pntk - pred_entk|| / ||pred_entk||``; accuracies are
    argmax accuracies against ``labels_test``; ``seconds_entk``/``seconds_pntk``: wall time
    of each route (its kernels, any compilation, and its solve).
    """

    pred_entk: np.ndarray
    pred_pntk: np.ndarray
    rel_diff: float
    acc_entk: float
    acc_pntk: float
    seconds_entk: float = math.nan
    seconds_pntk: float = math.nan


def _entk_row_blocks(ent, x1, x2, params, block: int):
    """Yield ``(row0, rows)``: flattened eNTK rows ``(b k, n2 k)`` for ``block`` inputs of ``x1``
    at a time (the last block padded, so every block has one shape and compiles once)."""
    n1 = x1.shape[0]
    size = min(block, n1)
    for i in range(0, n1, size):
        xb = x1[i:i + size]
        real = xb.shape[0]
        if real < size:
            xb = jnp.concatenate([xb, jnp.broadcast_to(x1[:1], (size - real,) + x1.shape[1:])])
        yield i, np.asarray(flatten_blocks(ent(xb, x2, params)[:real]))


@V.checked
def entk_regression(model: ModelArg, params: ParamsArg, x: InputsArg, y, x_test: InputsArg, *,
                    ridge: V.NonNegativeFloat = 0.0, block: V.PositiveInt = 100) -> np.ndarray:
    """Kernel regression with the full eNTK: ``x (n, d)``, ``y (n, k)``, ``x_test (T, d)`` -> ``(T, k)``.

    The same numbers as ``core.kernels.regress(flatten_blocks(eNTK(x, x)), y.reshape(-1),
    flatten_blocks(eNTK(x_test, x)), ridge).reshape(-1, k)`` (float64 Cholesky
    solve when well conditioned, else the minimum-norm eigendecomposition route, as in
    :func:`~ntk_explore.core.kernels.kernel_regression`), in bounded memory: the eNTK
    is computed ``block`` inputs at a time straight into one float64
    ``(n k, n k)`` matrix, which is factorised in place, and the test kernel is
    only ever held ``block`` inputs at a time. (``core.kernels.regress`` holds about
    five such matrices plus both kernels: over 400 MB for n = 300, k = 10.)
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    ent = mlp_ntk(model)
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    k = model.out_dim
    m = x.shape[0] * k

    def train_kernel():
        a = np.empty((m, m), np.float64, order="F")
        for i, rows in _entk_row_blocks(ent, x, x, params, block):
            a[i * k:i * k + rows.shape[0]] = rows
        return a

    a = train_kernel()
    yv = np.reshape(np.asarray(y, np.float64), (-1,))
    diag = np.diag(a).copy()
    ridge_abs = ridge * float(np.mean(diag))  # regress: relative to the mean diagonal
    alpha = None
    a.flat[:: m + 1] = diag + ridge_abs
    anorm = float(np.linalg.norm(a, 1))
    try:
        factor = scipy.linalg.cho_factor(a, lower=True, overwrite_a=True)
        rcond, info = scipy.linalg.lapack.dpocon(factor[0], anorm, uplo="L")
        if info == 0 and rcond > RCOND_CHOLESKY:  # kernel_regression's criterion
            alpha = scipy.linalg.cho_solve(factor, yv)
    except np.linalg.LinAlgError:
        pass
    del a
    if alpha is None:  # singular or ill-conditioned: kernel_regression's eigen route
        a = train_kernel()
        a.flat[:: m + 1] += ridge_abs
        alpha = kernel_regression(a, yv, np.eye(m))
        del a
    pred = np.empty((x_test.shape[0] * k,), np.float64)
    for i, rows in _entk_row_blocks(ent, x_test, x, params, block):
        pred[i * k:i * k + rows.shape[0]] = rows.astype(np.float64) @ alpha
    return pred.reshape(-1, k)


@V.checked
def compare_regression(model: ModelArg, params: ParamsArg, x: InputsArg, y, x_test: InputsArg, labels_test, *,
                       ridge: V.NonNegativeFloat = 0.0) -> RegressionComparison:
    """Kernel regression on ``x (n, d)``, ``y (n, k)`` with each kernel; test on ``x_test (T, d)``.

    The pNTK route solves one ``(n, n)`` system with ``k`` right-hand sides; the
    eNTK route one ``(n k, n k)`` system.
    """
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    t0 = time.perf_counter()
    pred_e = entk_regression(model, params, x, y, x_test, ridge=ridge)
    t1 = time.perf_counter()
    pn = mlp_pntk(model)
    pred_p = np.asarray(regress(pn(x, None, params), y, pn(x_test, x, params), ridge))
    t2 = time.perf_counter()
    labels_test = np.asarray(labels_test)
    return RegressionComparison(
        pred_e, pred_p, relative_frobenius(pred_p, pred_e),
        float(np.mean(pred_e.argmax(1) == labels_test)),
        float(np.mean(pred_p.argmax(1) == labels_test)), t1 - t0, t2 - t1)


class CostRow(NamedTuple):
    """Seconds and bytes of one ``(n, n)`` kernel evaluation for ``k`` outputs."""

    k: int
    time_entk: float
    time_pntk: float
    bytes_entk: int
    bytes_pntk: int

    @property
    def time_ratio(self) -> float:
        return self.time_entk / self.time_pntk

    @property
    def memory_ratio(self) -> float:
        return self.bytes_entk / self.bytes_pntk


def _best_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


@V.checked
def cost_vs_k(ks: V.Sizes, *, n: V.PositiveInt = 256, d: V.PositiveInt = 64, width: V.PositiveInt = 256,
              depth: V.PositiveInt = 1, key: V.Key, repeats: V.PositiveInt = 3) -> list[CostRow]:
    """Best-of-``repeats`` time of the structured eNTK and pNTK on ``n`` random inputs, per ``k``.

    Returns one :class:`CostRow` per ``k``; bytes are the kernels' own sizes
    (``n * n * k * k`` and ``n * n`` items).
    """
    kx, kp = jax.random.split(key)
    x = jax.random.normal(kx, (n, d))
    rows = []
    for k in ks:
        model = mlp(d, width, depth, int(k))
        params = model.init(kp, dtype=x.dtype)
        ent, pn = mlp_ntk(model), mlp_pntk(model)
        item = x.dtype.itemsize
        rows.append(CostRow(
            int(k), _best_time(lambda: ent(x, None, params), repeats),
            _best_time(lambda: pn(x, None, params), repeats),
            check_kernel_memory(n, n, k, item, limit_bytes=math.inf),
            check_kernel_memory(n, n, 1, item, limit_bytes=math.inf)))
    return rows


@V.checked
def full_entk_bytes(n: V.PositiveInt = 50_000, k: V.PositiveInt = 10,
                    itemsize: V.PositiveInt = 8) -> tuple[int, int]:
    """Bytes of a full ``(n, n, k, k)`` eNTK and of the ``(n, n)`` pNTK (no allocation).

    Defaults: a CIFAR-10-sized training set (``n = 50,000``, ``k = 10``) in float64.
    """
    return (check_kernel_memory(n, n, k, itemsize, limit_bytes=math.inf),
            check_kernel_memory(n, n, 1, itemsize, limit_bytes=math.inf))
