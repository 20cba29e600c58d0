"""A figure kept open and redrawn in part: the fast path for slider moves.

:class:`LiveFigure` rasterizes the unchanging part of a figure once and, on each
frame, redraws only the axes and artists that change on top of that background
(Agg blitting), then encodes the buffer as PNG. On 2 CPU cores this is several
times faster than drawing a multi-panel figure from scratch, most of whose time
goes to laying out text and ticks (see ``benchmarks/results/latency.txt``).
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from .layout import check_now

__all__ = ["FIGURE_DPI", "LiveFigure", "figure_png"]

FIGURE_DPI = 100
"""Raster resolution of every app figure (dots per inch of the figure size)."""


def figure_png(fig, dpi: int = FIGURE_DPI) -> bytes:
    """The figure as PNG bytes, drawn once at ``dpi`` (layout as the figure has it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def _encode(rgba: np.ndarray) -> bytes:
    from PIL import Image  # a dependency of matplotlib

    buf = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buf, format="png", compress_level=1)
    return buf.getvalue()


class LiveFigure:
    """One figure kept open; only ``dynamic`` axes and ``overlays`` are redrawn.

    Parameters
    ----------
    fig : matplotlib Figure
        Fully built. Its layout engine (constrained layout) runs once here and is
        then switched off, so panels never move between frames.
    dynamic : sequence of Axes
        Axes whose content changes between frames; each is redrawn whole, with
        its ticks and title. Colorbar axes are axes too.
    overlays : sequence of Artists
        Artists on otherwise static axes that change (a marker, a line, a legend).
    dpi : int
        Raster resolution.

    Change the artists (``set_data``, ``set_xdata``, ``set_title``, ...), then call
    :meth:`render` for the PNG bytes. Anything outside ``dynamic`` and
    ``overlays`` must not change; for bigger changes build a new figure.
    """

    def __init__(self, fig, dynamic=(), overlays=(), dpi: int = FIGURE_DPI):
        plt.close(fig)  # detach from pyplot first: closing later would swap the canvas out
        self.fig, self.dynamic, self.overlays = fig, list(dynamic), list(overlays)
        fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(fig)
        self.canvas.draw()  # runs the layout engine once
        fig.set_layout_engine("none")
        hidden = self.dynamic + self.overlays
        visible = [a.get_visible() for a in hidden]
        for a in hidden:
            a.set_visible(False)
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(fig.bbox)
        for a, v in zip(hidden, visible):
            a.set_visible(v)

    def render(self) -> bytes:
        """Redraw the changing parts over the cached background; PNG bytes."""
        self.canvas.restore_region(self._background)
        for artist in self.dynamic + self.overlays:
            self.fig.draw_artist(artist)
        check_now(self.fig, self.canvas.get_renderer())
        return _encode(np.asarray(self.canvas.buffer_rgba()))
