"""The kernel through training: kernel distance, velocity, alignment and the after-kernel."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ...core import metrics as km
from ...core import validation as V
from ...core.learners import (
    NOTEBOOK_RUN,
    PRETRAIN_FROM,
    entk_fn,
    kernel_error,
    make_task,
    net_model,
    runsettings_from,
    settings_from,
    train_net,
)
from ...core.verdicts import Verdict, judge

__all__ = ["KernelPath", "kernel_moves_verdict", "kernel_path", "kernel_paths", "snapshot_steps",
    "verdict_paths"]


# ---------------------------------------------------------------------------
# the kernel through training


@dataclasses.dataclass(frozen=True)
class KernelPath:
    """The eNTK of one net through training, at snapshot steps ``steps`` ``(T,)``.

    ``loss (T,)``: training loss at the snapshots; ``loss_curve (steps + 1,)``: the
    training loss at every GD step (spikes included); ``distance (T,)``: the kernel
    distance ``S(K0, Kt)``; ``velocity (T,)``: ``S(K_prev, K_t) / (t - prev)`` per step
    between consecutive snapshots (``velocity[0] = 0``); ``alignment (T,)``: centred-target
    alignment of ``Kt`` on the kernel's training points; ``after_error (T,)``: test error of
    ridge (chosen on validation) with ``Kt``, the after-kernel at that step; ``kernels``
    ``(T, n_kernel, n_kernel)``: the snapshots; ``loss_step``: the first step whose
    loss is at most ``fraction`` of the initial loss (``-1`` if none), always a snapshot.
    """

    steps: np.ndarray
    loss: np.ndarray
    distance: np.ndarray
    velocity: np.ndarray
    alignment: np.ndarray
    after_error: np.ndarray
    alpha: float
    kernels: np.ndarray
    loss_curve: np.ndarray
    loss_step: int
    fraction: float = 0.05

    @property
    def loss_index(self) -> int | None:
        """Index in ``steps`` of :attr:`loss_step` (``None`` if the loss never got there)."""
        return int(np.searchsorted(self.steps, self.loss_step)) if self.loss_step >= 0 else None

    def distance_at_loss_fraction(self) -> float:
        """``S(K0, Kt)`` at :attr:`loss_step` (NaN if the loss never got there)."""
        i = self.loss_index
        return math.nan if i is None else float(self.distance[i])

    def after_error_at_loss_fraction(self) -> float:
        """The after-kernel's test error at :attr:`loss_step` (NaN if never reached)."""
        i = self.loss_index
        return math.nan if i is None else float(self.after_error[i])

    def distance_from(self, i: int) -> np.ndarray:
        """``S(K_i, K_t)`` for every snapshot ``t``: ``(T,)``."""
        return np.array([km.kernel_distance(self.kernels[i], k) for k in self.kernels])


def snapshot_steps(steps: int, count: int = 16) -> np.ndarray:
    """``0``, about ``count`` log-spaced steps up to ``steps``, and ``steps``: ``(T,)`` ints."""
    pts = np.unique(np.round(np.geomspace(1, steps, count)).astype(int)) if count > 0 else []
    return np.unique(np.concatenate([[0], pts, [steps]]).astype(int))


