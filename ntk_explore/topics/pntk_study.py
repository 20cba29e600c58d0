"""The pseudo-NTK (pNTK) as a stand-in for the full empirical NTK.

A net with ``k`` outputs has an eNTK of shape ``(n1, n2, k, k)``; its pNTK is
the ``(n1, n2)`` tangent kernel of ``sum_c f_c / sqrt(k)`` (Mohamadi, Bae and
Sutherland). At init ``E[eNTK] = E[pNTK] I_k`` and

    ||eNTK - pNTK (x) I_k||_F / ||eNTK||_F = O(1 / sqrt(width)).

This module measures that gap against width (at init and after training),
compares kernel-regression predictions made with each kernel, and times both
kernels as ``k`` grows.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ..core import validation as V
from ..core.kernels import (
    RCOND_CHOLESKY,
    check_kernel_memory,
    flatten_blocks,
    kernel_regression,
    mlp_ntk,
    mlp_pntk,
)
from ..core.models import MLP, mlp
from ..core.training import train
from .regimes import LogLogFit, fit_loglog
from .scaling import init_params, regress

__all__ = [
    "pntk_gap", "GapSweep", "gap_vs_width", "GapExplorer", "RegressionComparison", "entk_regression",
    "compare_regression",
    "CostRow", "cost_vs_k", "full_entk_bytes",
]


def _kron_eye(p, k: int):
    """``(n1, n2) -> (n1, n2, k, k)``: ``p (x) I_k`` laid out like eNTK blocks."""
    return p[:, :, None, None] * jnp.eye(k, dtype=p.dtype)[None, None]


@V.checked
def pntk_gap(model: MLP, params, x, *, mode: str = "sum") -> float:
    """``||eNTK - pNTK (x) I_k||_F / ||eNTK||_F`` on inputs ``x (n, d)``."""
    x = jnp.asarray(x)
    entk = mlp_ntk(model)(x, None, params)  # (n, n, k, k)
    p = mlp_pntk(model, mode=mode)(x, None, params)  # (n, n)
    return float(jnp.linalg.norm(entk - _kron_eye(p, model.out_dim)) / jnp.linalg.norm(entk))


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
def gap_vs_width(x, widths: Sequence[int], *, key: jax.Array, seeds: int = 3, out_dim: int = 10,
                 depth: int = 1, y=None, train_steps: int = 0, lr: float = 1.0,
                 mode: str = "sum") -> GapSweep:
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


def _pad_outputs(params, k_max: int):
    """Readout ``w (k, width)``, ``b (k,)`` -> zero-padded ``(k_max, width)``, ``(k_max,)``
    (in NumPy: no per-``k`` compile)."""
    last = {}
    for name, v in params[-1].items():
        v = np.asarray(v)
        last[name] = jnp.asarray(np.concatenate([v, np.zeros((k_max - v.shape[0],) + v.shape[1:],
                                                             v.dtype)]))
    return list(params[:-1]) + [last]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _masked_gap(model: MLP, mode: str, params, x, mask):
    """pNTK/eNTK gap of the first ``sum(mask)`` outputs of ``model`` (``mask (k_max,)``).

    The eNTK of those outputs is the masked block of the full eNTK; their pNTK is
    ``m^T eNTK m / k`` (``mode='sum'``: the gradient of ``sum_{c<k} f_c / sqrt(k)``)
    or ``eNTK[..., 0, 0]`` (``'first'``).
    """
    e = mlp_ntk(model)(x, None, params) * (mask[:, None] * mask[None, :])[None, None]
    k = jnp.sum(mask)
    p = jnp.sum(e, axis=(2, 3)) / k if mode == "sum" else e[:, :, 0, 0]
    diff = e - p[:, :, None, None] * jnp.diag(mask)[None, None]
    return jnp.linalg.norm(diff) / jnp.linalg.norm(e)


@functools.partial(jax.jit, static_argnums=0)
def _masked_gd(model: MLP, params, x, y, mask, lr, count):
    """``count`` GD steps on ``0.5 * sum(mask * (f(params, x) - y)**2) / n`` (mask over outputs)."""
    n = x.shape[0]

    def body(_, p):
        grads = jax.grad(lambda q: 0.5 * jnp.sum(mask[None, :] * (model.apply(q, x) - y) ** 2) / n)(p)
        return jax.tree.map(lambda a, g: a - lr * g, p, grads)

    return jax.lax.fori_loop(0, count, body, params)


class GapExplorer:
    """:func:`gap_vs_width` for every ``out_dim <= k_max`` and step count, with caches.

    :meth:`sweep` returns the same :class:`GapSweep` as
    ``gap_vs_width(x, widths, key=key, seeds=seeds, out_dim=k, y=y[:, :k],
    train_steps=steps, ...)`` (up to float rounding), computed once per width
    with a ``k_max``-output net whose readout rows ``>= k`` are zero and masked
    out of the loss and the kernels. That net's first ``k`` outputs, its
    training and its eNTK block are exactly those of the ``k``-output net, so
    a new ``k`` or ``steps`` recompiles nothing: every init comes from one
    normal draw per seed (:func:`~ntk_explore.topics.scaling.init_params`), and per
    width there is one GD loop with a traced step count and one gap function.
    GD checkpoints at ``save_at`` steps are kept for the ``max_ks`` most recent
    ``k``: more steps resume from the last one, fewer are a lookup.
    """

    def __init__(self, x, widths: Sequence[int], *, key: jax.Array, seeds: int = 3,
                 k_max: int = 10, depth: int = 1, y=None, lr: float = 1.0, mode: str = "sum",
                 save_at: Sequence[int] = (), max_ks: int = 2):
        if seeds < 2:
            raise ValueError(f"seeds must be >= 2, got {seeds}")
        if mode not in ("sum", "first"):
            raise ValueError(f"unknown pNTK mode {mode!r}; choose 'sum' or 'first'")
        self.x = jnp.asarray(x)
        self.widths = np.asarray(sorted(int(w) for w in widths))
        self.key, self.seeds, self.k_max, self.depth = key, seeds, int(k_max), depth
        self.lr, self.mode, self.save_at = lr, mode, tuple(int(s) for s in save_at)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and self.y.shape != (self.x.shape[0], self.k_max):
            raise ValueError(f"y must be (n, k_max) = {(self.x.shape[0], self.k_max)}, got {self.y.shape}")
        self._runs = collections.OrderedDict()  # k -> {(width, seed): {step: params}}
        self._max_ks = max_ks

    def _padded_model(self, width: int) -> MLP:
        return mlp(self.x.shape[1], int(width), self.depth, self.k_max)

    def init(self, width: int, seed: int, k: int):
        """Params of ``mlp(d, width, depth, k).init(fold_in(key, seed))``, padded to ``k_max`` outputs."""
        model = mlp(self.x.shape[1], int(width), self.depth, k)
        params = init_params(model, jax.random.fold_in(self.key, seed),
                             draw_size=self._padded_model(self.widths[-1]).num_params)
        return _pad_outputs(params, self.k_max)

    def _mask(self, k: int):
        return jnp.asarray(np.arange(self.k_max) < k, self.x.dtype)

    def _trained(self, width: int, seed: int, k: int, steps: int):
        if k not in self._runs:
            self._runs[k] = {}
            while len(self._runs) > self._max_ks:
                self._runs.popitem(last=False)
        self._runs.move_to_end(k)
        saved = self._runs[k].setdefault((width, seed), {0: self.init(width, seed, k)})
        if steps not in saved:
            s0 = max(s for s in saved if s < steps)
            params = saved[s0]
            y = jnp.asarray(np.where(np.arange(self.k_max) < k, self.y, 0.0), self.x.dtype)
            for s in sorted({v for v in self.save_at if s0 < v < steps} | {steps}):
                params = _masked_gd(self._padded_model(width), params, self.x, y, self._mask(k),
                                    self.lr, s - s0)
                saved[s], s0 = params, s
        return saved[steps]

    def sweep(self, out_dim: int, train_steps: int = 0) -> GapSweep:
        """:class:`GapSweep` for ``out_dim`` outputs after ``train_steps`` GD steps."""
        k, steps = int(out_dim), int(train_steps)
        if not 1 <= k <= self.k_max:
            raise ValueError(f"out_dim must be in [1, {self.k_max}], got {out_dim}")
        if steps and self.y is None:
            raise ValueError("train_steps > 0 needs targets y of shape (n, k_max)")
        gaps = np.zeros((self.seeds, self.widths.size))
        for j, width in enumerate(self.widths):
            for s in range(self.seeds):
                params = self._trained(int(width), s, k, steps)
                gaps[s, j] = float(_masked_gap(self._padded_model(width), self.mode, params,
                                               self.x, self._mask(k)))
        return GapSweep(self.widths, gaps, steps)


class RegressionComparison(NamedTuple):
    """Kernel-regression predictions ``(T, k)`` with the eNTK and with ``pNTK (x) I_k``.

    ``rel_diff`` = ``||pred_pntk - pred_entk|| / ||pred_entk||``; accuracies are
    argmax accuracies against ``labels_test``.
    """

    pred_entk: np.ndarray
    pred_pntk: np.ndarray
    rel_diff: float
    acc_entk: float
    acc_pntk: float


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
def entk_regression(model: MLP, params, x, y, x_test, *, ridge: float = 0.0,
                    block: int = 100) -> np.ndarray:
    """Kernel regression with the full eNTK: ``x (n, d)``, ``y (n, k)``, ``x_test (T, d)`` -> ``(T, k)``.

    The same numbers as ``scaling.regress(flatten_blocks(eNTK(x, x)), y.reshape(-1),
    flatten_blocks(eNTK(x_test, x)), ridge).reshape(-1, k)`` (float64 Cholesky
    solve when well conditioned, else the minimum-norm eigendecomposition route, as in
    :func:`~ntk_explore.core.kernels.kernel_regression`), in bounded memory: the eNTK
    is computed ``block`` inputs at a time straight into one float64
    ``(n k, n k)`` matrix, which is factorised in place, and the test kernel is
    only ever held ``block`` inputs at a time. (``scaling.regress`` holds about
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
def compare_regression(model: MLP, params, x, y, x_test, labels_test, *,
                       ridge: float = 0.0) -> RegressionComparison:
    """Kernel regression on ``x (n, d)``, ``y (n, k)`` with each kernel; test on ``x_test (T, d)``.

    The pNTK route solves one ``(n, n)`` system with ``k`` right-hand sides; the
    eNTK route one ``(n k, n k)`` system.
    """
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    pred_e = entk_regression(model, params, x, y, x_test, ridge=ridge)
    pn = mlp_pntk(model)
    pred_p = regress(pn(x, None, params), y, pn(x_test, x, params), ridge)
    labels_test = np.asarray(labels_test)
    return RegressionComparison(
        pred_e, pred_p, float(np.linalg.norm(pred_p - pred_e) / np.linalg.norm(pred_e)),
        float(np.mean(pred_e.argmax(1) == labels_test)),
        float(np.mean(pred_p.argmax(1) == labels_test)))


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
def cost_vs_k(ks: Sequence[int], *, n: int = 256, d: int = 64, width: int = 256, depth: int = 1,
              key: jax.Array, repeats: int = 3) -> list[CostRow]:
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
def full_entk_bytes(n: int = 50_000, k: int = 10, itemsize: int = 8) -> tuple[int, int]:
    """Bytes of a full ``(n, n, k, k)`` eNTK and of the ``(n, n)`` pNTK (no allocation).

    Defaults: a CIFAR-10-sized training set (``n = 50,000``, ``k = 10``) in float64.
    """
    return (check_kernel_memory(n, n, k, itemsize, limit_bytes=math.inf),
            check_kernel_memory(n, n, 1, itemsize, limit_bytes=math.inf))
