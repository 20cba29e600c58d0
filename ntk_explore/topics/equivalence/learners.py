"""Three learners (net, linearized, infinite NTK) on one task, and the width sweep.

See the package docstring (:mod:`ntk_explore.topics.equivalence`)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ...core import validation as V
from ...core.kernels import infinite_kernel_fn, structured_ntk
from ...core.linearized import mse_dynamics, stable_lr
from ...core.metrics import LogLogFit, fit_loglog, relative_frobenius, rms
from ...core.models import MLP, mlp
from ...core.training import DivergenceError, full_loss, gd_segment, record_points

__all__ = [
    "RegressionTask", "regression_task", "LearnerCurves", "ThreeLearners", "three_learners",
    "WidthSweep", "width_sweep", "rms", "precompile_net", "SWEEP", "SweepSettings", "pooled_fit",
]

@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """Notebook 02's width sweep: the ``task`` (key ``task_seed``, ``n_train`` points),
    ``depth`` hidden layers, NTK and muP parametrization, training time ``lr * steps``,
    ``seeds`` initialisations (``fold_in(key(seed), s)``) per width."""

    task: str = "sphere"
    task_seed: int = 0
    n_train: int = 16
    widths: tuple = (64, 128, 256, 512, 1024)
    seed: int = 2
    seeds: int = 8
    depth: int = 1
    lr: float = 0.1
    steps: int = 200


SWEEP = SweepSettings()
"""The settings the claims of :func:`sweep_verdicts` are judged at. The kernel's motion at
width 64 varies several-fold from one initialisation to the next: with 4 seeds the NTK
slope came out -0.85 in float32 and -0.60 in float64 (other random draws), with 8 seeds
-0.80 [-0.91, -0.68] and -0.67 [-0.77, -0.56], both inside the claim's band."""


class RegressionTask(NamedTuple):
    """``x_train (n, d)``, ``y_train (n, 1)``, ``x_test (m, d)``, ``y_test (m, 1)``.

    For the 1-D task ``x_test`` is a sorted grid, so test outputs plot as curves.
    """

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    name: str


@V.checked
def regression_task(kind: str = "1d", *, key: V.Key, n_train: V.PositiveInt = 16, n_test: V.PositiveInt = 128,
                    dim: V.PositiveInt = 5, dtype=None) -> RegressionTask:
    """A small regression task with a known target.

    * ``'1d'``: ``y = sin(2 x)`` on ``x in [-2, 2]`` (``n_train`` random points,
      an ``n_test`` grid); inputs ``(n, 1)``.
    * ``'sphere'``: ``x`` uniform on the unit sphere in ``R^dim``,
      ``y = sin(2 u.x) + (v.x)**2`` for fixed random unit ``u, v``.
    """
    if kind not in ("1d", "sphere"):
        raise ValueError(f"unknown task {kind!r}; choose '1d' or 'sphere'")
    if n_train < 2 or n_test < 2:
        raise ValueError(f"need n_train >= 2 and n_test >= 2, got {n_train}, {n_test}")
    dtype = dtype or jnp.zeros(()).dtype
    k1, k2, k3 = jax.random.split(key, 3)
    if kind == "1d":
        x = jnp.sort(jax.random.uniform(k1, (n_train, 1), dtype, -2.0, 2.0), axis=0)
        xt = jnp.linspace(-2.0, 2.0, n_test, dtype=dtype)[:, None]
        f = lambda z: jnp.sin(2.0 * z)  # noqa: E731
    else:
        from ...core.datasets import sphere

        x, xt = sphere(k1, n_train, dim, dtype), sphere(k2, n_test, dim, dtype)
        uv = sphere(k3, 2, dim, dtype)
        f = lambda z: (jnp.sin(2.0 * z @ uv[0]) + (z @ uv[1]) ** 2)[:, None]  # noqa: E731
    return RegressionTask(x, f(x), xt, f(xt), kind)


class LearnerCurves(NamedTuple):
    """One learner over the recorded steps ``(T,)``: losses ``(T,)``, test outputs ``(T, m)``."""

    train_loss: np.ndarray
    test_loss: np.ndarray
    test_out: np.ndarray


