"""Figures for learning paths on the simplex, the one-step decomposition and distillation."""

from __future__ import annotations

import numpy as np
from matplotlib import patheffects

from .base import LEGEND_FONTSIZE, log_ticks, new_figure, place_legend
from .live import LiveFigure

__all__ = ["simplex_xy", "draw_simplex", "paths_on_simplex", "label_paths", "one_step_arrows",
           "stop_curve", "student_bars", "zigzag_figure", "ZigzagFigure", "one_step_figure"]

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
KIND_COLORS = {"easy": "tab:green", "hard": "tab:orange", "mislabelled": "tab:red"}


def simplex_xy(q) -> np.ndarray:
    """Barycentric -> plane: ``q`` ``(..., 3)`` probabilities -> ``(..., 2)`` points."""
    q = np.asarray(q)
    if q.shape[-1] != 3:
        raise ValueError(f"simplex plots need k = 3 classes, got q of shape {q.shape}")
    return q @ CORNERS


def draw_simplex(ax, names=("class 0", "class 1", "class 2")):
    """The triangle with its corners named; equal aspect, no axes frame."""
    ax.plot(*np.vstack([CORNERS, CORNERS[:1]]).T, color="0.4", lw=1)
    for (x, y), name, dy in zip(CORNERS, names, (-0.06, -0.06, 0.03)):
        ax.text(x, y + dy, name, ha="center", fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.1, 0.95)
    ax.axis("off")


def paths_on_simplex(ax, paths, idx, pstar, labels, kinds, step: int, legend: bool = True):
    """Learning paths of training points ``idx``.

    ``paths``: ``(R, n, 3)``; ``pstar``: ``(n, 3)``; ``labels``, ``kinds``:
    ``(n,)``; ``step``: record index of the moving marker. Each path is a line, ``x``
    marks ``p*``, a square marks the (one-hot) label at its corner. The ``#i`` labels
    (the app's checkbox ids) are placed by :func:`label_paths` once the figure's layout
    is fixed; the legend goes under the triangle.
    """
    draw_simplex(ax)
    for i in idx:
        c = KIND_COLORS[kinds[i]]
        xy = simplex_xy(paths[:, i])
        ax.plot(*xy.T, color=c, lw=1, alpha=0.7)
        ax.plot(*xy[0], "o", color=c, ms=3, alpha=0.6)
        ax.plot(*xy[min(step, len(xy) - 1)], "o", color=c, ms=8, mec="k")
        ax.plot(*simplex_xy(pstar[i]), "x", color=c, ms=9, mew=2)
        ax.plot(*CORNERS[labels[i]], "s", color=c, ms=9, mfc="none", mew=2)
    if legend:
        for kind, c in KIND_COLORS.items():
            ax.plot([], [], color=c, label=kind)
        ax.plot([], [], "x", color="k", label="p*")
        ax.plot([], [], "s", color="k", mfc="none", label="label")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize=LEGEND_FONTSIZE,
                  frameon=False, handlelength=1.5, columnspacing=1.0)


_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]  # legible over markers

# Offsets (points) tried in turn for a path's label: beside its anchor first, then further out.
_OFFSETS = [(dx * r, dy * r) for r in (5, 14, 24, 34) for dx, dy in
            ((1, 1), (-1, 1), (1, -1), (-1, -1), (1.4, 0), (-1.4, 0), (0, 1.4), (0, -1.4))]


def label_paths(ax, paths, idx, kinds, renderer) -> list:
    """Write ``#i`` next to the end of each path ``idx`` where it overlaps no other text.

    Several paths end at the same corner (every memorized point ends at its label), so a
    label is moved, in turn, to each offset of a fixed list until its box is clear of the
    labels already placed and of the axes' other text, and inside the axes. Call it after
    the figure's layout is fixed (``renderer``: the canvas renderer). Returns the texts.
    """
    taken = [t.get_window_extent(renderer) for t in ax.texts]
    inside = ax.get_window_extent(renderer)
    placed = []
    for i in idx:
        anchor = simplex_xy(paths[-1, i])
        for dx, dy in _OFFSETS:
            t = ax.annotate(f"#{i}", anchor, xytext=(dx, dy), textcoords="offset points",
                            ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
                            color=KIND_COLORS[kinds[i]], fontsize=9, fontweight="bold",
                            path_effects=_HALO, zorder=6)
            t.set_in_layout(False)
            box = t.get_window_extent(renderer)
            clear = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                     and box.y1 <= inside.y1 and not any(box.overlaps(b) for b in taken))
            if clear or (dx, dy) == _OFFSETS[-1]:
                break
            t.remove()
        taken.append(box)
        placed.append(t)
    return placed


