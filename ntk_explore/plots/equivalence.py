"""Figures for notebook 02: three learners, kernel motion, width sweeps, the table."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from .base import LEGEND_FONTSIZE, log_ticks, loglog_axes, new_figure, place_legend

__all__ = ["three_learners_figure", "width_sweep_figure", "table_figure"]

_STYLE = {"net": ("C0", "-"), "linearized": ("C1", "--"), "infinite NTK": ("C2", ":")}


def _learners(result):
    out = [("net", result.net), ("linearized", result.linear)]
    if result.infinite is not None:
        out.append(("infinite NTK", result.infinite))
    return out


def _log_labels(axis) -> None:
    """Labelled ticks on a log axis, spaced by the decades it spans (plain numbers, no
    minor labels): the decades alone from 2 decades up (1-2-5 steps there crowd ``0.01``
    into ``0.02`` on a panel a few inches wide), 1-2-5 steps from 1 decade, 1-2-3-5 below
    that, every integer multiple below a factor 2 -- always at least two labels."""
    lo, hi = sorted(abs(float(v)) for v in axis.get_view_interval())
    decades = np.log10(hi / lo) if lo > 0 else np.inf
    subs = ((1.0,) if decades >= 2 else (1.0, 2.0, 5.0) if decades >= 1
            else (1.0, 2.0, 3.0, 5.0) if decades >= np.log10(2) else tuple(range(1, 10)))
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def three_learners_figure(task, result, title: str = ""):
    """Fitted functions (1-D tasks) or test predictions, loss curves, net-lin distance, kernel motion.

    ``task``: :class:`~ntk_explore.topics.equivalence.RegressionTask`; ``result``:
    :class:`~ntk_explore.topics.equivalence.ThreeLearners`. Returns a 2 x 2 Figure (a row
    of four panels is too wide to read at a notebook's width).
    """
    fig, axes = new_figure(ncols=2, nrows=2, width=5.0, height=3.5)
    t = np.maximum(result.times, result.times[1] / 10 if result.times.size > 1 else 1.0)
    _fit_panel(axes[0, 0], task, result, title)
    _loss_panel(axes[0, 1], result, t)
    _linearization_panel(axes[1, 0], result, t)
    _motion_panel(axes[1, 1], result)
    for a in axes.ravel():
        a.grid(True, which="major", alpha=0.3)
    if result.diverged_at is not None:
        fig.suptitle(f"WARNING: the net diverged at step {result.diverged_at}; lower the "
                     "learning rate", color="red")
    return fig


def _fit_panel(ax, task, result, title: str) -> None:
    """The three learners' functions on a 1-D task, else predictions against test targets."""
    if task.x_train.shape[1] == 1:
        xt = np.asarray(task.x_test)[:, 0]
        ax.plot(xt, np.asarray(task.y_test)[:, 0], color="k", lw=1, label="target")
        for name, c in _learners(result):
            ax.plot(xt, c.test_out[-1], color=_STYLE[name][0], ls=_STYLE[name][1], label=name)
        ax.plot(np.asarray(task.x_train)[:, 0], np.asarray(task.y_train)[:, 0], "ko", ms=4,
                label="training points")
        ax.set_xlabel("input x")
        ax.set_ylabel("output f(x)")
    else:
        yt = np.asarray(task.y_test)[:, 0]
        for name, c in _learners(result):
            ax.plot(yt, c.test_out[-1], ".", color=_STYLE[name][0], label=name, ms=4)
        ax.plot([yt.min(), yt.max()], [yt.min(), yt.max()], "k-", lw=0.8, label="prediction = target")
        ax.set_xlabel("target y (test points)")
        ax.set_ylabel("prediction")
    ax.set_title(title or f"the three learners after t = {result.times[-1]:.3g}", fontsize=10)
    place_legend(ax, "right")


def _log_log(ax) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.get_xlim(), ax.get_ylim()  # autoscale now, so the labels see the final range
    _log_labels(ax.xaxis)
    _log_labels(ax.yaxis)


def _loss_panel(ax, result, t) -> None:
    """Training (solid) and test (wide, faint) loss of each learner against time."""
    for name, c in _learners(result):
        col, ls = _STYLE[name]
        ax.plot(t, c.train_loss, color=col, ls=ls, label=f"{name}, train")
        ax.plot(t, c.test_loss, color=col, ls=ls, alpha=0.45, lw=2.5, label=f"{name}, test")
    _log_log(ax)
    ax.set_xlabel("training time t = lr × steps")
    ax.set_ylabel("loss (target units²)")
    ax.set_title("loss ½ mean (f - y)² on training and test points", fontsize=10)
    place_legend(ax, "right")


def _linearization_panel(ax, result, t) -> None:
    """RMS distance between the net and its linearization on the test points."""
    ax.plot(t[1:], np.maximum(result.net_lin_distance[1:], 1e-12), color="C3")
    _log_log(ax)
    ax.set_xlabel("training time t")
    ax.set_ylabel("RMS |f_net - f_lin| (target units)")
    ax.set_title("net against its linearization (test points)", fontsize=10)


def _motion_panel(ax, result) -> None:
    """Relative eNTK change on the training inputs against time."""
    ax.plot(result.kernel_steps * result.lr_eff, result.kernel_motion, "o-", color="C4")
    ax.set_xlabel("training time t")
    ax.set_ylabel("||K_t - K_0||_F / ||K_0||_F")
    ax.set_title("eNTK motion on the training inputs", fontsize=10)


def width_sweep_figure(sweep, highlight: int | None = None):
    """Kernel motion, distance to the NTK learner and test loss against width (log-log)."""
    fig, axes = new_figure(ncols=3, width=4.0, height=3.3)
    w = sweep.widths
    panels = [("kernel_motion", "||K_T - K_0||_F / ||K_0||_F", "eNTK motion during training"),
              ("distance_to_ntk", "RMS |f_net - f_NTK| (target units)",
               "net against the infinite-NTK learner"),
              ("test_loss", "test loss (target units²)", "test loss after training")]
    for ax, (field, label, title) in zip(axes[0], panels):
        mean = sweep.mean(field)
        for p, name in enumerate(sweep.parametrizations):
            lab = name
            fit = sweep.fits.get(name)
            if field == "kernel_motion" and fit is not None:
                lab = f"{name}: slope {fit.slope:.2f} [{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]"
            ax.plot(w, mean[p], "o-", color=f"C{p}", label=lab)
            vals = getattr(sweep, field)[p]
            ax.plot(np.repeat(w[None], vals.shape[0], 0).ravel(), vals.ravel(), ".",
                    color=f"C{p}", alpha=0.35)
        if field == "test_loss":
            for p in range(len(sweep.parametrizations)):
                if np.isfinite(sweep.ntk_test_loss[p]):
                    ax.axhline(sweep.ntk_test_loss[p], color="C2", ls=":",
                               label="infinite NTK (f0 = 0)" if p == 0 else None)
        if field == "kernel_motion":  # the lazy-regime prediction notebook 03 measures
            ax.plot(w, mean[0, 0] * (w / w[0]) ** -1.0, "--", color="gray",
                    label="slope -1 (lazy regime)")
        if field == "distance_to_ntk":
            ax.plot(w, mean[0, 0] * (w / w[0]) ** -0.5, ":", color="gray",
                    label="slope -1/2 (eNTK fluctuation)")
        if highlight is not None:
            ax.axvline(highlight, color="C3", lw=0.8)
        loglog_axes(ax, "hidden width m", label, title=title, xbase=2)
        ax.get_ylim()
        _log_labels(ax.yaxis)
        place_legend(ax)
    return fig


def table_figure(result, paper: dict | None = None):
    """Mean test RMSE ± 2 s.e. per method, with the paper's numbers when given."""
    fig, axes = new_figure(ncols=1, width=9.0, height=3.6)
    ax = axes[0, 0]
    rows = result.rows()
    names = [r[0] for r in rows]
    pos = np.arange(len(rows))
    ax.errorbar(pos - 0.15, [r[1] for r in rows], yerr=[2 * np.nan_to_num(r[2]) for r in rows],
                fmt="o", color="C0", capsize=3,
                label=f"reproduced here ({result.form}, {result.trials} trials, n = {result.n})")
    if paper:
        ax.errorbar(pos + 0.15, [paper[m][0] for m in names], yerr=[2 * paper[m][1] for m in names],
                    fmt="s", color="C3", capsize=3, label="published (50 trials, n = 1000)")
    ax.set_xticks(pos, names)  # horizontal: rotated labels' boxes overlap one another
    ax.set_ylabel("test RMSE (target units)")
    ax.set_xlabel("method (kernel regression, then the trained nets NN1, NN2)")
    ax.set_yscale("log")
    log_ticks(ax.yaxis)
    ax.grid(True, which="major", alpha=0.3)
    # above the axes: right of them it takes the width the eleven tick labels need
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncols=2, frameon=False,
              fontsize=LEGEND_FONTSIZE, borderaxespad=0.0)
    return fig
