"""Figures for notebooks 07-08: data-scaling exponents, pNTK vs eNTK, active learning."""

from __future__ import annotations

import numpy as np

from .base import log_ticks, loglog_axes, new_figure, place_legend

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
    """Relative pNTK/eNTK gap vs width for several sweeps (mean over seeds, bars: the seeds'
    range), with fitted slopes and a slope -1/2 guide through the first sweep's first point."""
    for i, (sweep, label) in enumerate(zip(sweeps, labels)):
        fit = sweep.fit
        lo, hi = sweep.gaps.min(0), sweep.gaps.max(0)
        ax.errorbar(sweep.widths, sweep.mean, yerr=[sweep.mean - lo, hi - sweep.mean], fmt="os"[i % 2],
                    color=f"C{i}", capsize=3, ms=5, mfc="none" if i % 2 else f"C{i}")
        ax.plot(sweep.widths, fit.predict(sweep.widths), "-", color=f"C{i}",
                label=f"{label}: slope {fit.slope:.2f} [{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]")
    w = sweeps[0].widths
    ax.plot(w, sweeps[0].mean[0] * (w / w[0]) ** -0.5, "--", color="gray", label="slope -1/2")
    seeds = sweeps[0].gaps.shape[0]
    loglog_axes(ax, "hidden width", r"$\|eNTK - pNTK \otimes I_k\|_F\,/\,\|eNTK\|_F$",
                title=f"pNTK error vs width ({seeds} seeds, bars: their range)", xbase=2)
    place_legend(ax)


def cost_axes(ax, rows):
    """eNTK/pNTK time and memory ratios against the number of outputs k (log-log)."""
    ks = np.array([r.k for r in rows], float)
    ax.plot(ks, [r.memory_ratio for r in rows], "s--", color="C1", label="memory (array sizes, = k^2)")
    ax.plot(ks, [r.time_ratio for r in rows], "o-", color="C0", label="time (measured, best of repeats)")
    ax.axhline(1.0, color="gray", lw=0.8)
    loglog_axes(ax, "outputs k", "eNTK cost / pNTK cost", title="cost of the full eNTK over the pNTK")
    place_legend(ax)


def pntk_figure(sweeps, labels, rows):
    """Gap vs width (left) and cost ratios vs k (right)."""
    fig, axes = new_figure(ncols=2, width=4.8, height=3.9)
    gap_axes(axes[0, 0], sweeps, labels)
    cost_axes(axes[0, 1], rows)
    return fig


def acquisition_axes(ax, curves):
    """Mean test accuracy vs labels per strategy (shaded: the range over seeds);
    ``curves[strategy]`` is a list over seeds."""
    for i, (name, runs) in enumerate(curves.items()):
        acc = np.stack([c.accuracy for c in runs])
        ax.plot(runs[0].labels, acc.mean(0), "o-", color=f"C{i}", ms=4,
                label=f"{STRATEGY_NAMES.get(name, name)}")
        if len(runs) > 1:
            ax.fill_between(runs[0].labels, acc.min(0), acc.max(0), color=f"C{i}", alpha=0.15)
    seeds = len(next(iter(curves.values())))
    ax.set_xlabel("labelled points")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"acquisition curves (mean of {seeds} seeds, band: their range)", fontsize=10)
    ax.grid(True, alpha=0.3)
    place_legend(ax)


OUTLIER_DECADES = 3.0
"""A retraining check's score more than this many decades below the median is drawn at the
axis floor (a down-pointing marker) and named in the legend, so it cannot stretch the axis."""


def _floor(scores: np.ndarray) -> float:
    positive = scores[scores > 0]
    return float(np.median(positive)) * 10.0 ** -OUTLIER_DECADES if positive.size else 1e-12


def retrain_axes(ax, check, width: int | None = None):
    """Look-ahead score vs the change measured by actually retraining (log-log), one point
    per candidate (``width``: the net's, for the title); outliers (see
    :data:`OUTLIER_DECADES`) are clipped to the floor and said."""
    both = np.concatenate([check.scores_actual, check.scores_pred])
    floor = _floor(both)
    x, y = np.maximum(check.scores_actual, floor), np.maximum(check.scores_pred, floor)
    out = (check.scores_actual < floor) | (check.scores_pred < floor)
    ax.loglog(x[~out], y[~out], "o", color="C0", label="candidate")
    if out.any():
        ax.loglog(x[out], y[out], "v", color="C3", ms=8,
                  label=f"{int(out.sum())} below {floor:.0e}, drawn at the floor")
    lo, hi = min(x.min(), y.min()) / 1.5, max(x.max(), y.max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "--", color="gray", label="y = x")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    log_ticks(ax.xaxis)
    log_ticks(ax.yaxis)
    ax.set_xlabel("mean sq. change, actual retraining")
    ax.set_ylabel("mean sq. change, eNTK look-ahead")
    net = "" if width is None else f", width {width}"
    ax.set_title(f"{len(check.candidates)} candidates{net}: median cosine "
                 f"{np.median(check.cosine):.2f}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    place_legend(ax)


def active_figure(curves, check, check_width: int | None = None):
    """Acquisition curves (left) and look-ahead vs retraining (right; ``check_width``: the
    width of the net it was measured on, for its title)."""
    fig, axes = new_figure(ncols=2, width=4.8, height=3.9)
    acquisition_axes(axes[0, 0], curves)
    retrain_axes(axes[0, 1], check, check_width)
    return fig
