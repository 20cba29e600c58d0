"""Figures for "where the kernel loses": data scaling, the kernel through training,
pretrained kernels, sparse parity and transfer. Each takes computed results (duck-typed:
see :mod:`ntk_explore.topics.kernel_loses`) and returns a Figure."""

from __future__ import annotations

import numpy as np

from .base import log_ticks, loglog_axes, new_figure, place_legend
from .live import FIGURE_DPI, LiveFigure

__all__ = ["LABELS", "scaling_figure", "ScalingLive", "kernel_path_figure", "pretrained_figure",
           "transfer_loses_figure", "parity_figure", "extended_figure"]

LABELS = {
    "net": "trained net (rich)", "lazy": "trained net (lazy, large alpha)",
    "entk_init": "eNTK at init", "ntk": "infinite-width NTK", "after": "after-kernel",
    "pretrained": "eNTK after pretraining", "one_step": "one big step + ridge on readout",
    "probe": "ridge on pretrained features", "finetune": "fine-tuned pretrained net",
    "target_only": "net trained on the target only",
    "target_one_step": "one big step on the target + ridge",
    "linearized_init": "eNTK at init (linearized net)",
}
COLORS = {"net": "C3", "lazy": "C1", "entk_init": "C0", "ntk": "C9", "after": "C2",
          "pretrained": "C4", "one_step": "C5", "probe": "C4", "finetune": "C3",
          "target_only": "C1", "target_one_step": "C5", "linearized_init": "C0"}
PRETRAINED = ("probe", "finetune")  # drawn solid in the transfer figure; the others dashed


def scaling_figure(curves, learners=None, *, title: str | None = None):
    """Test error vs n (log-log), seed mean with min-max band, fitted power law per learner.

    ``curves``: ``ns (S,)``, ``errors[name] (seeds, S)``, ``exponent(name)``.
    """
    fig, axes = new_figure(1, 1, width=6.4, height=4.4)
    ax = axes[0, 0]
    names = list(curves.errors) if learners is None else [n for n in learners if n in curves.errors]
    ns = np.asarray(curves.ns)
    for name in names:
        err = np.asarray(curves.errors[name])
        e = curves.exponent(name)
        c = COLORS.get(name, None)
        ax.fill_between(ns, err.min(0), err.max(0), color=c, alpha=0.15, lw=0)
        ax.plot(ns, err.mean(0), "o-", color=c, ms=4,
                label=f"{LABELS.get(name, name)}: {e.slope:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]")
    loglog_axes(ax, "training samples n", "test MSE / Var(y)", xbase=2,
                title=title or "data scaling (exponent of -log error vs log n, 95% interval)")
    place_legend(ax)  # below the axes: inside, it covered points of some curves
    return fig


class ScalingLive:
    """:func:`scaling_figure` kept open for an app: every series is drawn once, a frame shows a subset.

    ``ns (S,)``; ``series``: ``{key: (label, color, errors (seeds, S), exponent)}`` (an
    ``exponent`` has ``slope`` and ``ci95``). Axis limits cover every series, so a frame
    redraws only the series it shows, the legend and the title over a cached background
    (:class:`~ntk_explore.plots.live.LiveFigure`).
    """

    def __init__(self, ns, series: dict, *, dpi: int = FIGURE_DPI):
        fig, axes = new_figure(1, 1, width=6.4, height=4.4)
        ax = self.ax = axes[0, 0]
        ns = np.asarray(ns)
        self.artists = {}
        for key, (label, color, err, e) in series.items():
            err = np.asarray(err)
            band = ax.fill_between(ns, err.min(0), err.max(0), color=color, alpha=0.15, lw=0)
            (line,) = ax.plot(ns, err.mean(0), "o-", color=color, ms=4,
                              label=f"{label}: {e.slope:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]")
            self.artists[key] = (band, line)
        loglog_axes(ax, "training samples n", "test MSE / Var(y)", xbase=2, title=" ")
        ax.set_xlim(ax.get_xlim())
        ax.set_ylim(ax.get_ylim())  # frozen: a frame never rescales
        flat = [a for pair in self.artists.values() for a in pair]
        # A legend of every series, below the axes, while the layout runs: the room it
        # takes is kept for the (smaller) legend of any frame.
        legend = place_legend(ax)
        self.live = LiveFigure(fig, overlays=flat + [ax.title, legend], dpi=dpi)

    def render(self, keys, title: str) -> bytes:
        """PNG bytes showing the series ``keys`` (in that order in the legend) under ``title``."""
        for key, pair in self.artists.items():
            for a in pair:
                a.set_visible(key in keys)
        self.ax.set_title(title, fontsize=10)
        lines = [self.artists[k][1] for k in keys]
        legend = place_legend(self.ax, handles=lines)
        self.live.overlays = [a for k in keys for a in self.artists[k]] + [self.ax.title, legend]
        return self.live.render()