class ThreeLearners(NamedTuple):
    """Result of :func:`three_learners`.

    Attributes:
      steps, times: ``(T,)`` recorded GD steps and times ``t = lr_eff * steps``.
      net, linear: :class:`LearnerCurves` of the MLP and its linearization.
      infinite: the infinite-width NTK learner, ``None`` for ``'standard'``
        (its tangent kernel has no limit).
      net_lin_distance: ``(T,)`` RMS over test points of ``f_net - f_lin``.
      kernel_steps: ``(S,)``; kernel_motion: ``(S,)`` ``||K_t - K_0||_F / ||K_0||_F``
        of the eNTK on the training inputs.
      final_distance_to_ntk: RMS of ``f_net - f_ntk`` on test points at the end
        (``nan`` without an infinite learner).
      diverged_at: GD step at which the net diverged, else ``None``.
      lr_eff: the rate actually used, ``lr / alpha**2``.
      lr_limit: the largest ``lr`` (before the ``1 / alpha**2`` rescaling) for which GD
        converges on the linearized model and on the infinite-NTK learner:
        ``alpha**2 * 2 n / lam_max`` of the larger of the two kernels' top eigenvalues.
    """

    steps: np.ndarray
    times: np.ndarray
    net: LearnerCurves
    linear: LearnerCurves
    infinite: LearnerCurves | None
    net_lin_distance: np.ndarray
    kernel_steps: np.ndarray
    kernel_motion: np.ndarray
    final_distance_to_ntk: float
    diverged_at: int | None
    lr_eff: float
    lr_limit: float


def _curves(out_train, out_test, task, shift_train, shift_test) -> LearnerCurves:
    """Losses of outputs ``(T, n, 1)``, ``(T, m, 1)`` (already centred by the shifts)."""
    y, yt = np.asarray(task.y_train, np.float64), np.asarray(task.y_test, np.float64)
    tr = np.asarray(out_train, np.float64) - shift_train
    te = np.asarray(out_test, np.float64) - shift_test
    return LearnerCurves(0.5 * np.mean((tr - y[None]) ** 2, axis=(1, 2)),
                         0.5 * np.mean((te - yt[None]) ** 2, axis=(1, 2)), te[..., 0])


@functools.partial(jax.jit, static_argnums=0)
def _infinite_ntk(model, x_all, x):
    """Infinite-width NTK ``(n + m, n)`` of ``x_all`` against ``x``, compiled once per
    architecture and shapes (neural-tangents run op by op compiled dozens of small programs:
    about 4 s and 150 MB of peak memory on 2 CPU cores for the 1-D task)."""
    return infinite_kernel_fn(model)(x_all, x).ntk


def _infinite_kernels(model, task):
    """Infinite-width NTK ``(n, n)`` and ``(m, n)`` of the task's inputs for ``model``'s
    architecture (JAX keeps the compiled kernel, so a slider move recomputes it cheaply)."""
    # Only architecture fields matter: the limit NTK depends neither on the width nor
    # on ntk vs mup (muP's NTK at init equals the NTK-parametrization one).
    key_model = mlp(model.in_dim, 64, model.depth, model.out_dim, activation=model.activation,
                    parametrization="ntk", base_width=64, sigma_w=model.sigma_w,
                    sigma_b=model.sigma_b, bias=model.bias, alpha=model.alpha)
    x, n = task.x_train, task.x_train.shape[0]
    x_all = jnp.concatenate([x, task.x_test])
    if model.activation == "tanh":  # a NumPy quadrature, not traceable
        both = np.asarray(infinite_kernel_fn(key_model)(x_all, x).ntk)
    else:
        both = np.asarray(_infinite_ntk(key_model, x_all, x))
    k_train = 0.5 * (both[:n] + both[:n].T)  # symmetric to round-off; mse_dynamics checks it
    return k_train, both[n:]


