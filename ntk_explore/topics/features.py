"""Lazy vs feature learning: how much a trained MLP's insides move, as a function of width.

For a net trained by full-batch gradient descent on a fixed task, this module
measures, between the initial parameters ``theta_0`` and the trained ones
``theta_T`` (all on the training inputs ``X`` of shape ``(n, d)``):

* hidden-feature change per layer ``||h_T - h_0||_F / ||h_0||_F`` of the
  pre-activations ``h_l`` ``(n, width)``;
* weight change per layer ``||W_T - W_0||_F / ||W_0||_F`` of the effective
  weights ``W = w_mult * w`` (the multiplier cancels, so this is also the
  relative change of the stored ``w``);
* eNTK change ``||K_T - K_0||_F / ||K_0||_F`` of the ``(n, n, k, k)`` eNTK;
* linear CKA between initial and final post-activation features, per layer;
* the two factors of the eNTK identity (see :func:`kernel_factors`)::

      eNTK(x, x') = sum_l  G_l(x, x') * B_l(x, x')

  with ``G_l`` the Gram matrix of layer ``l``'s inputs (a constant column for
  the bias folded in) and ``B_l`` the Gram matrix of the backpropagated
  signals ``d f / d h_l``. Lazy training means neither factor moves.

Learning rates. ``lr`` is the rate at the base width; :func:`width_lr` turns it
into the rate used at width ``n``: unchanged for ``'ntk'`` and ``'mup'`` (their
stable rate does not depend on width), ``lr * base_width / n`` for
``'standard'`` (its tangent kernel grows like ``n``, so a fixed rate diverges),
and divided by ``alpha**2`` for an output scale ``alpha`` (Chizat, Oyallon and
Bach's lazy limit; the output is then centred, ``alpha * (f(theta) - f(theta_0))``,
so the initial function does not grow with ``alpha``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core import validation as V
from ..core.kernels import ChangeStats, KernelFactors, change_arrays, kernel_factors, measure_change
from ..core.metrics import LogLogFit, fit_loglog, linear_cka
from ..core.models import MLP, init_from_draw, mlp
from ..core.training import (
    DIVERGENCE_FACTOR,
    DivergenceError,
    diverged,
    divergence_error,
    full_loss,
    gd_segment,
)
from ..core.verdicts import Verdict, judge

__all__ = [
    "DEFAULTS", "MUP_MIN_WIDTH", "FeatureTask", "feature_task", "width_lr", "linear_cka", "KernelFactors",
    "kernel_factors", "ChangeStats", "measure_change", "FeatureSweep", "feature_sweep",
    "feature_sweeps", "Sweeps", "precompile_sweep", "CoordCheck", "coord_check", "TOUR", "claim_task",
    "claim_sweeps", "features_ntk_verdict", "features_mup_verdict", "entk_motion_verdict",
    "width_verdicts",
]


# Notebook 03's defaults (also used by the tests and the width benchmark). Measured
# stable rate at the base width on this task: about 1.16 (2 n / lambda_max of
# the initial eNTK), so lr = 0.8 stays below the edge of stability at every
# width for 'ntk' and 'mup' (above about 2 the nets catapult and even
# NTK-parametrized features move by O(1)). The target scale 2.5 makes muP's
# features move by about 0.2 while the NTK-parametrized net stays lazy. Three seeds:
# the slopes are fitted through every (seed, width) point, and with three seeds muP's
# interval (widths 256-1024) lies well inside its +-0.15 band.
DEFAULTS = dict(n=64, d=10, scale=2.5, widths=(64, 128, 256, 512, 1024), depth=2,
                lr=0.8, steps=300, seeds=3)
MUP_MIN_WIDTH = 256  # fit muP slopes above its base width (64), where it equals 'ntk'

# ---------------------------------------------------------------------------
# task and learning rates


class FeatureTask(NamedTuple):
    """Training inputs ``x`` ``(n, d)`` and targets ``y`` ``(n, 1)``."""

    x: jax.Array
    y: jax.Array


@V.checked
def feature_task(key: V.Key, n: V.PositiveInt = 64, d: V.PositiveInt = 10, scale: V.PositiveFloat = 1.0,
                 dtype=None) -> FeatureTask:
    """A single-index regression task ``y = scale * g(x . u)``, ``g`` of unit variance.

    ``x ~ N(0, I_d)`` ``(n, d)`` (coordinates of order one, as the models'
    input scaling expects), ``u`` a random unit direction and
    ``g(z) = (z + (z**2 - 1) / sqrt(2)) / sqrt(2)`` (a linear plus a quadratic
    Hermite part). Returns :class:`FeatureTask` with ``y`` ``(n, 1)``.
    """
    if not (isinstance(n, int) and n > 1 and isinstance(d, int) and d > 0):
        raise ValueError(f"n must be an integer > 1 and d a positive integer, got {n!r}, {d!r}")
    dtype = dtype or jnp.zeros(()).dtype
    kx, ku = jax.random.split(key)
    x = jax.random.normal(kx, (n, d), dtype)
    u = jax.random.normal(ku, (d,), dtype)
    z = x @ (u / jnp.linalg.norm(u))  # (n,)
    y = (z + (z**2 - 1.0) / jnp.sqrt(2.0)) / jnp.sqrt(2.0)
    return FeatureTask(x, scale * y[:, None])


@V.checked
def width_lr(lr: V.PositiveFloat, parametrization: str, width: V.PositiveInt, base_width: V.PositiveInt = 64,
             alpha: V.PositiveFloat = 1.0) -> float:
    """The rate used at ``width``: see the module docstring. ``lr`` is the base-width rate."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    scale = base_width / width if parametrization == "standard" else 1.0
    return float(lr * scale / alpha**2)