def kernel_path_figure(rich, lazy=None):
    """Five panels against GD step for a rich (and a lazy) net, and a legend panel.

    Top: the training loss at every step (relative to its start); the after-kernel's test
    error; the kernel velocity between snapshots. Bottom: the kernel distance
    ``S(K0, Kt)`` (and, for the rich net, ``S(K_s, K_t)`` from the kernel at the step ``s``
    where its loss first reached its ``fraction`` of the start; ``S = 0`` at step 0 is not
    drawn); the centred-target alignment. ``rich``/``lazy``: ``KernelPath``-like (``steps``, ``loss_curve``,
    ``after_error``, ``velocity``, ``distance``, ``alignment``, ``loss_step``,
    ``loss_index``, ``distance_from``, ``alpha``, ``fraction``). Step 0 is drawn at 0.5 on
    the log axes.
    """
    fig, axes = new_figure(3, 2, width=3.7, height=3.1)
    runs = [(rich, "rich", "C3")] + ([(lazy, "lazy", "C1")] if lazy is not None else [])
    for path, label, c in runs:
        s = np.maximum(np.asarray(path.steps, float), 0.5)
        every = np.maximum(np.arange(np.asarray(path.loss_curve).size, dtype=float), 0.5)
        lab = f"{label} net (alpha = {path.alpha:g})"
        axes[0, 0].plot(every, path.loss_curve / path.loss_curve[0], "-", lw=1.2, color=c, label=lab)
        axes[0, 1].plot(s, path.after_error, "o-", ms=3, color=c)
        axes[0, 2].plot(s[1:], np.maximum(path.velocity[1:], 1e-12), "o-", ms=3, color=c)
        axes[1, 0].plot(s[1:], np.maximum(path.distance[1:], 1e-6), "o-", ms=3, color=c)
        axes[1, 1].plot(s, path.alignment, "o-", ms=3, color=c)
    i = rich.loss_index
    if i is not None:
        t5 = max(float(rich.loss_step), 0.5)
        later = np.asarray(rich.steps) >= rich.loss_step
        axes[1, 0].plot(np.maximum(np.asarray(rich.steps, float), 0.5)[later][1:],
                        np.maximum(rich.distance_from(i)[later][1:], 1e-6), "s--", ms=3,
                        color="C2", label=f"S(K at step {rich.loss_step}, Kt), rich net")
        for ax in axes.flat[:5]:
            ax.axvline(t5, color="0.4", lw=0.9, ls=":")
        axes[0, 0].plot([], [], color="0.4", lw=0.9, ls=":",
                        label=f"rich net's loss first at {rich.fraction:.0%} of its start")
    loglog_axes(axes[0, 0], "GD step", "training loss / initial loss", title="training loss")
    axes[0, 1].set_xscale("log")
    log_ticks(axes[0, 1].xaxis)
    axes[0, 1].set_xlabel("GD step")
    axes[0, 1].set_ylabel("test MSE / Var(y)")
    axes[0, 1].set_title("after-kernel test error", fontsize=10)
    axes[0, 1].grid(True, which="both", alpha=0.3)
    loglog_axes(axes[0, 2], "GD step", "S(K(prev), K(t)) per step", title="kernel velocity")
    loglog_axes(axes[1, 0], "GD step", "kernel distance (dimensionless)",
                title="kernel distance S")
    axes[1, 1].set_xscale("log")
    log_ticks(axes[1, 1].xaxis)
    axes[1, 1].set_xlabel("GD step")
    axes[1, 1].set_ylabel("alignment (dimensionless)")
    axes[1, 1].set_title("centred-target alignment", fontsize=10)
    axes[1, 1].grid(True, alpha=0.3)
    axes[1, 2].axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    h2, l2 = axes[1, 0].get_legend_handles_labels()
    axes[1, 2].legend(handles + h2, labels + l2, loc="center", fontsize=9, frameon=False,
                      title="step 0 is drawn at 0.5", title_fontsize=9)
    return fig


