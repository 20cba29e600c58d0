"""The apps' fast figure display: one PNG per frame, and blitted frames equal full redraws."""

import io

import ipywidgets as W
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ntk_explore.plots.live import FIGURE_DPI, LiveFigure, figure_png  # noqa: E402
from ntk_explore.widgets._display import show_figure  # noqa: E402


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _figure():
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 3), layout="constrained")
    im = a.imshow(np.arange(16.0).reshape(4, 4), vmin=0, vmax=30)
    a.set_title("image")
    cb = fig.colorbar(im, ax=a)
    x = np.logspace(0, 3, 20)
    b.loglog(x, x ** -0.5, "o-")
    b.set_xlabel("width")
    line = b.axvline(10, color="C3")
    return fig, a, b, im, cb, line


def test_show_figure_returns_the_png_it_displays_and_closes_the_figure():
    fig, *_ = _figure()
    out = W.Output()
    png = show_figure(out, fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
    assert _pixels(png).shape[:2] == (3 * FIGURE_DPI, 6 * FIGURE_DPI)  # 6 x 3 inches
    assert FIGURE_DPI >= 100  # readable at the size JupyterLab shows it


def test_live_figure_frame_equals_a_full_redraw_of_the_same_state():
    fig, a, b, im, cb, line = _figure()
    live = LiveFigure(fig, dynamic=[a, cb.ax], overlays=[line])
    first = _pixels(live.render())
    # change the dynamic panel, its colour scale and the overlay
    im.set_data(np.arange(16.0)[::-1].reshape(4, 4) * 2)
    im.set_clim(0, 40)
    a.set_title("changed")
    line.set_xdata([300, 300])
    frame = _pixels(live.render())
    # reference: the same figure state drawn from scratch with the frozen layout
    ref = _pixels(figure_png(fig))
    assert frame.shape == ref.shape
    differ = np.mean(np.any(np.abs(frame - ref) > 8, axis=-1))
    assert differ < 1e-3, f"{differ:.2%} of pixels differ from a full redraw"
    # and the frame really changed (the test would pass vacuously otherwise)
    assert np.mean(np.any(first != frame, axis=-1)) > 0.01


def test_lru_keeps_the_most_recently_used():
    import pytest

    from ntk_explore.explore import LRU

    cache, calls = LRU(2), []
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)  # evicts "b"
    assert list(cache) == ["a", "c"] and cache.get("b", "gone") == "gone"
    assert cache.get_or("c", lambda: calls.append("c") or 0) == 3 and calls == []
    assert cache.get_or("d", lambda: calls.append("d") or 4) == 4 and calls == ["d"]
    assert list(cache) == ["c", "d"]
    with pytest.raises(ValueError, match="size"):
        LRU(0)
