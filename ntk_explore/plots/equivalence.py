"""Figures for notebook 02: three learners, kernel motion, width sweeps, the table."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from .base import loglog_axes, new_figure, place_legend

__all__ = ["three_learners_figure", "width_sweep_figure", "table_figure"]

_STYLE = {"net": ("C0", "-"), "linearized": ("C1", "--"), "infinite NTK": ("C2", ":")}


def _learners(result):
    out = [("net", result.net), ("linearized", result.linear)]
    if result.infinite is not None:
        out.append(("infinite NTK", result.infinite))
    return out


def _plain_log_axis(axis, lim):
    """Log-scale ticks labelled ``0.01``, ``1e-04`` in plain text: mathtext labels
    (``10^{-2}``) and labelled minor ticks take most of a redraw of this figure.
    ``lim``: the axis limits; a range under 3 decades also gets 2x and 5x ticks, so
    every log axis carries at least three labelled ticks."""
    lo, hi = sorted(abs(v) for v in lim)
    subs = (1.0, 2.0, 5.0) if hi < 1000 * max(lo, 1e-300) else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(StrMethodFormatter("{x:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def three_learners_figure(task, result, title: str = ""):
    """Fitted functions (1-D tasks) or test predictions, loss curves, net-lin distance, kernel motion.

    ``task``: :class:`~ntk_explore.topics.equivalence.RegressionTask`; ``result``:
    :class:`~ntk_explore.topics.equivalence.ThreeLearners`. Returns a 1 x 4 Figure.
    """
    fig, axes = new_figure(ncols=4, width=3.7, height=3.3)
    ax = axes[0, 0]
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
        ax.plot([yt.min(), yt.max()], [yt.min(), yt.max()], "k-", lw=0.8)
        ax.set_xlabel("target y (test points)")
        ax.set_ylabel("prediction")
    ax.set_title(title or f"after t = {result.times[-1]:.3g}", fontsize=10)
    place_legend(ax)
    ax = axes[0, 1]
    t = np.maximum(result.times, result.times[1] / 10 if result.times.size > 1 else 1.0)
    for name, c in _learners(result):
        col, ls = _STYLE[name]
        ax.plot(t, c.train_loss, color=col, ls=ls, label=f"{name} train")
        ax.plot(t, c.test_loss, color=col, ls=ls, alpha=0.45, lw=2.5, label=f"{name} test")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_axis(ax.xaxis, ax.get_xlim())
    _plain_log_axis(ax.yaxis, ax.get_ylim())
    ax.set_xlabel("training time t = lr × steps (GD time units)")
    ax.set_ylabel("loss 1/(2n) Σ (f - y)² (target units²)")
    # Below the axes: inside, the six entries would cover the curves.
    ax.legend(fontsize=9, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              frameon=False)
    ax = axes[0, 2]
    ax.plot(t[1:], np.maximum(result.net_lin_distance[1:], 1e-12), color="C3")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_axis(ax.xaxis, ax.get_xlim())
    _plain_log_axis(ax.yaxis, ax.get_ylim())
    ax.set_xlabel("training time t (GD time units)")
    ax.set_ylabel("RMS_test |f_net - f_lin| (target units)")
    ax.set_title("net vs its linearization", fontsize=10)
    ax = axes[0, 3]
    ks = result.kernel_steps * result.lr_eff
    ax.plot(ks, result.kernel_motion, "o-", color="C4")
    ax.set_xlabel("training time t (GD time units)")
    ax.set_ylabel("||K_t - K_0||_F / ||K_0||_F (relative)")
    ax.set_title("eNTK motion on training inputs", fontsize=10)
    for a in axes[0]:
        a.grid(True, which="major", alpha=0.3)
    if result.diverged_at is not None:
        fig.suptitle(f"WARNING: the net diverged at step {result.diverged_at}; lower the "
                     "learning rate", color="red")
    return fig


def width_sweep_figure(sweep, highlight: int | None = None):
    """Kernel motion, distance to the NTK learner and test loss against width (log-log)."""
    fig, axes = new_figure(ncols=3, width=4.0, height=3.3)
    w = sweep.widths
    panels = [("kernel_motion", "relative eNTK change\n||K_T - K_0||_F / ||K_0||_F"),
              ("distance_to_ntk", "distance to the NTK learner\nRMS |f_net - f_NTK| (target units)"),
              ("test_loss", "final test loss (target units²)")]
    for ax, (field, label) in zip(axes[0], panels):
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
        loglog_axes(ax, "hidden width n", label, xbase=2)
        place_legend(ax)
    return fig


def table_figure(result, paper: dict | None = None):
    """Mean test RMSE ± 2 s.e. per method, with the paper's numbers when given."""
    fig, axes = new_figure(ncols=1, width=7.5, height=3.4)
    ax = axes[0, 0]
    rows = result.rows()
    names = [r[0] for r in rows]
    pos = np.arange(len(rows))
    ax.errorbar(pos - 0.15, [r[1] for r in rows], yerr=[2 * np.nan_to_num(r[2]) for r in rows],
                fmt="o", color="C0", capsize=3,
                label=f"reproduced ({result.form}, {result.trials} trials, n={result.n})")
    if paper:
        ax.errorbar(pos + 0.15, [paper[m][0] for m in names], yerr=[2 * paper[m][1] for m in names],
                    fmt="s", color="C3", capsize=3, label="paper (50 trials, n=1000)")
    ax.set_xticks(pos, names, rotation=30)
    ax.set_ylabel("test RMSE (target units)")
    ax.set_xlabel("method")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    place_legend(ax)
    return fig