# ``linear_cka`` (core.metrics) and ``KernelFactors`` / ``kernel_factors``
# (core.kernels) are re-exported here: this module's figures are built on them.


# ---------------------------------------------------------------------------
# width sweep


@dataclasses.dataclass(frozen=True)
class FeatureSweep:
    """Changes after training, per seed and width.

    Arrays: ``feature`` ``(S, W, L)``, ``weight`` ``(S, W, L+1)``, ``kernel``
    ``(S, W)``, ``cka`` ``(S, W, L)``, ``feature_gram`` / ``backprop_gram``
    ``(S, W, L+1)``, ``loss`` ``(S, W)``, for ``S`` seeds and widths ``(W,)``.
    """

    widths: np.ndarray
    parametrization: str
    alpha: float
    lr: float
    steps: int
    feature: np.ndarray
    weight: np.ndarray
    kernel: np.ndarray
    cka: np.ndarray
    feature_gram: np.ndarray
    backprop_gram: np.ndarray
    loss: np.ndarray

    def per_seed(self, quantity: str = "feature") -> np.ndarray:
        """Layer mean of ``quantity`` (a field name) for each seed and width, ``(S, W)``."""
        values = getattr(self, quantity)
        return values.mean(axis=tuple(range(2, values.ndim))) if values.ndim > 2 else values

    def mean(self, quantity: str = "feature") -> np.ndarray:
        """Seed (and layer) mean of ``quantity`` (a field name), ``(W,)``."""
        return self.per_seed(quantity).mean(axis=0)

    @property
    def seeds(self) -> int:
        return int(self.loss.shape[0])

    def fit(self, quantity: str = "feature", min_width: int = 0) -> LogLogFit:
        """Log-log fit against width over widths ``>= min_width``, pooled over seeds.

        One least-squares line through every ``(log width, log value)`` pair of
        :meth:`per_seed` (``S x W`` points; the 95% interval uses ``S W - 2`` degrees of
        freedom), so more seeds narrow the interval as more widths do.

        For ``'mup'`` use ``min_width > base_width``: at the base width every
        parametrization coincides with NTK parametrization.
        """
        keep = self.widths >= min_width
        values = self.per_seed(quantity)[:, keep]  # (S, W')
        return fit_loglog(np.tile(self.widths[keep], values.shape[0]), values.reshape(-1))


def _check_sweep_args(widths, seeds):
    widths = np.asarray(sorted(int(w) for w in widths))
    if widths.size < 3 or seeds < 1:
        raise ValueError(f"need at least 3 widths and 1 seed, got {widths.size} and {seeds}")
    return widths


# -- one training run per net, measured at several step counts ---------------------------
#
# The model is traced data in the core's GD segment (only its shapes are static), so
# switching parametrization, alpha, lr or the number of steps compiles nothing new.


def _net(task: FeatureTask, width: int, depth: int, parametrization: str, alpha: float,
         base_width: int, activation: str) -> MLP:
    return mlp(task.x.shape[1], int(width), depth, task.y.shape[1], activation=activation,
               parametrization=parametrization, base_width=base_width, alpha=alpha)


def _loss(model: MLP, params, x, y):
    return full_loss(model, params, x, y)


@jax.jit
def _target(model: MLP, params0, x, y):
    return y + model.apply(params0, x)  # the centred output's target