def one_step_arrows(ax, step, i: int, scale: float, top: int = 3, term_length: float = 0.6):
    """Real vs eNTK-predicted change of ``q`` at test point ``i`` of a
    :class:`~ntk_explore.topics.zigzag.OneStep`, magnified by ``scale``, plus the ``top``
    largest per-training-point terms (thin grey arrows, drawn on top). Each single term is a
    small part of the sum, so the grey arrows are rescaled together until the largest one is
    ``term_length`` times as long as the real step: their directions and relative sizes
    are what they show."""
    start = simplex_xy(step.q[i])
    kw = dict(angles="xy", scale_units="xy", scale=1.0, width=0.006)
    ax.quiver(*start, *(scale * simplex_xy(step.real[i])), color="k", label="real step",
              **kw)
    ax.quiver(*start, *(scale * simplex_xy(step.predicted[i])), color="tab:blue",
              alpha=0.6, label="eNTK prediction", **{**kw, "width": 0.012})
    terms = np.asarray(step.per_point[i])  # (b, 3)
    big = np.argsort(-np.linalg.norm(terms, axis=-1))[:top]
    real_len = np.linalg.norm(simplex_xy(step.real[i]))
    term_len = np.linalg.norm(simplex_xy(terms[big[0]]))
    grow = term_length * real_len / term_len if term_len > 0 else 1.0
    for j, b in enumerate(big):
        ax.quiver(*start, *(scale * grow * simplex_xy(terms[b])), color="0.45", zorder=4,
                  label=f"{top} largest single-point terms (rescaled)" if j == 0 else None,
                  **{**kw, "width": 0.004})
    ax.plot(*start, "o", color="k", ms=4, zorder=5)


def stop_curve(ax, curve, stop_epoch: int | None = None, memorized_epoch: int | None = None):
    """Distance to ``p*`` of teacher / filtered / one-hot targets vs teacher length."""
    ax.plot(curve.epochs, curve.teacher, color="tab:purple", label="teacher at stop")
    ax.plot(curve.epochs, curve.filtered, color="tab:blue", label="filtered (EMA)")
    ax.axhline(curve.onehot, color="0.3", ls="--", label="one-hot labels")
    if memorized_epoch is not None:
        ax.axvline(memorized_epoch, color="tab:red", ls=":", label="100% train acc.")
    if stop_epoch is not None:
        ax.axvline(stop_epoch, color="k", lw=1)
    ax.set_xlabel("teacher epochs")
    ax.set_ylabel(r"mean $\|p^{tar} - p^*\|_2$")
    place_legend(ax)


def student_bars(ax, dist):
    """Target distance to ``p*``, test ECE and test error of the three students
    of a :class:`~ntk_explore.topics.zigzag.Distillation`."""
    names = ("one-hot", "teacher", "filtered")
    res = (dist.onehot, dist.teacher, dist.filtered)
    metrics = (("targets to p*", "target_to_pstar"), ("test ECE", "ece"),
               ("test error", None))
    w = 0.26
    for j, (name, r) in enumerate(zip(names, res)):
        vals = [getattr(r, a) if a else 1 - r.accuracy for _, a in metrics]
        bars = ax.bar(np.arange(3) + (j - 1) * w, vals, w, label=f"student on {name}")
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(np.arange(3), [m for m, _ in metrics])
    ax.set_ylabel("value (lower is better)")
    place_legend(ax)


