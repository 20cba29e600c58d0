"""How every app puts a matplotlib figure on screen: one PNG in an ``Output``.

* :func:`show_figure` rasterizes a freshly built figure once (no second
  ``bbox_inches="tight"`` pass as the inline backend makes; the figures use
  constrained layout already) and closes it.
* :func:`show_png` shows bytes already rendered, e.g. by
  :class:`~ntk_explore.plots.live.LiveFigure`, which redraws only the panels a
  slider changes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from IPython.display import Image, display

from ..plots.live import FIGURE_DPI, figure_png

__all__ = ["show_figure", "show_png"]


def show_png(out, png: bytes) -> bytes:
    """Replace what the ``Output`` widget ``out`` shows with the PNG ``png``; returns it."""
    with out:
        out.clear_output(wait=True)
        display(Image(data=png, format="png"))
    return png


def show_figure(out, fig, dpi: int = FIGURE_DPI) -> bytes:
    """Draw ``fig`` once to PNG, show it in ``out``, close the figure; returns the bytes."""
    png = figure_png(fig, dpi)
    plt.close(fig)
    return show_png(out, png)