@V.checked
def precompile_sweep(task: FeatureTask, widths: V.Sizes, depth: V.PositiveInt = 2,
                     activation: str = "relu", base_width: V.PositiveInt = 64) -> None:
    """Compile :func:`feature_sweeps`' training segments and measurements for these widths
    and depth ahead of use (no training is done). Safe to run in a background thread."""
    for width in widths:
        model = _net(task, int(width), depth, "ntk", 1.0, base_width, activation)
        p0 = init_from_draw(model, jax.random.key(0), dtype=task.x.dtype)
        _target(model, p0, task.x, task.y)
        jax.block_until_ready(gd_segment(model, p0, task.x, task.y, 1.0, 0, record=_loss,
                                         record_args=(task.x, task.y)))
        jax.block_until_ready(change_arrays(model, p0, p0, task.x))


class Sweeps(dict):
    """``{steps: FeatureSweep}`` from :func:`feature_sweeps`, plus ``divergence``: the
    :class:`~ntk_explore.core.training.DivergenceError` for the first step count at which a
    run had diverged (left out of the dict), or ``None``."""

    divergence: DivergenceError | None = None


@V.checked
def feature_sweeps(task: FeatureTask, widths: V.Sizes, *, key: V.Key, steps: V.NonNegativeInts,
                   parametrization: str = "ntk", depth: V.PositiveInt = 2, lr: V.PositiveFloat = 1.0,
                   seeds: V.PositiveInt = 4, alpha: V.PositiveFloat = 1.0, base_width: V.PositiveInt = 64,
                   activation: str = "relu",
                   divergence_factor: V.PositiveFloat = DIVERGENCE_FACTOR) -> Sweeps:
    """:func:`feature_sweep` at several step counts, measured along one training run.

    Each net trains to ``max(steps)`` (the core's
    :func:`~ntk_explore.core.training.gd_segment`) and is measured after each count in
    ``steps`` (:func:`measure_change`). One compiled segment per ``(width, depth)``
    serves every parametrization, ``alpha``, ``lr``, seed and step count.

    Returns :class:`Sweeps`, ``{steps: FeatureSweep}`` for the counts at which no run
    had diverged (the core's rule, :func:`~ntk_explore.core.training.diverged`), with
    ``divergence`` the error for the first count at which one had (``None`` if none).
    """
    widths = _check_sweep_args(widths, seeds)
    points = sorted({int(s) for s in steps})
    if not points or points[0] < 0:
        raise ValueError(f"steps must be non-negative step counts, got {steps!r}")
    counts = np.diff([0] + points)
    x = task.x
    runs = np.empty((seeds, widths.size, len(points)), dtype=object)
    first_loss = np.empty((seeds, widths.size))
    for j, width in enumerate(widths):
        model = _net(task, int(width), depth, parametrization, alpha, base_width, activation)
        rate = width_lr(lr, parametrization, int(width), base_width, alpha)
        for s in range(seeds):
            p0 = init_from_draw(model, jax.random.fold_in(key, s), dtype=x.dtype)
            y = _target(model, p0, x, task.y) if alpha != 1.0 else task.y
            first_loss[s, j], p = _loss(model, p0, x, y), p0
            for c, count in enumerate(counts):
                p, loss = gd_segment(model, p, x, y, rate, int(count), record=_loss,
                                     record_args=(x, y))
                with np.errstate(all="ignore"):  # NaN after a divergence
                    runs[s, j, c] = measure_change(model, p0, p, x, loss)
    out = Sweeps()
    for c, n_steps in enumerate(points):
        fields = {f: np.array([[getattr(r, f) for r in row] for row in runs[:, :, c]])
                  for f in ChangeStats._fields}
        bad = [(float(loss), float(loss0)) for loss, loss0 in zip(fields["loss"].ravel(),
                                                                   first_loss.ravel())
               if diverged(float(loss), float(loss0), divergence_factor)]
        if not bad:
            out[n_steps] = FeatureSweep(widths, parametrization, float(alpha), float(lr),
                                        n_steps, **fields)
        elif out.divergence is None:
            out.divergence = divergence_error(n_steps, lr, bad[0][0], divergence_factor)
    return out


