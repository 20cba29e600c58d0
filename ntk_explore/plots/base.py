"""Figures for kernels and their convergence with width."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from .layout import watch
from .live import LiveFigure

__all__ = ["new_figure", "loglog_axes", "log_ticks", "place_legend", "LEGEND_FONTSIZE",
           "kernel_heatmaps", "convergence_loglog", "entk_vs_width_figure", "EntkWidthFigure"]


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.6):
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             facecolor="white", squeeze=False, layout="constrained")
    return watch(fig), axes


LEGEND_FONTSIZE = 9
"""Points: the smallest legend text (readable at the size JupyterLab shows a figure)."""


def place_legend(ax, where: str = "below", **kw):
    """A legend of at least 9 pt placed off the data: under the axes' x label (default;
    panels of a row keep their width) or right of the axes; any other ``where`` is a
    matplotlib ``loc`` inside the axes, for a corner the caller knows is empty."""
    kw.setdefault("fontsize", LEGEND_FONTSIZE)
    kw.setdefault("frameon", False)
    if where == "right":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)
    if where == "below":
        labels = ax.get_legend_handles_labels()[1]
        kw.setdefault("ncols", 1 if max((len(t) for t in labels), default=0) > 22 else 2)
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.24), borderaxespad=0.0, **kw)
    return ax.legend(loc=where, **kw)


def log_ticks(axis, base: int = 10) -> None:
    """Enough labelled ticks on a log axis, written as plain numbers (``0.02``, ``512``), no
    minor labels: every power (base 2); base 10 by the data range already drawn -- under
    a factor 3 every integer multiple (0.008, 0.009, 0.01), under 3 decades 1-2-5 steps,
    beyond that the decades."""
    if base == 10:
        lo, hi = sorted(abs(float(v)) for v in axis.get_view_interval())
        ratio = hi / lo if lo > 0 else float("inf")
        subs = (tuple(float(k) for k in range(1, 10)) if ratio < 3
                else (1.0, 2.0, 5.0) if ratio < 1000 else (1.0,))
    else:
        subs = (1.0,)
    axis.set_major_locator(LogLocator(base=base, subs=subs, numticks=12 if base == 10 else 6))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def loglog_axes(ax, xlabel: str, ylabel: str, *, title: str | None = None, xbase: int = 10):
    """Log-log axes with labels, an optional title, labelled ticks (:func:`log_ticks`) and a
    light grid."""
    ax.set_xscale("log", base=xbase)
    ax.set_yscale("log")
    log_ticks(ax.xaxis, xbase)
    log_ticks(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def kernel_heatmaps(axes, kernels, titles, extent=None, label="angle (rad)"):
    """Draw kernels side by side on a shared colour scale; returns the last image."""
    vmin = min(float(np.min(k)) for k in kernels)
    vmax = max(float(np.max(k)) for k in kernels)
    im = None
    for ax, k, title in zip(axes, kernels, titles):
        im = ax.imshow(np.asarray(k), vmin=vmin, vmax=vmax, cmap="viridis", origin="lower",
                       extent=extent, aspect="auto")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"x' {label}")
        ax.set_ylabel(f"x {label}")
    return im


def convergence_loglog(ax, sweep, highlight=None):
    """Seed-averaged relative error vs width (±2 s.e.) with its fitted line and the -1/2
    guide; the fit and the key are in the title, which the layout engine always makes
    room for (a legend below a log-log panel overhung the canvas for some sweeps)."""
    w, mean, sem = sweep.widths, sweep.mean, sweep.sem
    ax.errorbar(w, mean, yerr=2 * sem, fmt="o", color="C0", capsize=3)
    fit = sweep.fit
    ax.plot(w, fit.predict(w), "-", color="C0", alpha=0.7)
    ax.plot(w, mean[0] * (w / w[0]) ** -0.5, "--", color="gray")
    if highlight is not None:
        ax.axvline(highlight, color="C3", lw=1)
    loglog_axes(ax, "hidden width m", r"relative error $\|\hat\Theta - \Theta\|_F / \|\Theta\|_F$",
                xbase=2, title=f"fitted slope {fit.slope:.2f} [{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]\n"
                               f"dots: {sweep.errors.shape[0]}-seed mean ±2 s.e.;\ndashed: slope -1/2"
                               + ("; red: shown" if highlight is not None else ""))


class EntkWidthFigure:
    """Heat maps (eNTK at one width, infinite NTK, difference) and the log-log sweep.

    Built once per sweep; :meth:`update` swaps in another eNTK (width or seed
    move) and redraws only the heat maps, their colour bars and the width marker
    (see :class:`~ntk_explore.plots.live.LiveFigure`). ``figure``: the Figure.
    """

    def __init__(self, theta, entk, ntk_inf, width, error, sweep):
        fig, axes = new_figure(ncols=4, width=3.6, height=3.8)
        self.figure, self.axes = fig, axes[0]
        ext = [theta[0], theta[-1], theta[0], theta[-1]]
        self.ntk_inf = np.asarray(ntk_inf)
        self._images = [ax.imshow(self.ntk_inf, cmap="viridis", origin="lower", extent=ext,
                                  aspect="auto") for ax in self.axes[:2]]
        self._diff = self.axes[2].imshow(self.ntk_inf, cmap="RdBu_r", origin="lower", extent=ext,
                                         aspect="auto")
        self.axes[1].set_title("infinite-width NTK", fontsize=10)
        for ax in self.axes[:3]:
            ax.set_xlabel("x' angle (rad)")
            ax.set_ylabel("x angle (rad)")
        # The layout is fixed after the first draw (LiveFigure), but the colour bars' tick
        # labels change width with every eNTK shown: a wide pad leaves them room to grow
        # without reaching the next panel's y label.
        cb1 = fig.colorbar(self._images[1], ax=self.axes[:2], shrink=0.8, pad=0.06,
                           label="kernel value")
        cb2 = fig.colorbar(self._diff, ax=self.axes[2], shrink=0.8, pad=0.12, label="eNTK - NTK")
        # Tick labels of one width whatever is shown ("0.50", "+2.5e-03"), so a colour bar's
        # label never moves into the next panel after a slider move.
        cb1.formatter = FormatStrFormatter("%.2f")
        cb2.formatter = FormatStrFormatter("%+.1e")
        convergence_loglog(self.axes[3], sweep, highlight=width)
        self._marker = self.axes[3].lines[-1]
        self.update(entk, width, error)
        self.live = LiveFigure(fig, dynamic=[*self.axes[:3], cb1.ax, cb2.ax],
                               overlays=[self._marker])

    def update(self, entk, width, error) -> None:
        """Show the eNTK ``entk`` ``(n, n)`` of a net of this ``width``."""
        entk = np.asarray(entk)
        lo = min(float(entk.min()), float(self.ntk_inf.min()))
        hi = max(float(entk.max()), float(self.ntk_inf.max()))
        self._images[0].set_data(entk)
        for im in self._images:
            im.set_clim(lo, hi)
        diff = entk - self.ntk_inf
        lim = float(np.max(np.abs(diff))) or 1.0
        self._diff.set_data(diff)
        self._diff.set_clim(-lim, lim)
        self.axes[0].set_title(f"eNTK, width {width}", fontsize=10)
        self.axes[2].set_title(f"difference (rel. error {error:.3f})", fontsize=10)
        self._marker.set_xdata([width, width])

    def render(self) -> bytes:
        """PNG bytes of the current state (partial redraw)."""
        return self.live.render()


def entk_vs_width_figure(theta, entk, ntk_inf, width, error, sweep):
    """The static version of :class:`EntkWidthFigure` (e.g. for saving): a Figure."""
    return EntkWidthFigure(theta, entk, ntk_inf, width, error, sweep).figure
