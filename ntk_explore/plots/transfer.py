"""Figures for notebook 04: target test error vs target samples, and the sign-flip test."""

from __future__ import annotations

import numpy as np

from .core import new_figure

__all__ = ["LABELS", "transfer_figure"]

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
_EFFECTS = (("lin_init_from_A", "lin_init", "(3) vs linearized from scratch"),
            ("finetune", "scratch", "(2) vs (1)"),
            ("lin_pretrained", "lin_init", "(4) vs linearized from scratch"))


def _curves(ax, result, sign, highlight):
    i = result.signs.index(sign)
    for j, name in enumerate(result.learners):
        err = result.errors[:, i, j]  # (S, M)
        colour, fmt = _STYLE[name]
        sem = err.std(0, ddof=1) / np.sqrt(err.shape[0]) if err.shape[0] > 1 else 0 * err[0]
        ax.errorbar(result.sizes, err.mean(0), yerr=sem, fmt=fmt, color=colour, capsize=2,
                    label=LABELS[name], ms=4)
    if highlight is not None:
        ax.axvline(highlight, color="k", lw=0.8, alpha=0.5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("target samples m")
    ax.set_ylabel("relative test MSE on B (1 = predict 0)")
    ax.set_title(f"target B{'' if sign == 1 else ' flipped: -B'}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def _effects(ax, result, m):
    j = list(result.sizes).index(m)
    x = np.arange(len(_EFFECTS))
    for k, sign in enumerate(result.signs):
        vals = [result.effect(a, b, sign)[:, j].mean() for a, b, _ in _EFFECTS]
        ax.bar(x + (k - 0.5) * 0.38, vals, 0.38, color="C0" if sign == 1 else "C3",
               label=f"target {'+B' if sign == 1 else '-B'}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [t for _, _, t in _EFFECTS], fontsize=7, rotation=12)
    ax.set_ylabel("transfer benefit (error drop, relative MSE)")
    ax.set_title(f"sign-flip test at m = {m}", fontsize=10)
    ax.legend(fontsize=8)


def transfer_figure(result, m: int | None = None):
    """Error vs ``m`` for both target signs, and the transfer benefits at ``m``.

    ``result``: :class:`~ntk_explore.transfer.TransferResult`; ``m`` must be one
    of ``result.sizes`` (default: the smallest).
    """
    m = int(result.sizes[0]) if m is None else int(m)
    if m not in result.sizes:
        raise ValueError(f"m must be one of {list(result.sizes)}, got {m}")
    fig, axes = new_figure(ncols=3, width=4.5, height=4.0)
    for ax, sign in zip(axes[0, :2], result.signs):
        _curves(ax, result, sign, m)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    _effects(axes[0, 2], result, m)
    return fig
