"""Notebook 00's figure: a net, its linearization and NTK regression on one 1-D task."""

from __future__ import annotations

import numpy as np

from .base import loglog_axes, new_figure, place_legend

__all__ = ["first_look_figure"]


def first_look_figure(x_train, y_train, x_test, y_test, curves: dict, widths, motion, distance,
                      width: int):
    """Left: the three learners' test functions at ``width``; right: kernel motion and
    net-linearization distance against width.

    ``curves``: ``{'net' | 'linearized' | 'NTK regression': (m,) outputs on x_test (m, 1)}``;
    ``widths``, ``motion``, ``distance``: ``(W,)`` (relative eNTK change over training and
    RMS distance between the trained net and its linearization, per width).
    """
    fig, axes = new_figure(ncols=2, width=4.6, height=3.7)
    ax, bx = axes[0]
    xt = np.asarray(x_test)[:, 0]
    ax.plot(xt, np.asarray(y_test)[:, 0], color="0.6", lw=4, alpha=0.5, label="target sin(2x)")
    styles = {"net": ("C0", "-"), "linearized": ("C1", "--"), "NTK regression": ("C2", ":")}
    for name, out in curves.items():
        colour, ls = styles[name]
        ax.plot(xt, np.asarray(out), color=colour, ls=ls, lw=2, label=name)
    ax.plot(np.asarray(x_train)[:, 0], np.asarray(y_train)[:, 0], "ko", ms=4, label="training points")
    ax.set_xlabel("input x")
    ax.set_ylabel("output f(x)")
    ax.set_title(f"after training, width {width}", fontsize=10)
    place_legend(ax)
    widths = np.asarray(widths, float)
    bx.plot(widths, motion, "o-", color="C3", label="kernel change ||Θ_T − Θ_0|| / ||Θ_0||")
    bx.plot(widths, distance, "s-", color="C0", label="RMS distance net − linearized")
    bx.axvline(width, color="0.5", lw=1)
    loglog_axes(bx, "hidden width", "relative change / RMS distance", xbase=2,
                title="both shrink as the net widens")
    place_legend(bx)
    return fig
