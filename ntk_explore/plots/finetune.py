"""Figures for head probing and fine-tuning (see :mod:`ntk_explore.topics.finetune`)."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from .base import log_ticks, new_figure, place_legend

__all__ = ["tau_curve", "decomposition_scatter", "finetune_figure", "lr_comparison_figure"]

_LABELS = {
    "energy": r"energy $\mathbb{E}\,\|e_y - q_0(x)\|$",
    "feature_change": r"feature change $\|z_T - z_0\|_F / \|z_0\|_F$",
    "accuracy": "target test accuracy",
    "cka": "CKA($z_T$, $z_0$)",
}


def _tau_axis(taus):
    """Plot positions for taus: 0 is drawn at half the smallest positive tau (log axis)."""
    taus = np.asarray(taus, float)
    pos = taus[taus > 0]
    zero = pos.min() / 3 if pos.size else 1.0
    return np.where(taus > 0, taus, zero)


def tau_curve(ax, sweep, name: str, highlight=None, label=None, color="C0"):
    """Seed mean of ``name`` vs HP steps tau with ±1 standard error bars."""
    x = _tau_axis(sweep.taus)
    ax.errorbar(x, sweep.mean(name), yerr=sweep.sem(name), fmt="o-", color=color, capsize=3,
                label=label or f"{sweep.head} head, FT lr {sweep.ft_lr:g}")
    if highlight is not None:
        ax.axvline(x[list(sweep.taus).index(highlight)], color="C3", lw=1)
    ax.set_xscale("log")
    ax.set_xticks(x, [str(t) for t in sweep.taus], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("head-probing steps tau")
    ax.set_ylabel(_LABELS.get(name, name))
    ax.grid(True, alpha=0.3)


def decomposition_scatter(ax, step):
    """Real first-FT-step feature change against eNTK x direction x energy, per entry."""
    a, p = np.ravel(step.actual), np.ravel(step.predicted)
    lim = float(max(np.abs(a).max(), np.abs(p).max())) or 1.0
    ax.plot([-lim, lim], [-lim, lim], "--", color="gray", lw=1, label="y = x")
    ax.plot(p, a, ".", ms=2.5, alpha=0.4, color="C2", mec="none")  # one marker path: fast
    ax.set_xlabel(r"predicted $-\eta\,\Theta_z\, G^\top (q - e_y)/n$")
    ax.set_ylabel(r"real $\Delta z$ after one FT step")
    ax.set_title(f"first step, eta={step.eta:g}: rel. residual {step.residual:.2g} "
                 f"({np.asarray(step.actual).dtype})", fontsize=9)
    place_legend(ax, "upper left")  # a fixed place: "best" searches every point
    ax.grid(True, alpha=0.3)
    for axis in (ax.xaxis, ax.yaxis):  # tiny values: few ticks, shared exponent
        axis.set_major_locator(MaxNLocator(4))
    ax.ticklabel_format(style="sci", scilimits=(-2, 2))


def finetune_figure(sweep, step, tau, extra=None, title_prefix: str = ""):
    """2x2 figure: energy, feature change (and ``extra`` sweeps), accuracy vs tau;
    the first-step decomposition at ``tau``."""
    fig, axes = new_figure(ncols=2, nrows=2, width=4.6, height=3.4)
    tau_curve(axes[0, 0], sweep, "energy", tau)
    tau_curve(axes[0, 1], sweep, "feature_change", tau)
    for i, other in enumerate(extra or []):
        tau_curve(axes[0, 1], other, "feature_change", color=f"C{i + 4}")
    place_legend(axes[0, 1])
    tau_curve(axes[1, 0], sweep, "accuracy", tau)
    decomposition_scatter(axes[1, 1], step)
    n = sweep.energy.shape[0]
    bad = int(sweep.n_diverged.sum())
    said = f"\n{bad} of {sweep.energy.size} FT runs diverged: left out of the means" if bad else ""
    fig.suptitle(f"{title_prefix}{sweep.head} head, label smoothing {sweep.smoothing:g}, FT lr "
                 f"{sweep.ft_lr:g} x {sweep.ft_steps} steps; mean ± s.e. over {n} seeds{said}",
                 fontsize=10)
    return fig


def lr_comparison_figure(sweeps):
    """Feature change after FT against HP steps (left) and against the energy at the start
    of FT (right), one curve per :class:`~ntk_explore.topics.finetune.TauSweep` (one per FT
    learning rate); log y axes, mean ± 1 s.e. over seeds; diverged runs are left out and
    counted in the legend."""
    fig, axes = new_figure(ncols=2, width=4.6, height=3.6)
    left, right = axes[0]
    for i, sw in enumerate(sweeps):
        color = f"C{3 * i}"
        bad = int(sw.n_diverged.sum())
        note = f", {bad} runs diverged" if bad else ""
        tau_curve(left, sw, "feature_change", label=f"FT lr {sw.ft_lr:g}{note}", color=color)
        right.errorbar(sw.mean("energy"), sw.mean("feature_change"), yerr=sw.sem("feature_change"),
                       fmt="o-", color=color, capsize=3,
                       label=f"FT lr {sw.ft_lr:g}: Spearman {sw.spearman():.2f}")
    right.set_xlabel("energy at the start of FT")
    right.set_ylabel(_LABELS["feature_change"])
    right.grid(True, alpha=0.3)
    for ax in (left, right):
        ax.set_yscale("log")
        log_ticks(ax.yaxis)
        place_legend(ax)
    return fig
