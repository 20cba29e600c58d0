"""Figures for notebook 03: feature change, kernel motion and the coordinate check vs width."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import LogLocator, NullLocator

from .base import log_ticks, new_figure, place_legend

__all__ = ["feature_change_figure", "kernel_factor_figure", "coord_check_figure"]

_COLOURS = {"ntk": "C0", "mup": "C3", "standard": "C2"}


def _loglog_axis(ax, xlabel, ylabel, widths=None):
    """Log-log axes with few ticks: the widths on x, :func:`~.base.log_ticks` on y, no minor
    ticks (drawing many minor log ticks and their labels dominated the time to draw these
    figures)."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if widths is not None:
        ax.set_xticks(widths, [str(int(w)) for w in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    log_ticks(ax.yaxis)  # after the data: the tick steps follow the range drawn
    lo, hi = sorted(ax.get_ylim())
    if sum(lo <= t <= hi for t in ax.get_yticks()) < 3:  # e.g. only 0.1 and 0.2 in view
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def _label(name, sweep, min_width):
    return f"{name} (alpha {sweep.alpha:g}, lr {sweep.lr:g})" if sweep.alpha != 1 else name


def _plot_quantity(ax, sweeps, quantity, min_widths, guide):
    for name, sweep in sweeps.items():
        c = _COLOURS.get(sweep.parametrization, None)
        mean = sweep.mean(quantity)
        if sweep.seeds > 1:  # each seed faintly, the seed mean solid
            per_seed = sweep.per_seed(quantity)  # (S, W)
            ax.plot(np.tile(sweep.widths, sweep.seeds), per_seed.reshape(-1), ".", color=c,
                    alpha=0.35, ms=4)
        ax.plot(sweep.widths, mean, "o", color=c)
        fit = sweep.fit(quantity, min_widths.get(name, 0))
        keep = sweep.widths >= min_widths.get(name, 0)
        ax.plot(sweep.widths[keep], fit.predict(sweep.widths[keep]), "-", color=c,
                label=f"{_label(name, sweep, 0)}: slope {fit.slope:.2f} "
                      f"[{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]")
    w = next(iter(sweeps.values())).widths
    first = next(iter(sweeps.values())).mean(quantity)[0]
    ax.plot(w, first * (w / w[0]) ** guide, "--", color="gray", label=f"slope {guide:g} (lazy theory)")
    place_legend(ax)


def feature_change_figure(sweeps: dict, min_widths: dict | None = None):
    """Three panels over width: hidden-feature change, eNTK change, CKA(init, trained).

    ``sweeps``: name -> :class:`~ntk_explore.topics.features.FeatureSweep`;
    ``min_widths``: name -> smallest width used in that sweep's fit.
    """
    min_widths = min_widths or {}
    fig, axes = new_figure(ncols=3, width=4.4, height=3.7)
    a, b, c = axes[0]
    _plot_quantity(a, sweeps, "feature", min_widths, -0.5)
    widths = next(iter(sweeps.values())).widths
    _loglog_axis(a, "hidden width n", "||h_T - h_0|| / ||h_0||", widths)
    a.set_title("hidden features (mean over layers)", fontsize=10)
    _plot_quantity(b, sweeps, "kernel", min_widths, -1.0)
    _loglog_axis(b, "hidden width n", "||K_T - K_0||_F / ||K_0||_F", widths)
    b.set_title("eNTK on the training set", fontsize=10)
    for name, sweep in sweeps.items():
        cka = sweep.cka.mean(0)  # (W, L)
        for l in range(cka.shape[1]):
            c.plot(sweep.widths, 1 - cka[:, l], "o-" if l == 0 else "s--",
                   color=_COLOURS.get(sweep.parametrization), label=f"{name}, layer {l + 1}")
    _loglog_axis(c, "hidden width n", "1 - CKA(init, trained)", widths)
    c.set_title("representation (0 = unchanged)", fontsize=10)
    place_legend(c)
    return fig


def kernel_factor_figure(sweeps: dict):
    """Relative change of each layer's feature Gram and backprop Gram vs width."""
    fig, axes = new_figure(ncols=2, width=4.8, height=3.7)
    for ax, q, title in ((axes[0, 0], "feature_gram", "feature Gram G_l (input of W_l)"),
                         (axes[0, 1], "backprop_gram", "backprop Gram B_l (output of W_l)")):
        for name, sweep in sweeps.items():
            vals = getattr(sweep, q).mean(0)  # (W, L+1)
            for l in range(vals.shape[1]):
                if np.all(vals[:, l] <= 1e-12):
                    continue  # the input Gram and the output signal never move
                ax.plot(sweep.widths, vals[:, l], "o-", color=_COLOURS.get(sweep.parametrization),
                        alpha=1.0 - 0.3 * l, label=f"{name}, W_{l + 1}")
        _loglog_axis(ax, "hidden width n", "relative Frobenius change",
                     next(iter(sweeps.values())).widths)
        ax.set_title(title, fontsize=10)
        place_legend(ax)
    return fig


def coord_check_figure(checks: list):
    """One panel per :class:`~ntk_explore.topics.features.CoordCheck`: RMS coordinate
    update of each layer vs width, one line style per step."""
    fig, axes = new_figure(ncols=len(checks), width=4.0, height=3.5)
    for ax, check in zip(axes[0], checks):
        layers = check.size.shape[2]
        for t in range(check.size.shape[0]):
            for l in range(layers):
                name = "output f" if l == layers - 1 else f"h_{l + 1}"
                ax.plot(check.widths, check.size[t, :, l], "o-", color=f"C{l}",
                        alpha=0.35 + 0.65 * (t + 1) / check.size.shape[0],
                        label=name if t == check.size.shape[0] - 1 else None)
        _loglog_axis(ax, "hidden width n", "RMS coordinate of x_t - x_0", check.widths)
        ax.set_title(f"{check.parametrization}: steps 1..{check.steps[-1]} (darker = later)",
                     fontsize=9)
        place_legend(ax)
    return fig
