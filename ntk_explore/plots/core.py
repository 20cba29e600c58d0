"""Figures for kernels and their convergence with width."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["new_figure", "kernel_heatmaps", "convergence_loglog", "entk_vs_width_figure"]


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.6):
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             facecolor="white", squeeze=False, layout="constrained")
    return fig, axes


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
    """Seed-averaged relative error vs width with its fitted slope and the -1/2 guide."""
    w, mean, sem = sweep.widths, sweep.mean, sweep.sem
    ax.errorbar(w, mean, yerr=2 * sem, fmt="o", color="C0", capsize=3,
                label=f"mean of {sweep.errors.shape[0]} seeds (±2 s.e.)")
    fit = sweep.fit
    ax.plot(w, fit.predict(w), "-", color="C0", alpha=0.7,
            label=f"fit: slope {fit.slope:.2f} [{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]")
    ax.plot(w, mean[0] * (w / w[0]) ** -0.5, "--", color="gray", label="slope -1/2 (theory)")
    if highlight is not None:
        ax.axvline(highlight, color="C3", lw=1, label=f"width {highlight}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden width n")
    ax.set_ylabel(r"relative error $\|\hat\Theta - \Theta\|_F / \|\Theta\|_F$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def entk_vs_width_figure(theta, entk, ntk_inf, width, error, sweep):
    """Heat maps (eNTK at ``width``, infinite NTK, difference) and the log-log sweep."""
    fig, axes = new_figure(ncols=4, width=3.6, height=3.4)
    ext = [theta[0], theta[-1], theta[0], theta[-1]]
    im = kernel_heatmaps(axes[0, :2], [entk, ntk_inf],
                         [f"eNTK, width {width}", "infinite-width NTK"], extent=ext)
    fig.colorbar(im, ax=axes[0, :2], shrink=0.8, label="kernel value")
    diff = np.asarray(entk) - np.asarray(ntk_inf)
    lim = float(np.max(np.abs(diff))) or 1.0
    im2 = axes[0, 2].imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower",
                            extent=ext, aspect="auto")
    axes[0, 2].set_title(f"difference (rel. error {error:.3f})", fontsize=10)
    axes[0, 2].set_xlabel("x' angle (rad)")
    axes[0, 2].set_ylabel("x angle (rad)")
    fig.colorbar(im2, ax=axes[0, 2], shrink=0.8, label="eNTK - NTK")
    convergence_loglog(axes[0, 3], sweep, highlight=width)
    return fig
