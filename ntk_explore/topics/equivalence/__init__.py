"""Is a trained net its NTK? Three learners on one task, kernel motion, width sweeps.

The three learners share one initialisation ``params0`` of an MLP and are
trained on the same MSE loss ``L = 1/(2n) sum (f - y)**2`` with the same
gradient-descent steps (rate ``lr / alpha**2``, so the output-space speed does
not depend on Chizat's output scale ``alpha``):

1. **net** -- the MLP itself, by full-batch gradient descent (:func:`~ntk_explore.core.training.train`);
2. **linearized** -- its first-order Taylor model at ``params0``, whose GD
   trajectory is closed form in the eNTK at init (:func:`~ntk_explore.core.linearized.mse_dynamics`);
3. **infinite NTK** -- the same closed form with the infinite-width NTK of the
   architecture (neural-tangents ``stax``).

Initial function of the infinite-width learner: by default (``f0='net'``) it
starts from the net's own ``f0``, so all three start from the same function
and every gap between them comes from the kernel (eNTK vs its limit) or from
the net leaving its linearization, not from the random initial function. With
``f0='zero'`` it is the kernel-regression predictor of Arora et al.
(``f0 = 0``; what the published table's NTK rows compute); the gap to the net
then also contains the net's random initial function, which does not vanish
with width. ``center=True`` trains ``f - f0`` (targets shifted by ``f0``), so
all three learners start at zero and the two choices agree.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...core import validation as V
from ...core.verdicts import Verdict, judge
from . import learners
from .learners import *  # noqa: F403
from .learners import SWEEP, WidthSweep, pooled_fit, regression_task, width_sweep

__all__ = [*learners.__all__, "claim_sweep", "kernel_motion_ntk_verdict",
           "kernel_motion_mup_verdict", "net_to_ntk_verdict", "sweep_verdicts"]


# ---------------------------------------------------------------------------
# the claims notebook 02 judges on its width sweep (the sweep itself: :mod:`.learners`)


@V.checked
def claim_sweep(**overrides) -> WidthSweep:
    """:func:`width_sweep` at notebook 02's settings (:data:`SWEEP`; pass any of its fields to
    override one): NTK and muP parametrization. About 15 s of CPU time on 2 cores."""
    c = dataclasses.replace(SWEEP, **overrides)  # a misspelt setting is a TypeError
    task = regression_task(c.task, key=jax.random.key(c.task_seed), n_train=c.n_train)
    return width_sweep(task, c.widths, key=jax.random.key(c.seed), seeds=c.seeds, depth=c.depth,
                       lr=c.lr, steps=c.steps,
                       parametrizations=("ntk", "mup"))


def _what(sweep: WidthSweep) -> str:
    w = sweep.widths
    return f"{sweep.kernel_motion.shape[1]} seeds x {w.size} widths {w[0]}-{w[-1]}"


def _diverged(sweep: WidthSweep, field: str, p: int) -> str:
    bad = int(np.sum(~np.isfinite(getattr(sweep, field)[p])))
    return f"; {bad} run(s) diverged and are left out" if bad else ""


def _p(sweep: WidthSweep, name: str) -> int:
    if name not in sweep.parametrizations:
        raise ValueError(f"the sweep has no {name!r} runs (it has {sweep.parametrizations})")
    return sweep.parametrizations.index(name)


def _width_slope_verdict(sweep: WidthSweep, claim: str, field: str, measured_what: str,
                         quantity: str) -> Verdict:
    """``claim`` judged on the log-log slope of ``sweep.<field>`` against width, NTK
    parametrization, pooled over seeds; the detail names the seed means at both ends."""
    p = _p(sweep, "ntk")
    fit, mean, w = pooled_fit(sweep.widths, getattr(sweep, field)[p]), sweep.mean(field)[p], sweep.widths
    return judge(claim, fit.slope, fit.ci95, measured_what=measured_what,
                 interval_what=f"95% CI of the fit over {_what(sweep)}",
                 detail=f"{quantity} {mean[0]:.3g} at width {w[0]}, {mean[-1]:.3g} at width {w[-1]} "
                        "(seed means)" + _diverged(sweep, field, p))


def kernel_motion_ntk_verdict(sweep: WidthSweep) -> Verdict:
    """Claim ``'kernel_motion_ntk'``: slope of the relative eNTK change over training
    against width, NTK parametrization, pooled over seeds."""
    return _width_slope_verdict(
        sweep, "kernel_motion_ntk", "kernel_motion",
        "log-log slope of ||K_T - K_0||_F / ||K_0||_F against width (NTK parametrization)",
        "relative eNTK change")


def kernel_motion_mup_verdict(sweep: WidthSweep) -> Verdict:
    """Claim ``'kernel_motion_mup'``: the kernel-motion slope of muP minus that of NTK
    parametrization, paired by seed (one fit of the log ratio, as
    :func:`~ntk_explore.core.metrics.exponent_difference`)."""
    pn, pm = _p(sweep, "ntk"), _p(sweep, "mup")
    ratio = sweep.kernel_motion[pm] / sweep.kernel_motion[pn]
    fit = pooled_fit(sweep.widths, ratio)  # slope(mup) - slope(ntk)
    f_n, f_m = (pooled_fit(sweep.widths, sweep.kernel_motion[i]) for i in (pn, pm))
    mean = sweep.mean("kernel_motion")
    return judge("kernel_motion_mup", fit.slope, fit.ci95,
                 measured_what="slope(muP) - slope(NTK) of the relative eNTK change against width, "
                               "paired by seed",
                 interval_what=f"95% CI of the paired fit over {_what(sweep)}",
                 detail=f"slopes muP {f_m.slope:.2f} [{f_m.ci95[0]:.2f}, {f_m.ci95[1]:.2f}], NTK "
                        f"{f_n.slope:.2f} [{f_n.ci95[0]:.2f}, {f_n.ci95[1]:.2f}]; at width "
                        f"{sweep.widths[-1]} muP {mean[pm, -1]:.3g}, NTK {mean[pn, -1]:.3g}")


def net_to_ntk_verdict(sweep: WidthSweep) -> Verdict:
    """Claim ``'net_to_ntk'``: slope of the RMS test distance between the NTK-parametrized
    net and the infinite-NTK learner (same initial function) against width."""
    return _width_slope_verdict(
        sweep, "net_to_ntk", "distance_to_ntk",
        "log-log slope of RMS_test |f_net - f_NTK| after training against width (NTK parametrization)",
        "distance (target units)")


def sweep_verdicts(sweep: WidthSweep | None = None) -> list[Verdict]:
    """The three verdicts of notebook 02's width sweep (``None``: run :func:`claim_sweep`)."""
    sweep = claim_sweep() if sweep is None else sweep
    return [kernel_motion_ntk_verdict(sweep), kernel_motion_mup_verdict(sweep),
            net_to_ntk_verdict(sweep)]
