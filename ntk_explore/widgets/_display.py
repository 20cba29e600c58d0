"""How every app puts a matplotlib figure on screen, fast.

Two ways, both ending in one PNG shown in an ``ipywidgets.Output``:

* :func:`show_figure` rasterizes a freshly built figure once (no second
  ``bbox_inches="tight"`` pass as the inline backend does; the figures use
  constrained layout already) and closes it. For apps that rebuild their figure.
* :class:`LiveFigure` keeps one figure open for an app whose slider only changes
  some panels or overlays. It rasterizes the unchanging part once, and on each
  move redraws just the changing axes and artists on top of that background
  (Agg blitting), then encodes the buffer. On 2 CPU cores this is several times
  faster than drawing a 4-panel figure from scratch (see
  ``benchmarks/results/latency.txt``).
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display
from matplotlib.backends.backend_agg import FigureCanvasAgg

__all__ = ["FIGURE_DPI", "show_figure", "show_png", "LiveFigure"]

FIGURE_DPI = 80
"""Raster resolution of every app figure (dots per inch of the figure size)."""


def show_png(out, png: bytes) -> None:
    """Replace what ``out`` shows with the PNG image ``png``."""
    with out:
        out.clear_output(wait=True)
        display(Image(data=png, format="png"))


def figure_png(fig, dpi: int = FIGURE_DPI) -> bytes:
    """The figure as PNG bytes, drawn once at ``dpi``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def show_figure(out, fig, dpi: int = FIGURE_DPI) -> bytes:
    """Draw ``fig`` once to PNG, show it in ``out``, close the figure; returns the bytes."""
    png = figure_png(fig, dpi)
    plt.close(fig)
    show_png(out, png)
    return png


def _encode(rgba: np.ndarray) -> bytes:
    from PIL import Image as PILImage  # matplotlib depends on Pillow

    buf = io.BytesIO()
    PILImage.fromarray(rgba[..., :3]).save(buf, format="png", compress_level=1)
    return buf.getvalue()


class LiveFigure:
    """One figure kept open; only ``dynamic`` axes and ``overlays`` are redrawn.

    Parameters
    ----------
    fig : matplotlib Figure
        Fully built, with its final layout (constrained layout is run once here,
        then frozen so the panels never move between frames).
    dynamic : sequence of Axes
        Axes whose content changes between frames (redrawn whole, ticks and
        titles included). Colorbar axes count as axes.
    overlays : sequence of Artists
        Artists on otherwise static axes that change (a marker, a vertical line).
    dpi : int
        Raster resolution.

    Usage: change the artists' data (``set_data``, ``set_xdata``, titles...),
    then call :meth:`render` for the PNG bytes or :meth:`show` to display them.
    Everything outside ``dynamic`` and ``overlays`` must stay unchanged; for a
    bigger change build a new figure and a new ``LiveFigure``.
    """

    def __init__(self, fig, dynamic=(), overlays=(), dpi: int = FIGURE_DPI):
        self.fig, self.dynamic, self.overlays = fig, list(dynamic), list(overlays)
        plt.close(fig)  # detach from pyplot first: closing later would swap the canvas out
        fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(fig)
        self.canvas.draw()  # runs the layout engine once
        fig.set_layout_engine("none")  # freeze panel positions
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
        for ax in self.dynamic:
            self.fig.draw_artist(ax)
        for artist in self.overlays:
            self.fig.draw_artist(artist)
        return _encode(np.asarray(self.canvas.buffer_rgba()))

    def show(self, out) -> bytes:
        """:meth:`render` and show the PNG in ``out``; returns the bytes."""
        png = self.render()
        show_png(out, png)
        return png
