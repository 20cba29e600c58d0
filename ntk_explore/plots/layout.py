"""A layout check for figures: text that collides, leaves the canvas, or hides the data.

:func:`layout_problems` inspects a drawn figure and returns one sentence per defect:

* two pieces of text overlap (tick labels, axis labels, titles, legend entries,
  annotations, colour-bar labels; entries of one legend are laid out by the legend
  and are not compared with each other);
* a piece of text, or a legend, reaches into the plotting area of *another* axes;
* a piece of text lies partly outside the canvas (it would be cut off);
* a log axis shows fewer than two labelled ticks (a value cannot be read off);
* a legend drawn inside its axes covers plotted points.

:func:`watch` attaches the check to a figure's draw: when the environment variable
``NTK_EXPLORE_CHECK_LAYOUT`` is ``1`` (``python3 dev.py test`` sets it), every draw of a
figure made by :func:`~ntk_explore.plots.base.new_figure` raises
:class:`LayoutError` on a defect, so each notebook run under nbval checks every figure
it shows, at the settings it shows it with.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["LayoutError", "layout_problems", "check_layout", "check_now", "watch", "ENV_FLAG"]

ENV_FLAG = "NTK_EXPLORE_CHECK_LAYOUT"
SLACK_PX = 1.0
"""Pixels two boxes may share before they count as overlapping (anti-aliased edges)."""


class LayoutError(AssertionError):
    """A figure has text that overlaps, leaves the canvas, or hides the data."""


def _tick_labels(axis):
    """Labels of the ticks the axis draws: those whose location lies in the view."""
    lo, hi = sorted(axis.get_view_interval())
    span = hi - lo
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        loc = tick.get_loc()
        if loc is None or not (lo - 1e-9 * abs(span) <= loc <= hi + 1e-9 * abs(span)):
            continue
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                out.append(label)
    return out


def _axes_texts(ax):
    """(role, Text) pairs drawn by one axes, legend entries excluded."""
    items = []
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        if not ax.axison or not axis.get_visible():  # ax.axis("off") draws no ticks or labels
            continue
        items += [(f"{name} tick label", t) for t in _tick_labels(axis)]
        items.append((f"{name} label", axis.label))
        items.append((f"{name} offset", axis.get_offset_text()))
    for title in (ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)):
        if title is not None:
            items.append(("title", title))
    items += [("text", t) for t in ax.texts]
    return [(r, t) for r, t in items if t.get_visible() and t.get_text().strip()]


def _box(artist, renderer) -> Bbox | None:
    try:
        box = artist.get_window_extent(renderer)
    except Exception:  # noqa: BLE001 -- artists without an extent are not text we check
        return None
    if box is None or not np.all(np.isfinite(box.get_points())) or box.width <= 0 or box.height <= 0:
        return None
    return box


def _overlap(a: Bbox, b: Bbox, slack: float = SLACK_PX) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > slack
            and min(a.y1, b.y1) - max(a.y0, b.y0) > slack)


def _name(ax, index: int) -> str:
    title = ax.get_title() or ax.get_ylabel() or ax.get_xlabel()
    return f"axes {index}" + (f" ({title[:40]!r})" if title else "")


def _quote(text: Text) -> str:
    s = text.get_text().replace("\n", " ")
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _texts(fig, renderer):
    """Every checked text as (owner index or None for the figure, role, Text, box)."""
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for role, t in _axes_texts(ax):
            box = _box(t, renderer)
            if box is not None:
                out.append((i, role, t, box))
    for t in fig.texts:
        box = _box(t, renderer) if t.get_visible() and t.get_text().strip() else None
        if box is not None:
            out.append((None, "figure text", t, box))
    return out


def _legends(fig):
    """(owner index or None, Legend) for every visible legend."""
    found = [(i, ax.get_legend()) for i, ax in enumerate(fig.axes)]
    found += [(None, leg) for leg in fig.legends]
    return [(i, leg) for i, leg in found if leg is not None and leg.get_visible()]


def _same_place(a: Bbox, b: Bbox) -> bool:
    return bool(np.allclose(a.get_points(), b.get_points(), atol=1.0))


def _text_collisions(fig, texts, legends, renderer) -> list[str]:
    problems = []
    labelled = [(owner, role, t, box) for owner, role, t, box in texts]
    for owner, leg in legends:
        box = _box(leg, renderer)
        if box is not None:
            labelled.append((owner, "legend", leg, box))
    for a in range(len(labelled)):
        for b in range(a + 1, len(labelled)):
            oa, ra, ta, ba = labelled[a]
            ob, rb, tb, bb = labelled[b]
            if ra == "legend" and rb == "legend":
                continue
            if _overlap(ba, bb):
                where_a = "figure" if oa is None else _name(fig.axes[oa], oa)
                where_b = "figure" if ob is None else _name(fig.axes[ob], ob)
                qa = "" if ra == "legend" else " " + _quote(ta)
                qb = "" if rb == "legend" else " " + _quote(tb)
                problems.append(f"{where_a}: {ra}{qa} overlaps {where_b}: {rb}{qb}")
    return problems


def _into_other_axes(fig, texts, legends, renderer) -> list[str]:
    problems = []
    areas = [(j, ax.get_window_extent(renderer)) for j, ax in enumerate(fig.axes) if ax.get_visible()]
    items = list(texts) + [(o, "legend", leg, _legend_ink(leg, renderer)) for o, leg in legends]
    for owner, role, t, box in items:
        if box is None:
            continue
        own = fig.axes[owner].get_window_extent(renderer) if owner is not None else None
        for j, area in areas:
            if j == owner or (own is not None and _same_place(own, area)):
                continue  # its own axes, or a twin sharing its plotting area
            if _overlap(box, area):
                where = "figure" if owner is None else _name(fig.axes[owner], owner)
                what = role if role == "legend" else f"{role} {_quote(t)}"
                problems.append(f"{where}: {what} reaches into the plotting area of "
                                f"{_name(fig.axes[j], j)}")
    return problems


def _legend_ink(leg, renderer) -> Bbox | None:
    """What a legend draws: its whole box when framed; without a frame only its entries
    (texts, handles, title), since the empty border padding around them draws nothing."""
    if leg.get_frame_on():
        return _box(leg, renderer)
    parts = [leg.get_title(), *leg.get_texts(), *getattr(leg, "legend_handles", [])]
    boxes = []
    for artist in parts:
        box = _box(artist, renderer) if artist is not None and artist.get_visible() else None
        if box is not None and box.width > 0 and box.height > 0:
            boxes.append(box)
    return Bbox.union(boxes) if boxes else _box(leg, renderer)


def _off_canvas(fig, texts, legends, renderer) -> list[str]:
    canvas = fig.bbox
    problems = []
    items = list(texts) + [(o, "legend", leg, _legend_ink(leg, renderer)) for o, leg in legends]
    for owner, role, t, box in items:
        if box is None:
            continue
        if (box.x0 < canvas.x0 - SLACK_PX or box.y0 < canvas.y0 - SLACK_PX
                or box.x1 > canvas.x1 + SLACK_PX or box.y1 > canvas.y1 + SLACK_PX):
            where = "figure" if owner is None else _name(fig.axes[owner], owner)
            what = role if role == "legend" else f"{role} {_quote(t)}"
            problems.append(f"{where}: {what} is cut off at the edge of the canvas")
    return problems


def _log_ticks(fig, renderer) -> list[str]:
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not ax.axison or not axis.get_visible() or axis.get_scale() != "log":
                continue
            labels = {t.get_text() for t in _tick_labels(axis)}
            if len(labels) < 2:
                problems.append(f"{_name(ax, i)}: log {name} axis has {len(labels)} labelled "
                                "tick(s); a value cannot be read off")
    return problems


def _covered_points(fig, legends, renderer) -> list[str]:
    problems = []
    for owner, leg in legends:
        if owner is None:
            continue
        ax = fig.axes[owner]
        box, area = _box(leg, renderer), ax.get_window_extent(renderer)
        if box is None or not (area.x0 - 1 <= box.x0 and box.x1 <= area.x1 + 1
                               and area.y0 - 1 <= box.y0 and box.y1 <= area.y1 + 1):
            continue  # a legend outside its axes covers none of its data
        hidden = 0
        for artist in ax.lines + [c for c in ax.collections if isinstance(c, PathCollection)]:
            if not artist.get_visible():
                continue
            if isinstance(artist, Line2D):
                xy = np.column_stack([np.asarray(artist.get_xdata(), float),
                                      np.asarray(artist.get_ydata(), float)])
                pts = artist.get_transform().transform(xy) if len(xy) else xy
            else:
                pts = artist.get_offset_transform().transform(artist.get_offsets())
            pts = pts[np.all(np.isfinite(pts), axis=1)] if len(pts) else pts
            inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1)
                      & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)) if len(pts) else []
            hidden += int(np.sum(inside))
        if hidden:
            problems.append(f"{_name(ax, owner)}: its legend covers {hidden} plotted point(s)")
    return problems


def layout_problems(fig, renderer=None) -> list[str]:
    """One sentence per layout defect of ``fig``; ``[]`` if none.

    Without ``renderer`` the figure is drawn first (its layout engine runs); pass the
    renderer of a draw in progress (as :func:`watch` does) to check that draw.
    """
    if renderer is None:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
    texts = _texts(fig, renderer)
    legends = _legends(fig)
    return (_text_collisions(fig, texts, legends, renderer)
            + _into_other_axes(fig, texts, legends, renderer)
            + _off_canvas(fig, texts, legends, renderer)
            + _log_ticks(fig, renderer)
            + _covered_points(fig, legends, renderer))


def check_layout(fig, renderer=None) -> None:
    """Raise :class:`LayoutError` listing every problem :func:`layout_problems` finds."""
    problems = layout_problems(fig, renderer)
    if problems:
        title = fig.get_suptitle() or (fig.axes[0].get_title() if fig.axes else "")
        raise LayoutError(f"figure {title[:50]!r} has {len(problems)} layout problem(s):\n  "
                          + "\n  ".join(problems))


def _on_draw(event) -> None:
    check_now(event.canvas.figure, event.renderer)


def check_now(fig, renderer=None) -> None:
    """What ``NTK_EXPLORE_CHECK_LAYOUT`` asks for: ``1`` raises :class:`LayoutError`,
    ``warn`` issues a ``UserWarning`` with the same text, anything else does nothing."""
    mode = os.environ.get(ENV_FLAG, "")
    if mode == "1":
        check_layout(fig, renderer)
    elif mode == "warn":
        problems = layout_problems(fig, renderer)
        if problems:
            warnings.warn("layout: " + "; ".join(problems), stacklevel=2)


def watch(fig):
    """Check ``fig`` on every draw as ``NTK_EXPLORE_CHECK_LAYOUT`` says (:func:`check_now`);
    returns ``fig``."""
    if os.environ.get(ENV_FLAG, "") in ("1", "warn"):
        fig.canvas.mpl_connect("draw_event", _on_draw)
    return fig
