"""Figures for notebooks 07-08: data-scaling exponents, pNTK vs eNTK, active learning."""

from __future__ import annotations

import numpy as np

from .base import loglog_axes, new_figure, place_legend

__all__ = ["LEARNER_NAMES", "STRATEGY_NAMES", "scaling_axes", "scaling_figure", "gap_axes", "cost_axes",
           "pntk_figure",
           "acquisition_axes", "retrain_axes", "active_figure"]

LEARNER_NAMES = {"net": "trained net", "entk_init": "eNTK at init", "entk_trained": "eNTK after training",
           "entk_pretrained": "eNTK pretrained", "ntk": "infinite NTK"}
"""Human names of the learners of :mod:`ntk_explore.topics.scaling` (legends and readouts)."""

STRATEGY_NAMES = {"random": "random", "uncertainty": "uncertainty (smallest margin)",
                  "lookahead": "eNTK look-ahead"}
"""Human names of the acquisition strategies of :mod:`ntk_explore.topics.active`."""


# One fixed look per learner (colour, marker, line style), the same in every panel, so
# curves that nearly coincide (the eNTKs often do) stay distinguishable.
_STYLES = {"net": ("C0", "o", "-"), "entk_init": ("C1", "s", "--"),
           "entk_trained": ("C2", "^", "-."), "entk_pretrained": ("C3", "v", ":"),
           "ntk": ("C4", "D", "-")}


def scaling_axes(ax, curves):
    """Test loss vs n (log-log) per learner, with fitted power laws and alpha in the legend."""
    for i, (name, losses) in enumerate(curves.losses.items()):
        e = curves.exponent(name)
        colour, marker, line = _STYLES.get(name, (f"C{i + 5}", "o", "-"))
        ax.plot(curves.ns, losses, marker, color=colour, ms=5, mfc="none" if i % 2 else colour)
        ax.plot(curves.ns, e.fit.predict(curves.ns), line, color=colour, alpha=0.8, lw=1.4,
                marker=marker, ms=5, markevery=[0],
                label=f"{LEARNER_NAMES.get(name, name)}: alpha {e.alpha:.2f} "
                      f"[{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]")
    loglog_axes(ax, "training-set size n", "test loss (MSE)",
                title=f"{curves.task}: width {curves.width}, {curves.steps} GD steps", xbase=2)
    place_legend(ax)


def scaling_figure(*curves_list):
    """One log-log panel per :class:`~ntk_explore.topics.scaling.ScalingCurves`."""
    fig, axes = new_figure(ncols=len(curves_list), width=5.2, height=4.0)
    for ax, curves in zip(axes[0], curves_list):
        scaling_axes(ax, curves)
    return fig


def extended_scaling_figure(curves, matfree_from: int, *, ridge: float = 1e-3):
    """One log-log panel: ``curves`` with the sizes from ``matfree_from`` on shaded (the
    matrix-free route's; no ``n x n`` kernel was formed there)."""
    fig, axes = new_figure(ncols=1, width=5.6, height=4.0)
    ax = axes[0, 0]
    ax.axvspan(matfree_from / 1.2, curves.ns[-1] * 1.2, color="0.9", zorder=0,
               label=f"matrix-free CG (n >= {matfree_from:,})")
    scaling_axes(ax, curves)
    ax.set_title(f"{curves.task}: eNTK at init, width {curves.width}, ridge {ridge:g} (relative)")
    return fig


def gap_axes(ax, sweeps, labels):
    """Relative pNTK/eNTK gap vs width for several sweeps, with fitted slopes."""
    for i, (sweep, label) in enumerate(zip(sweeps, labels)):
        fit = sweep.fit
        ax.errorbar(sweep.widths, sweep.mean, yerr=2 * sweep.sem, fmt="o", color=f"C{i}",
                    capsize=3)
        ax.plot(sweep.widths, fit.predict(sweep.widths), "-", color=f"C{i}",
                label=f"{label}: slope {fit.slope:.2f} [{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]")
    w = sweeps[0].widths
    ax.plot(w, sweeps[0].mean[0] * (w / w[0]) ** -0.5, "--", color="gray", label="slope -1/2")
    loglog_axes(ax, "hidden width", r"$\|eNTK - pNTK\otimes I_k\|_F / \|eNTK\|_F$", xbase=2)
    place_legend(ax)


def cost_axes(ax, rows):
    """eNTK/pNTK time and memory ratios against the number of outputs k."""
    ks = [r.k for r in rows]
    ax.plot(ks, [r.time_ratio for r in rows], "o-", label="time eNTK / pNTK")
    ax.plot(ks, [r.memory_ratio for r in rows], "s--", label="memory eNTK / pNTK (= k^2)")
    loglog_axes(ax, "outputs k", "ratio")
    place_legend(ax)


def pntk_figure(sweeps, labels, rows):
    """Gap vs width (left) and cost ratios vs k (right)."""
    fig, axes = new_figure(ncols=2, width=4.8, height=3.8)
    gap_axes(axes[0, 0], sweeps, labels)
    cost_axes(axes[0, 1], rows)
    return fig


def acquisition_axes(ax, curves):
    """Mean test accuracy vs labels per strategy; ``curves[strategy]`` is a list over seeds."""
    for i, (name, runs) in enumerate(curves.items()):
        acc = np.stack([c.accuracy for c in runs])
        mean = acc.mean(0)
        ax.plot(runs[0].labels, mean, "o-", color=f"C{i}",
                label=f"{STRATEGY_NAMES.get(name, name)} ({len(runs)} seeds)")
        if len(runs) > 1:
            se = acc.std(0, ddof=1) / np.sqrt(len(runs))
            ax.fill_between(runs[0].labels, mean - 2 * se, mean + 2 * se, color=f"C{i}",
                            alpha=0.15)
    ax.set_xlabel("labelled points")
    ax.set_ylabel("test accuracy")
    ax.grid(True, alpha=0.3)
    place_legend(ax)


def retrain_axes(ax, check):
    """Look-ahead score vs the change measured by actually retraining (log-log)."""
    ax.loglog(check.scores_actual, check.scores_pred, "o")
    lo = min(check.scores_actual.min(), check.scores_pred.min())
    hi = max(check.scores_actual.max(), check.scores_pred.max())
    ax.plot([lo, hi], [lo, hi], "--", color="gray", label="y = x")
    ax.set_xlabel("mean sq. change, actual retraining")
    ax.set_ylabel("mean sq. change, eNTK look-ahead")
    ax.set_title(f"median cosine {np.median(check.cosine):.3f}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    place_legend(ax)


def active_figure(curves, check):
    """Acquisition curves (left) and look-ahead vs retraining (right)."""
    fig, axes = new_figure(ncols=2, width=4.8, height=3.8)
    acquisition_axes(axes[0, 0], curves)
    retrain_axes(axes[0, 1], check)
    return fig