@V.checked
def feature_sweep(task: FeatureTask, widths: V.Sizes, *, key: V.Key,
                  parametrization: str = "ntk", depth: V.PositiveInt = 2, lr: V.PositiveFloat = 1.0,
                  steps: V.NonNegativeInt = 500, seeds: V.PositiveInt = 4, alpha: V.PositiveFloat = 1.0,
                  base_width: V.PositiveInt = 64, activation: str = "relu",
                  progress: bool = False) -> FeatureSweep:
    """Train one net per (seed, width) by full-batch GD on ``task`` and measure changes.

    Args:
      task: :class:`FeatureTask` with ``x`` ``(n, d)``, ``y`` ``(n, 1)``.
      widths: hidden widths (at least 3 for the log-log fits).
      key: seed ``s`` initialises every width from ``fold_in(key, s)``.
      lr: base-width learning rate, mapped to each width by :func:`width_lr`.
      alpha: output scale; ``alpha != 1`` trains the centred output.
      progress: accepted for compatibility; the sweep runs as one compiled program.

    Returns: :class:`FeatureSweep` (computed by :func:`feature_sweeps`; equal, up to
    float rounding, to training each net with :func:`~ntk_explore.core.training.train`
    and measuring it with :func:`measure_change`).

    Raises:
      ValueError: fewer than 3 widths or 1 seed; DivergenceError: training blew up.
    """
    out = feature_sweeps(task, widths, key=key, steps=[steps], parametrization=parametrization,
                         depth=depth, lr=lr, seeds=seeds, alpha=alpha, base_width=base_width,
                         activation=activation)
    if steps not in out:
        raise out.divergence
    return out[steps]


# ---------------------------------------------------------------------------
# the width claims: one sweep per parametrization, three verdicts (notebook 03 and the tour)

TOUR = dict(widths=(64, 256, 1024), seeds=3, steps=100)
"""The tour's (notebook 00's) smaller settings for the same three verdicts: three widths
(each new width costs a compilation, about 2 s on 2 CPU cores), three seeds and 100 steps
(the training loss is then below 0.3% of the target's variance; the feature change is
within a few per cent of its value at 300 steps). About 10 s on 2 CPU cores."""


@V.checked
def claim_task(key: V.Key | None = None, dtype=jnp.float32) -> tuple[FeatureTask, jax.Array]:
    """Notebook 03's task (:data:`DEFAULTS`) and the key that seeds its nets.

    ``key`` (default ``jax.random.key(0)``) is split into the task's key and the
    sweep's, as :class:`~ntk_explore.widgets.features.FeatureWidthApp` does, so the app,
    :func:`claim_sweeps` and the tour train the same nets at the same settings.
    """
    k_task, k_nets = jax.random.split(jax.random.key(0) if key is None else key)
    d = DEFAULTS
    return feature_task(k_task, n=d["n"], d=d["d"], scale=d["scale"], dtype=dtype), k_nets


@V.checked
def claim_sweeps(key: V.Key | None = None, *, widths: V.Sizes = DEFAULTS["widths"],
                 seeds: V.PositiveInt = DEFAULTS["seeds"],
                 steps: V.NonNegativeInt = DEFAULTS["steps"]) -> dict:
    """``{'ntk': FeatureSweep, 'mup': FeatureSweep}`` on :func:`claim_task` at the rate and
    depth of :data:`DEFAULTS`; the verdicts below read them. :data:`TOUR` is a cheaper
    choice of ``widths``, ``seeds``, ``steps``."""
    task, k_nets = claim_task(key)
    d = DEFAULTS
    return {p: feature_sweep(task, widths, key=k_nets, parametrization=p, depth=d["depth"],
                             lr=d["lr"], steps=steps, seeds=seeds) for p in ("ntk", "mup")}


def _span(sweep: FeatureSweep, min_width: int = 0) -> str:
    w = sweep.widths[sweep.widths >= min_width]
    return f"widths {w[0]}-{w[-1]}, {w.size} widths x {sweep.seeds} seeds, {sweep.steps} GD steps"


@V.checked
def features_ntk_verdict(sweeps: dict) -> Verdict:
    """Claim ``features_ntk``: the slope of the hidden-feature change vs width, NTK
    parametrization (``sweeps`` as from :func:`claim_sweeps`)."""
    sweep = sweeps["ntk"]
    fit, m = sweep.fit("feature"), sweep.mean("feature")
    return judge("features_ntk", fit.slope, fit.ci95,
                 measured_what="log-log slope of the relative hidden-feature change vs width, "
                               f"NTK parametrization ({_span(sweep)})",
                 interval_what="95% CI of the fit pooled over seeds",
                 detail=f"feature change {m[0]:.3f} at width {sweep.widths[0]}, {m[-1]:.3f} at "
                        f"width {sweep.widths[-1]}")