def _check_args(width, depth, lr, steps, f0):
    if not (isinstance(width, int) and width > 0 and isinstance(depth, int) and depth > 0):
        raise ValueError(f"width and depth must be positive integers, got {width!r}, {depth!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be positive and finite, got {lr!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if f0 not in ("net", "zero"):
        raise ValueError(f"f0 must be 'net' or 'zero', got {f0!r}")


@jax.jit
def _net_init(model: MLP, key, x, x_test):
    """Initial parameters and the eNTK ``(t, n, k, k)`` of ``x_test`` against ``x`` at init
    (``model`` traced: one compile per architecture and width)."""
    params = model.init(key, x.dtype)
    proj = jnp.eye(model.out_dim, dtype=x.dtype)
    return params, structured_ntk(model, params, x_test, x, proj)


def _record(model: MLP, params, x, y, x_rec):
    """What a segment of :func:`_train_net` records: training loss, outputs on ``x_rec``
    ``(m, k)`` and the eNTK on ``x`` ``(n, n, k, k)``."""
    proj = jnp.eye(y.shape[1], dtype=x.dtype)
    return (full_loss(model, params, x, y), model.apply(params, x_rec),
            structured_ntk(model, params, x, None, proj))


class _NetRun(NamedTuple):
    steps: np.ndarray
    outputs: np.ndarray
    ntk_steps: np.ndarray
    ntks: np.ndarray
    ntk_test: np.ndarray
    diverged_at: int | None


def _train_net(model: MLP, key, x, y, x_rec, x_test, *, lr, steps, record_every, ntk_steps,
               divergence_factor: float = 1e4) -> _NetRun:
    """What :func:`~ntk_explore.core.training.train` records for full-batch GD from
    ``model.init(key)`` -- same record points, same divergence rule -- plus the
    eNTK of ``x_test`` against ``x`` at init. The segments are the core's
    :func:`~ntk_explore.core.training.gd_segment` with the model traced, so ``lr``,
    the step counts, ``alpha`` and the parametrization compile nothing new.
    """
    points = record_points(steps, record_every, ntk_steps)
    lr = np.asarray(lr, x.dtype)
    params, ntk_test = _net_init(model, key, x, x_test)
    scales = model.lr_scales()
    recs, start = [], 0
    for s in points:  # no host sync inside: records stay on the device until the end
        params, rec = gd_segment(model, params, x, y, lr, np.int32(s - start), scales=scales,
                                 record=_record, record_args=(x, y, x_rec))
        recs.append(rec)
        start = int(s)
    losses, outs, ntks = (np.stack(r) for r in zip(*jax.device_get(recs)))
    losses = losses.astype(np.float64)
    limit = divergence_factor * max(float(losses[0]), 1e-8)
    bad = np.flatnonzero(~np.isfinite(losses) | (losses > limit))
    stop = int(bad[0]) if bad.size else points.size
    done = points[:stop]
    keep = np.isin(done, np.asarray(list(ntk_steps), int))
    return _NetRun(done, outs[:stop], done[keep], ntks[:stop][keep], np.asarray(ntk_test),
                   None if stop == points.size else int(points[stop]))


@V.checked
def precompile_net(task: RegressionTask, *, width: V.PositiveInt, depth: V.PositiveInt,
                   sigma_b: V.NonNegativeFloat = 1.0) -> None:
    """Compile :func:`three_learners`' net training for ``task``'s shapes at this width and
    depth (any ``lr``, ``steps``, ``alpha``, parametrization, ``center``), running no GD
    step, and compute the (cached) infinite-width kernels. An app can call it in the
    background for the settings a user may pick next."""
    model = mlp(task.x_train.shape[1], width, depth, sigma_b=sigma_b)
    _infinite_kernels(model, task)  # compiles the limit kernel for this depth and task
    x = task.x_train
    x_all = jnp.concatenate([x, task.x_test])
    params, _ = _net_init(model, jax.random.key(0), x, task.x_test)
    jax.block_until_ready(gd_segment(model, params, x, task.y_train, np.asarray(0.1, x.dtype),
                                     np.int32(0), scales=model.lr_scales(), record=_record,
                                     record_args=(x, task.y_train, x_all)))


@V.checked
def three_learners(task: RegressionTask, *, key: V.Key, width: V.PositiveInt = 256, depth: V.PositiveInt = 2,
                   parametrization: str = "ntk", alpha: V.PositiveFloat = 1.0, lr: V.PositiveFloat = 0.1,
                   steps: V.NonNegativeInt = 400, f0: str = "net", center: bool = False,
                   sigma_b: V.NonNegativeFloat = 1.0, records: V.PositiveInt = 40,
                   kernel_records: V.PositiveInt = 9, progress: bool = False) -> ThreeLearners:
    """Train the net, its linearization and the infinite-width NTK learner.

    Args:
      task: :class:`RegressionTask` with one output.
      key: PRNG key for the initialisation.
      width, depth, parametrization, alpha, sigma_b: the MLP
        (:func:`~ntk_explore.core.models.mlp`; ``sigma_w = sqrt(2)``). Biases of order
        one (``sigma_b = 1``, not the package's 0.1) spread the ReLU kinks of a
        1-D input over its range; with tiny biases every kink sits near ``x = 0``,
        the tangent kernel is nearly rank two on a line, and the net leaves its
        linearization even at width 1024.
      lr: learning rate before the ``1 / alpha**2`` rescaling.
      steps: full-batch GD steps.
      f0: initial function of the infinite learner (see the module docstring).
      center: train ``f - f0`` so that every learner starts at zero.
      records, kernel_records: about how many loss / eNTK snapshots to keep.
      progress: accepted for compatibility; the net trains in one compiled call.

    The net is trained exactly as :func:`~ntk_explore.core.training.train` would
    (full-batch GD with ``model.lr_scales()``, same record points and divergence
    rule), but in one compiled call whose scalars are traced, so that slider
    moves of ``lr``, ``steps``, ``alpha``, parametrization or ``center`` reuse it.

    Returns:
      :class:`ThreeLearners`. A net that diverges is reported through
      ``diverged_at`` (its curves stop there); a learning rate over the
      linearized model's stability limit raises :class:`DivergenceError`.
    """
    _check_args(width, depth, lr, steps, f0)
    model = mlp(task.x_train.shape[1], width, depth, parametrization=parametrization,
                alpha=alpha, sigma_b=sigma_b)
    lr_eff = lr / alpha**2
    x_all = jnp.concatenate([task.x_train, task.x_test])
    n = task.x_train.shape[0]
    ntk_steps = sorted({int(round(s)) for s in np.linspace(0, steps, kernel_records)})
    # f0 first (one extra record at step 0 is free), then the targets shifted by it.
    res = _train_net(model, key, task.x_train, task.y_train, x_all, task.x_test, lr=lr_eff,
                     steps=0, record_every=1, ntk_steps=[0]) if center else None
    if center:
        f0_all = np.asarray(res.outputs[0], np.float64)
        y_fit = task.y_train + jnp.asarray(f0_all[:n], task.y_train.dtype)
    else:
        y_fit = task.y_train
    res = _train_net(model, key, task.x_train, y_fit, x_all, task.x_test, lr=lr_eff,
                     steps=steps, record_every=max(1, steps // records), ntk_steps=ntk_steps)
    f0_train = np.asarray(res.outputs[0, :n], np.float64)
    f0_test = np.asarray(res.outputs[0, n:], np.float64)
    s_tr, s_te = (f0_train, f0_test) if center else (0.0, 0.0)
    rec = res.steps
    net = _curves(res.outputs[:, :n], res.outputs[:, n:], task, s_tr, s_te)
    k_tr, k_te = res.ntks[0], res.ntk_test
    y64 = np.asarray(task.y_train, np.float64) + s_tr
    lin_dyn = mse_dynamics(k_tr, y64, f0_train, ntk_test_train=k_te, f0_test=f0_test,
                           steps=rec, lr=lr_eff)
    linear = _curves(lin_dyn.train, lin_dyn.test, task, s_tr, s_te)
    infinite, final = None, float("nan")
    lr_limit = stable_lr(k_tr, n) * alpha**2
    if parametrization != "standard":
        inf_tr, inf_te = _infinite_kernels(model, task)
        lr_limit = min(lr_limit, stable_lr(inf_tr, n) * alpha**2)
        g_tr, g_te = (f0_train, f0_test) if f0 == "net" or center else (0 * f0_train, 0 * f0_test)
        inf_dyn = mse_dynamics(inf_tr, y64, g_tr, ntk_test_train=inf_te, f0_test=g_te,
                               steps=rec, lr=lr_eff)
        infinite = _curves(inf_dyn.train, inf_dyn.test, task, s_tr, s_te)
        final = float(rms(net.test_out[-1] - infinite.test_out[-1]))
    k0 = res.ntks[0]
    motion = np.array([relative_frobenius(k, k0) for k in res.ntks])
    return ThreeLearners(rec, lr_eff * rec, net, linear, infinite,
                         rms(net.test_out - linear.test_out, axis=1), res.ntk_steps, motion,
                         final, res.diverged_at, lr_eff, lr_limit)


class WidthSweep(NamedTuple):
    """Width sweep for several parametrizations.

    ``test_loss``, ``distance_to_ntk``, ``kernel_motion``: ``(P, seeds, W)`` at the
    end of training (``nan`` where the net diverged); ``fits[p]``: log-log fit of the
    final kernel motion against width, pooled over seeds (:func:`pooled_fit`; ``None``
    with fewer than 3 usable points).
    """

    widths: np.ndarray
    parametrizations: tuple
    test_loss: np.ndarray
    distance_to_ntk: np.ndarray
    kernel_motion: np.ndarray
    ntk_test_loss: np.ndarray
    fits: dict

    def mean(self, field: str) -> np.ndarray:
        """Seed mean of ``field``: ``(P, W)``."""
        return np.nanmean(getattr(self, field), axis=1)


@V.checked
def width_sweep(task: RegressionTask, widths: V.Sizes, *, key: V.Key,
                parametrizations: Sequence[str] = ("ntk", "mup"), seeds: V.PositiveInt = 2,
                depth: V.PositiveInt = 2, lr: V.PositiveFloat = 0.1, steps: V.NonNegativeInt = 400,
                alpha: V.PositiveFloat = 1.0, center: bool = False, sigma_b: V.NonNegativeFloat = 1.0,
                progress: bool = False) -> WidthSweep:
    """Final test loss, distance to the NTK learner and kernel motion vs width.

    Seed ``s`` uses ``fold_in(key, s)`` at every width and parametrization (the
    parametrizations then share their underlying normal draws). ``ntk_test_loss``
    ``(P,)`` is the infinite NTK learner's final test loss (with ``f0 = 0``).
    """
    widths = np.asarray(sorted(int(w) for w in widths))
    if widths.size < 3 or seeds < 1:
        raise ValueError(f"need at least 3 widths and 1 seed, got {widths.size}, {seeds}")
    shape = (len(parametrizations), seeds, widths.size)
    loss, dist, motion = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    ntk_loss = np.full(len(parametrizations), np.nan)
    for p, name in enumerate(parametrizations):
        for s in range(seeds):
            for w, width in enumerate(widths):
                r = three_learners(task, key=jax.random.fold_in(key, s), width=int(width),
                                   depth=depth, parametrization=name, alpha=alpha, lr=lr,
                                   steps=steps, center=center, sigma_b=sigma_b, records=4,
                                   kernel_records=2, progress=progress)
                if r.diverged_at is None:
                    loss[p, s, w], dist[p, s, w] = r.net.test_loss[-1], r.final_distance_to_ntk
                    motion[p, s, w] = r.kernel_motion[-1]
        ntk_loss[p] = _ntk_zero_loss(task, depth, name, lr / alpha**2, steps, alpha, sigma_b)
    fits = {name: _safe_fit(widths, motion[p]) for p, name in enumerate(parametrizations)}
    return WidthSweep(widths, tuple(parametrizations), loss, dist, motion, ntk_loss, fits)


def _ntk_zero_loss(task, depth, parametrization, lr_eff, steps, alpha, sigma_b):
    if parametrization == "standard":
        return float("nan")
    model = mlp(task.x_train.shape[1], 64, depth, parametrization=parametrization, alpha=alpha,
                sigma_b=sigma_b)
    k_tr, k_te = _infinite_kernels(model, task)
    y = np.asarray(task.y_train, np.float64)
    try:
        dyn = mse_dynamics(k_tr, y, 0 * y, ntk_test_train=k_te,
                           f0_test=np.zeros((k_te.shape[0], 1)), steps=[steps], lr=lr_eff)
    except DivergenceError:
        return float("nan")
    return float(0.5 * np.mean((dyn.test[-1] - np.asarray(task.y_test)) ** 2))


def pooled_fit(widths, values) -> LogLogFit:
    """Log-log fit of ``values`` ``(seeds, W)`` (or ``(W,)``) against ``widths`` ``(W,)``
    through every finite, positive (seed, width) point; 95% interval from its residuals.

    Raises ``ValueError`` with fewer than 3 such points or fewer than 2 distinct widths."""
    v = np.atleast_2d(np.asarray(values, np.float64))
    w = np.broadcast_to(np.asarray(widths, np.float64), v.shape)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 3:
        raise ValueError(f"need at least 3 finite, positive values to fit, got {int(ok.sum())}")
    return fit_loglog(w[ok], v[ok])


def _safe_fit(widths, values) -> LogLogFit | None:
    try:
        return pooled_fit(widths, values)
    except ValueError:
        return None