def pretrained_figure(exponents: dict, net, highlight: int | None = None):
    """Exponent of the eNTK after pretraining on ``n_pre`` samples (with 95% intervals) vs
    ``n_pre``, against the net's exponent band. ``exponents``: ``{n_pre: Exponent}``."""
    fig, axes = new_figure(1, 1, width=5.6, height=4.0)
    ax = axes[0, 0]
    n_pres = np.array(sorted(exponents))
    slope = np.array([exponents[n].slope for n in n_pres])
    lo = np.array([exponents[n].ci95[0] for n in n_pres])
    hi = np.array([exponents[n].ci95[1] for n in n_pres])
    ax.errorbar(n_pres, slope, yerr=[slope - lo, hi - slope], fmt="o-", color="C4", capsize=3,
                label="eNTK after pretraining on n_pre samples")
    ax.axhspan(net.ci95[0], net.ci95[1], color="C3", alpha=0.15,
               label=f"trained net {net.slope:.2f} [{net.ci95[0]:.2f}, {net.ci95[1]:.2f}]")
    ax.axhline(net.slope, color="C3", lw=1)
    if highlight is not None:
        ax.axvline(highlight, color="gray", lw=1, ls=":", label=f"n_pre = {highlight}")
    ax.set_xscale("log", base=2)
    log_ticks(ax.xaxis, base=2)
    ax.set_xlabel("pretraining samples n_pre")
    ax.set_ylabel("data-scaling exponent (-d log err / d log n)")
    ax.set_title("a pretrained kernel does not catch up", fontsize=10)
    ax.grid(True, alpha=0.3)
    place_legend(ax, "below")
    return fig


def transfer_loses_figure(result):
    """Target test error vs target samples ``m`` for every transfer learner (seed mean, min-max
    band); the learners that use the pretrained net solid, the others dashed."""
    fig, axes = new_figure(1, 1, width=6.4, height=4.2)
    ax = axes[0, 0]
    ms = np.asarray(result.ms)
    for name, err in result.errors.items():
        c = COLORS.get(name)
        ax.fill_between(ms, err.min(0), err.max(0), color=c, alpha=0.12, lw=0)
        ax.plot(ms, err.mean(0), "o-" if name in PRETRAINED else "s--", ms=4, color=c,
                label=LABELS.get(name, name))
    loglog_axes(ax, "target samples m", "target test MSE / Var(y)", xbase=2,
                title=f"pretrain on {result.g1}(w.x), learn {result.g2}(w.x)")
    place_legend(ax, "right")
    return fig


def parity_figure(result):
    """Test accuracy vs n for the trained net and NTK ridge on sparse parity."""
    fig, axes = new_figure(1, 1, width=5.0, height=3.8)
    ax = axes[0, 0]
    for name, acc, c in (("trained net (SGD)", result.net, "C3"), ("NTK ridge", result.ntk, "C9")):
        ax.plot(result.ns, acc.mean(0), "o-", color=c, label=name)
    ax.axhline(0.5, color="gray", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0.4, 1.02)
    ax.set_xlabel("training samples n")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_title(f"{result.k}-sparse parity on {result.d} bits", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="center right", framealpha=0.9)
    return fig


def extended_figure(ext, curves=None):
    """The eNTK at init past the kernel matrix (``ext``: an ``ExtendedCurve``), with the
    sizes solved matrix-free shaded and ``n = P`` (the eNTK's largest possible rank)
    marked; ``curves`` (a ``data_scaling`` result) adds its trained net and
    infinite-width NTK (seed means) for comparison."""
    fig, axes = new_figure(1, 1, width=6.4, height=4.4)
    ax = axes[0, 0]
    ns = np.asarray(ext.ns)
    ax.axvspan(ext.matfree_from / 1.15, ns[-1] * 1.15, color="0.92", zorder=0,
               label=f"matrix-free CG (n >= {ext.matfree_from:,}): no n x n kernel")
    if curves is not None:
        for name in ("net", "ntk"):
            if name in curves.errors:
                e = curves.exponent(name)
                ax.plot(curves.ns, curves.mean(name), "s--", ms=4, color=COLORS[name],
                        alpha=0.8, label=f"{LABELS[name]} (above): {e.slope:.2f}")
    e = ext.exponent()
    ax.plot(ns, ext.errors, "o-", color=COLORS["entk_init"], ms=5,
            label=f"{LABELS['entk_init']}: {e.slope:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]")
    if ns[0] <= ext.num_params <= ns[-1] * 1.15:
        ax.axvline(ext.num_params, color="gray", lw=1, ls=":",
                   label=f"n = P = {ext.num_params:,} parameters")
    loglog_axes(ax, "training samples n", "test MSE / Var(y)", xbase=2,
                title=f"eNTK at init to n = {ns[-1]:,} (width {ext.settings['width']}; "
                      f"exponent, 95% interval)")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.95)
    return fig
