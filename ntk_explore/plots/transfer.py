"""Figures for notebook 04: target test error vs target samples, and the sign-flip test."""

from __future__ import annotations

import numpy as np

from .base import loglog_axes, new_figure, place_legend
from .live import LiveFigure

__all__ = ["LABELS", "transfer_figure", "TransferFigure"]

LABELS = {
    "scratch": "(1) net from scratch",
    "finetune": "(2) net fine-tuned from A",
    "lin_init_from_A": "(3) linearized at init, started at A-solution",
    "lin_pretrained": "(4) linearized at pretrained params",
    "ntk_inf": "(5) infinite-NTK regression",
    "lin_init": "linearized at init, from scratch",
}
_STYLE = {"scratch": ("C0", "o-"), "finetune": ("C3", "o-"), "lin_init_from_A": ("C2", "s-"),
          "lin_pretrained": ("C1", "s-"), "ntk_inf": ("C4", "^-"), "lin_init": ("gray", "s--")}
_EFFECTS = (("lin_init_from_A", "lin_init", "(3) vs lin.\nfrom scratch"),
            ("finetune", "scratch", "(2) vs (1)"),
            ("lin_pretrained", "lin_init", "(4) vs lin.\nfrom scratch"))


def _curves(ax, result, sign, highlight):
    i = result.signs.index(sign)
    for j, name in enumerate(result.learners):
        err = result.errors[:, i, j]  # (S, M)
        colour, fmt = _STYLE[name]
        sem = err.std(0, ddof=1) / np.sqrt(err.shape[0]) if err.shape[0] > 1 else 0 * err[0]
        ax.errorbar(result.sizes, err.mean(0), yerr=sem, fmt=fmt, color=colour, capsize=2,
                    label=LABELS[name], ms=4)
    if highlight is not None:
        ax.axvline(highlight, color="k", lw=0.8, alpha=0.5, label="_chosen m")
    seeds = result.errors.shape[0]
    loglog_axes(ax, "target samples m", "relative test MSE (1 = predict 0)",
                title=f"target {'+B' if sign == 1 else '-B (B flipped)'}: mean ± s.e., "
                      f"{seeds} seed{'s' if seeds > 1 else ''}", xbase=2)
    ax.set_xlim(result.sizes[0] / 1.25, result.sizes[-1] * 1.25)  # the marker stays visible


def _bars(result, j, sign):
    """Seed-mean benefit and its standard error of each comparison at size index ``j``."""
    effects = [result.effect(a, b, sign)[:, j] for a, b, _ in _EFFECTS]  # each (S,)
    sem = [e.std(ddof=1) / np.sqrt(e.size) if e.size > 1 else 0.0 for e in effects]
    return np.array([e.mean() for e in effects]), np.array(sem)


def _bar_limits(result):
    """One y range for every ``m`` (so the frozen layout fits every slider position)."""
    ends = [f(mean, sem) for j in range(len(result.sizes)) for sign in result.signs
            for mean, sem in [_bars(result, j, sign)] for f in (np.subtract, np.add)]
    lo, hi = min(0.0, float(np.min(ends))), max(0.0, float(np.max(ends)))
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _effects(ax, result, m, ylim=None):
    j = list(result.sizes).index(m)
    x = np.arange(len(_EFFECTS))
    for k, sign in enumerate(result.signs):
        mean, sem = _bars(result, j, sign)
        ax.bar(x + (k - 0.5) * 0.38, mean, 0.38, yerr=sem, capsize=2,
               color="C0" if sign == 1 else "C3", label=f"target {'+B' if sign == 1 else '-B'}")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [t for _, _, t in _EFFECTS], fontsize=9)
    ax.set_ylabel("benefit (drop in relative MSE)")
    ax.set_title(f"sign-flip test at m = {m}", fontsize=10)
    place_legend(ax)


class TransferFigure:
    """Error vs ``m`` for both target signs, and the transfer benefits at one ``m`` (on one
    y range for every ``m``, so that bars can be compared across slider positions).

    ``result``: :class:`~ntk_explore.topics.transfer.TransferResult`. :meth:`update`
    moves the chosen ``m`` (one of ``result.sizes``) and redraws only the
    benefit panel and the two markers (see :class:`~ntk_explore.plots.live.LiveFigure`).
    """

    def __init__(self, result, m: int | None = None):
        self.result = result
        fig, axes = new_figure(ncols=3, width=4.5, height=4.0)
        self.figure, self.axes = fig, axes[0]
        m = self._check(m)
        for ax, sign in zip(self.axes[:2], result.signs):
            _curves(ax, result, sign, m)
        self._markers = [ax.lines[-1] for ax in self.axes[:2]]
        # the legend goes under the panels, where it hides no curve
        handles, labels = self.axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
        self._ylim = _bar_limits(result)
        _effects(self.axes[2], result, m, self._ylim)
        # Constrained layout needs two passes here (the legend under the panels moves the
        # axes, and the new tick labels widen the margins); LiveFigure runs the second and
        # then freezes the layout.
        fig.get_layout_engine().execute(fig)
        self.live = LiveFigure(fig, dynamic=[self.axes[2]], overlays=self._markers)

    def _check(self, m):
        m = int(self.result.sizes[0]) if m is None else int(m)
        if m not in self.result.sizes:
            raise ValueError(f"m must be one of {list(self.result.sizes)}, got {m}")
        return m

    def update(self, m: int) -> None:
        m = self._check(m)
        for line in self._markers:
            line.set_xdata([m, m])
        self.axes[2].cla()
        _effects(self.axes[2], self.result, m, self._ylim)

    def render(self) -> bytes:
        """PNG bytes of the current state (partial redraw)."""
        return self.live.render()


def transfer_figure(result, m: int | None = None):
    """The static version of :class:`TransferFigure`: a Figure for ``m`` (default: smallest)."""
    return TransferFigure(result, m).figure
