"""Figures for notebook 07 on real digits: test MSE and test error against n for nets and
kernels, and the exponent against the output scale gamma (no compute here)."""

from __future__ import annotations

import numpy as np

from .base import log_ticks, loglog_axes, new_figure, place_legend

__all__ = ["NAMES", "label", "loss_axes", "error_axes", "scaling_figure", "gamma_axes",
           "gamma_figure"]

NAMES = {"rich": "rich MLP", "lazy": "lazy MLP (gamma 1)", "entk": "eNTK at init",
         "ntk": "infinite NTK", "after": "after-kernel", "cnn": "CNN", "cntk": "CNTK (flatten)",
         "entk_cnn": "CNN eNTK at init", "cntk_gap": "CNTK (avg. pooling)", "net": "MLP"}
"""Human names of the learners of :mod:`ntk_explore.topics.natural`."""

# one look per learner (colour, marker, line), the same in every panel
_STYLES = {"rich": ("C0", "o", "-"), "lazy": ("C1", "s", "--"), "entk": ("C2", "^", "-."),
           "ntk": ("C3", "D", "-"), "after": ("C4", "v", ":"), "cnn": ("C0", "o", "-"),
           "cntk": ("C3", "D", "-"), "entk_cnn": ("C2", "^", "-."), "cntk_gap": ("C5", "P", "--"),
           "net": ("C0", "o", "-")}


def label(name: str, curves=None) -> str:
    """The legend name of a learner (the rich net with its output scale when known)."""
    if name == "rich" and curves is not None:
        return f"rich MLP (gamma {curves.settings.rich_gamma:.3g})"
    if name == "cnn" and curves is not None:
        return f"CNN (gamma {curves.settings.cnn_output_scale:.3g})"
    return NAMES.get(name, name)


def loss_axes(ax, curves, learners, *, title: str | None = None, names: dict | None = None):
    """Seed-mean test MSE against n (log-log), the per-seed values as faint points and the
    pooled power-law fit, its ``alpha`` and 95% interval in the legend."""
    for i, name in enumerate(learners):
        colour, marker, line = _STYLES.get(name, (f"C{i}", "o", "-"))
        e = curves.exponent(name)
        per_seed = curves.mse[name]
        ax.plot(np.tile(curves.ns, (per_seed.shape[0], 1)).T, per_seed.T, marker, color=colour,
                ms=3, alpha=0.3)
        ax.plot(curves.ns, per_seed.mean(0), marker, color=colour, ms=6,
                mfc="white" if i % 2 else colour)
        ax.plot(curves.ns, e.predict(curves.ns), line, color=colour, lw=1.4, marker=marker, ms=6,
                markevery=[0], mfc="white" if i % 2 else colour,
                label=f"{(names or {}).get(name) or label(name, curves)}: alpha {e.alpha:.2f} "
                      f"[{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]")
    loglog_axes(ax, "training images n", "test MSE", title=title)
    place_legend(ax, ncols=1)


def error_axes(ax, curves, learners, *, names: dict | None = None):
    """Seed-mean test error against n (log-log) with a dotted line at one test image; a
    mean of zero mistakes is drawn at half an image (said in the legend)."""
    t = _test_size(curves)
    floor = 0.5 / t
    clipped = False
    for i, name in enumerate(learners):
        colour, marker, line = _STYLES.get(name, (f"C{i}", "o", "-"))
        mean = curves.err[name].mean(0)
        clipped |= bool(np.any(mean <= 0))
        ax.plot(curves.ns, np.maximum(mean, floor), line, color=colour, marker=marker, ms=5,
                mfc="white" if i % 2 else colour, lw=1.2,
                label=(names or {}).get(name) or label(name, curves))
    ax.axhline(1.0 / t, color="0.4", lw=1, ls=":",
               label=f"one test image (1/{t})" + ("; 0 drawn at 1/2" if clipped else ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_ticks(ax.xaxis)
    ax.set_xlabel("training images n")
    ax.set_ylabel("test error (fraction wrong)")
    ax.grid(True, which="both", alpha=0.3)
    log_ticks(ax.yaxis)
    place_legend(ax, ncols=2)


def _test_size(curves) -> int:
    s = curves.settings
    return 1797 - s.n_pool - s.n_val


def scaling_figure(curves, learners=None, *, title: str | None = None, names: dict | None = None):
    """Test MSE (left) and test error (right) against n for ``learners`` (default: all)."""
    learners = list(curves.mse) if learners is None else list(learners)
    fig, axes = new_figure(ncols=2, width=5.0, height=4.2)
    loss_axes(axes[0, 0], curves, learners, title=title, names=names)
    error_axes(axes[0, 1], curves, learners, names=names)
    return fig


def gamma_axes(ax, gammas, exponents, kernels: dict, *, current: float | None = None,
               span: tuple[float, float] | None = None):
    """Exponent ``alpha`` of the net against its output scale (log x), with 95% intervals,
    and each kernel's exponent as a horizontal band; ``exponents`` are
    :class:`~ntk_explore.core.metrics.Exponent` objects, ``kernels`` ``{name: Exponent}``."""
    for i, (name, e) in enumerate(kernels.items()):
        colour = _STYLES.get(name, (f"C{i + 2}",))[0]
        ax.axhspan(e.ci95[0], e.ci95[1], color=colour, alpha=0.15, lw=0)
        ax.axhline(e.alpha, color=colour, lw=1.2, ls=_STYLES.get(name, ("", "", "--"))[2],
                   label=f"{NAMES.get(name, name)}: {e.alpha:.2f}")
    g = np.asarray(gammas, float)
    a = np.array([e.alpha for e in exponents])
    lo = a - np.array([e.ci95[0] for e in exponents])
    hi = np.array([e.ci95[1] for e in exponents]) - a
    ax.errorbar(g, a, yerr=[lo, hi], fmt="o-", color="C0", capsize=3, label="MLP at gamma")
    if current is not None:
        ax.axvline(current, color="C0", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    if span is not None:  # the slider's whole range, so a point stays where it is
        ax.set_xlim(span[0] / 1.3, span[1] * 1.3)
    log_ticks(ax.xaxis, 2)
    ax.set_xlabel("output scale gamma")
    ax.set_ylabel("data-scaling exponent alpha")
    ax.grid(True, which="both", alpha=0.3)
    place_legend(ax, ncols=1)


def gamma_figure(curves, gamma: float, gammas, exponents, kernels=("entk", "ntk"),
                 span: tuple[float, float] | None = None):
    """Left: test MSE of the MLP at ``gamma`` (learner ``'net'`` of ``curves``) and of the
    kernels; right: the exponent against every output scale computed so far (x axis over
    ``span``, e.g. the slider's range)."""
    fig, axes = new_figure(ncols=2, width=5.0, height=4.2)
    loss_axes(axes[0, 0], curves, ["net", *kernels], names={"net": f"MLP at gamma {gamma:g}"},
             title=f"MLP width {curves.settings.width}, output scale gamma {gamma:g}")
    gamma_axes(axes[0, 1], gammas, exponents, {k: curves.exponent(k) for k in kernels},
               current=gamma, span=span)
    return fig