class ZigzagFigure:
    """Three panels: paths on the simplex, targets vs teacher length, students.

    ``paths`` ``(R, n, 3)``, ``pstar`` ``(n, 3)``, ``labels``/``kinds`` ``(n,)``,
    ``epochs`` ``(R,)``; ``curve``: :class:`~ntk_explore.topics.zigzag.StopCurve`;
    ``dist``: :class:`~ntk_explore.topics.zigzag.Distillation`. :meth:`update_paths`
    changes the points drawn and the marker step and redraws only the simplex
    panel (see :class:`~ntk_explore.plots.live.LiveFigure`); anything else
    needs a new figure.
    """

    def __init__(self, paths, idx, pstar, labels, kinds, step, curve, dist, stop_epoch,
                 memorized_epoch, epochs):
        self._paths = (paths, pstar, labels, kinds, epochs)
        fig, axes = new_figure(3, width=4.4, height=3.9)
        self.figure, self.axes = fig, axes[0]
        self._draw_paths(idx, step)
        stop_curve(self.axes[1], curve, stop_epoch, memorized_epoch)
        self.axes[1].set_title("teacher length vs target quality", fontsize=9)
        student_bars(self.axes[2], dist)
        self.axes[2].set_title(f"students (teacher stopped at epoch {stop_epoch})", fontsize=9)
        self.live = LiveFigure(fig, dynamic=[self.axes[0]])  # the layout is fixed from here
        self._label(idx)

    def _draw_paths(self, idx, step):
        paths, pstar, labels, kinds, epochs = self._paths
        ax = self.axes[0]
        paths_on_simplex(ax, paths, idx, pstar, labels, kinds, step)
        ax.set_title(f"learning paths $q_t$, marker at epoch {epochs[step]}", fontsize=9)

    def _label(self, idx):
        paths, _, _, kinds, _ = self._paths
        label_paths(self.axes[0], paths, idx, kinds, self.live.canvas.get_renderer())

    def update_paths(self, idx, step) -> None:
        """Draw training points ``idx`` with the marker at record ``step``."""
        self.axes[0].cla()
        self._draw_paths(idx, step)
        self._label(idx)

    def render(self) -> bytes:
        """PNG bytes of the current state (partial redraw)."""
        return self.live.render()


def zigzag_figure(paths, idx, pstar, labels, kinds, step, curve, dist, stop_epoch,
                  memorized_epoch, epochs):
    """The static version of :class:`ZigzagFigure`: a Figure."""
    return ZigzagFigure(paths, idx, pstar, labels, kinds, step, curve, dist, stop_epoch,
                        memorized_epoch, epochs).figure


def _nice_scale(step, points, target: float = 0.25) -> float:
    """A 1-2-5 magnification that makes the longest real arrow about ``target`` long."""
    longest = max(float(np.linalg.norm(simplex_xy(step.real[i]))) for i in points)
    if longest <= 0:
        return 1.0
    raw = target / longest
    base = 10.0 ** np.floor(np.log10(raw))
    return float(max(m for m in (1, 2, 5, 10) if m * base <= raw) * base)


def one_step_figure(step, points, scale: float | None = None, sweep=None, eta: float | None = None):
    """Arrows of the real and predicted step at a few test ``points`` (left) and,
    given an :class:`~ntk_explore.topics.zigzag.EtaSweep`, residual vs eta (right).
    ``scale=None`` magnifies the arrows by a round factor that makes the longest real
    step about a quarter of the triangle's side; the title says the factor (and ``eta``)."""
    scale = _nice_scale(step, points) if scale is None else scale
    fig, axes = new_figure(2 if sweep is not None else 1, width=4.4, height=3.9)
    ax = axes[0, 0]
    draw_simplex(ax)
    for i in points:
        one_step_arrows(ax, step, i, scale)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[:3], labels[:3], fontsize=LEGEND_FONTSIZE, loc="upper center",
              bbox_to_anchor=(0.5, 0.0), frameon=False)  # under the triangle, off the arrows
    at = "" if eta is None else f"$\\eta$ = {eta:g}, "
    ax.set_title(f"one GD step ({at}{len(points)} test points), arrows x{scale:g}", fontsize=10)
    if sweep is not None:
        ax = axes[0, 1]
        ax.loglog(sweep.etas, sweep.residual, "o-", label="residual")
        ax.loglog(sweep.etas, sweep.residual[-1] * (sweep.etas / sweep.etas[-1]) ** 2, "k--",
                  label=r"$\propto \eta^2$")
        ax.set_xlabel(r"learning rate $\eta$")
        log_ticks(ax.xaxis)
        ax.set_ylabel(r"$\sum \|\Delta q_{real} - \Delta q_{eNTK}\|$")
        ax.set_title("error of the eNTK prediction", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        place_legend(ax)
    return fig