@V.checked
def kernel_path(key: V.Key, *, n: V.PositiveInt = 2048, alpha: V.PositiveFloat = 1.0,
                n_kernel: V.NonNegativeInt | None = None, n_after: V.NonNegativeInt | None = None,
                snapshots: V.NonNegativeInt = 16, fraction: V.OpenUnitInterval = 0.05,
                dtype=jnp.float32, **settings) -> KernelPath:
    """Train one net on ``n`` points (``alpha = 1`` rich, large ``alpha`` lazy) and measure its
    eNTK at step 0, about ``snapshots`` log-spaced steps, the first step whose loss is at
    most ``fraction`` of the start, and the last step (``snapshots=0``: those three only).

    Distance, velocity and alignment use the kernel on the first ``n_kernel``
    training points (default ``min(n, 256)``); the after-kernel error is ridge
    (validation-chosen) with the snapshot's kernel on the first ``n_after`` training
    points (default ``min(n, 512)``). ``settings`` as :func:`data_scaling`.
    """
    n_kernel = min(n, 256) if n_kernel is None else n_kernel
    n_after = min(n, 512) if n_after is None else n_after
    s = settings_from(settings, "kernel_path")
    for name, value in (("n", n), ("n_kernel", n_kernel), ("n_after", n_after)):
        if not 2 <= value <= min(n, PRETRAIN_FROM):
            raise ValueError(f"{name} must be in [2, {min(n, PRETRAIN_FROM)}], got {value}")
    k_task, k_init = jax.random.split(key)
    task = make_task(k_task, s, dtype)
    model = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"],
                      alpha=alpha)
    p0 = model.init(k_init, dtype=dtype)
    x, y = task.train_set(n)
    res = train_net(model, p0, x, y, lr=s["lr"], steps=s["steps"], keep_params=True, record_every=1)
    want = set(snapshot_steps(int(res.steps[-1]), snapshots).tolist())
    hit = np.nonzero(res.loss <= fraction * res.loss[0])[0]
    loss_step = int(res.steps[hit[0]]) if hit.size else -1
    if hit.size:
        want.add(loss_step)
    idx = sorted(int(np.searchsorted(res.steps, t)) for t in want)
    xk, yk = x[:n_kernel], y[:n_kernel]
    kernels = np.stack([np.asarray(entk_fn(model, res.param_history[i])(xk, xk), np.float64)
                        for i in idx])
    dist = np.array([km.kernel_distance(kernels[0], k) for k in kernels])
    steps = np.asarray(res.steps[idx])
    vel = np.concatenate([[0.0], km.kernel_velocity(kernels, steps)])
    align = np.array([km.target_alignment(k, yk) for k in kernels])
    after = np.array([kernel_error(entk_fn(model, res.param_history[i]), task, n_after)
                      for i in idx])
    return KernelPath(steps, np.asarray(res.loss)[idx], dist, vel, align, after, float(alpha),
                      kernels, np.asarray(res.loss), loss_step, float(fraction))


@V.checked
def kernel_paths(key: V.Key, seeds: V.PositiveInt, *, snapshots: V.NonNegativeInt = 16,
                 **kwargs) -> list[KernelPath]:
    """:func:`kernel_path` for ``jax.random.split(key, seeds)``: the first with ``snapshots``
    snapshots (for a figure), the others with the three the verdict needs (step 0, the
    ``fraction`` step, the last). ``kwargs`` as :func:`kernel_path`."""
    return [kernel_path(k, snapshots=snapshots if i == 0 else 0, **kwargs)
            for i, k in enumerate(jax.random.split(key, seeds))]

def kernel_moves_verdict(paths: Sequence[KernelPath]) -> Verdict:
    """The after-kernel's test error at the step where the loss first reached ``fraction`` of
    its start, over its final value; geometric mean over the runs ``paths`` (one per seed)
    with a 95% t-interval of the mean log ratio (claim ``kernel_keeps_moving``: > 1).

    A ratio of 1 is what a kernel that had stopped changing at that step would give: ridge
    with the same kernel gives the same predictions.
    """
    paths = list(paths)
    at = np.array([p.after_error_at_loss_fraction() for p in paths])
    final = np.array([p.after_error[-1] for p in paths])
    logs = np.log(at / final)
    mean = float(np.mean(logs))
    if len(paths) >= 2 and np.all(np.isfinite(logs)):
        half = float(stats.t.ppf(0.975, len(paths) - 1) * np.std(logs, ddof=1)
                     / math.sqrt(len(paths)))
        interval, what = (math.exp(mean - half), math.exp(mean + half)), \
            f"95% CI over {len(paths)} seeds (t interval of the mean log ratio)"
    else:
        interval, what = (math.exp(mean), math.exp(mean)), "one run (no interval)"
    s_at = np.array([p.distance_at_loss_fraction() for p in paths])
    s_end = np.array([p.distance[-1] for p in paths])
    steps = [p.loss_step for p in paths]
    return judge("kernel_keeps_moving", math.exp(mean), interval,
                 measured_what=f"after-kernel test error when the loss first reached "
                               f"{paths[0].fraction:.0%} of its start / at the end "
                               f"(geometric mean)",
                 interval_what=what,
                 detail=f"per seed: ratio {np.round(at / final, 3).tolist()} at steps {steps} of "
                        f"{int(paths[0].steps[-1])}; S(K0, Kt) there / at the end "
                        f"{np.round(s_at / s_end, 2).tolist()}")



def verdict_paths(key: jax.Array, run: dict = NOTEBOOK_RUN) -> list[KernelPath]:
    """:func:`kernel_paths` at ``run``'s settings (``path_seeds`` rich nets on ``path_n``
    points; the first with ``path_snapshots`` snapshots)."""
    return kernel_paths(key, run["path_seeds"], n=run["path_n"], snapshots=run["path_snapshots"],
                        **runsettings_from(run))