@V.checked
def features_mup_verdict(sweeps: dict) -> Verdict:
    """Claim ``features_mup``: the same slope under muP, fitted over widths
    ``>= MUP_MIN_WIDTH`` (below, muP is still close to NTK parametrization), with the
    side condition that the features still move by more than 0.1 at the widest net."""
    sweep = sweeps["mup"]
    fit, widest = sweep.fit("feature", MUP_MIN_WIDTH), float(sweep.mean("feature")[-1])
    return judge("features_mup", fit.slope, fit.ci95,
                 measured_what="log-log slope of the relative hidden-feature change vs width, "
                               f"muP ({_span(sweep, MUP_MIN_WIDTH)})",
                 interval_what="95% CI of the fit pooled over seeds", extra=widest > 0.1,
                 detail=f"feature change at width {sweep.widths[-1]}: {widest:.3f}")


@V.checked
def entk_motion_verdict(sweeps: dict) -> Verdict:
    """Claim ``entk_motion``: the slope of the relative eNTK change over training vs width,
    NTK parametrization, with less motion at the widest width than at the narrowest."""
    sweep = sweeps["ntk"]
    fit, motion = sweep.fit("kernel"), sweep.mean("kernel")
    return judge("entk_motion", fit.slope, fit.ci95,
                 measured_what="log-log slope of the relative eNTK change over training vs "
                               f"width, NTK parametrization ({_span(sweep)})",
                 interval_what="95% CI of the fit pooled over seeds",
                 extra=bool(motion[-1] < motion[0]),
                 detail=f"eNTK change {motion[0]:.3f} at width {sweep.widths[0]}, "
                        f"{motion[-1]:.4f} at width {sweep.widths[-1]}")


def width_verdicts(sweeps: dict) -> list[Verdict]:
    """The three verdicts of notebook 03, in its order: features (NTK), features (muP), eNTK."""
    return [features_ntk_verdict(sweeps), features_mup_verdict(sweeps), entk_motion_verdict(sweeps)]


# ---------------------------------------------------------------------------
# coordinate check


class CoordCheck(NamedTuple):
    """RMS coordinate size of ``h_l(t) - h_l(0)`` (hidden layers) and ``f(t) - f(0)``.

    ``size`` ``(T, W, L+1)`` for steps ``(T,)`` = 1..T and widths ``(W,)``,
    averaged over seeds; ``NaN`` where training had diverged.
    """

    widths: np.ndarray
    steps: np.ndarray
    parametrization: str
    size: np.ndarray


@jax.jit
def _coord_sizes(model, params0, params_t, x):
    """RMS coordinate change of each hidden pre-activation and of the output: ``(L+1,)``."""
    h0, _, f0 = model.features(params0, x)
    ht, _, ft = model.features(params_t, x)
    return jnp.stack([jnp.sqrt(jnp.mean((b - a) ** 2)) for a, b in zip(h0 + [f0], ht + [ft])])


@V.checked
def coord_check(task: FeatureTask, widths: V.Sizes, *, key: V.Key,
                parametrization: str = "mup", depth: V.PositiveInt = 2, lr: V.PositiveFloat = 1.0,
                steps: V.NonNegativeInt = 4, seeds: V.PositiveInt = 2, base_width: V.PositiveInt = 64,
                divergence_factor: V.PositiveFloat = DIVERGENCE_FACTOR) -> CoordCheck:
    """muP-style coordinate check: the same ``lr`` at every width, first ``steps`` GD steps.

    Under muP every curve is flat in width; under NTK parametrization hidden
    updates shrink like ``1/sqrt(n)``; under standard parametrization the
    output update grows with ``n`` (and eventually diverges).
    Returns :class:`CoordCheck` with ``size`` ``(steps, W, depth + 1)``. Runs on the
    core's GD segment, as :func:`feature_sweeps`; steps from the first diverged one on
    (as :func:`~ntk_explore.core.training.train` decides) are left out.
    """
    widths = np.asarray(sorted(int(w) for w in widths))
    size = np.full((seeds, steps, widths.size, depth + 1), np.nan)
    x, y = task.x, task.y
    for j, width in enumerate(widths):
        model = _net(task, int(width), depth, parametrization, 1.0, base_width, "relu")
        for s in range(seeds):
            p0 = init_from_draw(model, jax.random.fold_in(key, s), dtype=x.dtype)
            loss0, p = float(_loss(model, p0, x, y)), p0
            for t in range(steps):  # the same lr at every width
                p, loss = gd_segment(model, p, x, y, lr, 1, record=_loss, record_args=(x, y))
                if diverged(float(loss), loss0, divergence_factor):
                    break
                size[s, t, j] = np.asarray(_coord_sizes(model, p0, p, x))
    return CoordCheck(widths, np.arange(1, steps + 1), parametrization, np.nanmean(size, axis=0))
