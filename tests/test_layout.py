"""The figure layout check: each kind of defect is found and named; a clean figure passes.

Every notebook figure is checked too: ``python3 dev.py test`` sets
``NTK_EXPLORE_CHECK_LAYOUT=1``, so a figure from ``plots.new_figure`` raises on a defect
when the notebook draws it under nbval.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ntk_explore.plots import layout  # noqa: E402
from ntk_explore.plots.base import loglog_axes, new_figure, place_legend  # noqa: E402


@pytest.fixture(autouse=True)
def _no_check_on_draw(monkeypatch):
    """These tests draw defective figures on purpose and inspect them; ``dev.py test`` sets
    the draw-time check for the whole suite, which would raise before they look."""
    monkeypatch.delenv(layout.ENV_FLAG, raising=False)


def test_clean_figure_has_no_problems():
    fig, axes = new_figure(2)
    for ax in axes[0]:
        ax.plot([1, 10, 100], [1.0, 0.5, 0.2], "o-", label="a curve")
        loglog_axes(ax, "training points n", "test error")
        place_legend(ax)
    assert layout.layout_problems(fig) == []


def test_text_cut_off_at_the_canvas_edge():
    fig, axes = new_figure(1)
    axes[0, 0].set_title("a title far too long for one panel of this figure " * 3)
    problems = layout.layout_problems(fig)
    assert any("cut off" in p and "title" in p for p in problems), problems


def test_an_axes_drawn_without_its_axis_has_no_tick_problems():
    """``ax.axis("off")`` draws no ticks or axis labels: labels matplotlib keeps but never
    draws (here pushed off the canvas by huge y values on a log scale) are not problems;
    turning the axis back on makes them problems again."""
    fig, axes = new_figure(1)
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1])
    ax.set_ylabel("a label far too long to fit beside this panel " * 4)
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1e-2)
    ax.yaxis.set_major_locator(matplotlib.ticker.NullLocator())
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.axis("off")
    assert layout.layout_problems(fig) == []
    ax.axis("on")
    problems = layout.layout_problems(fig)
    assert any("y label" in p for p in problems) and any("log y axis" in p for p in problems), problems


def test_a_frameless_legend_is_cut_off_only_when_its_entries_are():
    """A legend without a frame draws nothing in its border padding: padding over the edge
    is not a defect, an entry over the edge is; with a frame the whole box counts."""
    def legend_problems(anchor_y, frameon):
        fig, axes = new_figure(1)
        ax = axes[0, 0]
        ax.plot([0, 1], [0, 1], label="a line")
        fig.set_layout_engine("none")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, anchor_y), bbox_transform=fig.transFigure,
                  borderpad=3.0, borderaxespad=0.0, frameon=frameon)
        return [p for p in layout.layout_problems(fig) if "legend is cut off" in p]

    assert legend_problems(-0.02, frameon=False) == []
    assert legend_problems(-0.02, frameon=True) != []
    assert legend_problems(-0.3, frameon=False) != []


def test_overlapping_texts_are_named():
    fig, axes = new_figure(1)
    ax = axes[0, 0]
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    problems = layout.layout_problems(fig)
    assert any("'first label'" in p and "'second label'" in p and "overlaps" in p
               for p in problems), problems


def test_text_reaching_into_another_axes():
    fig, axes = new_figure(2)
    fig.set_layout_engine("none")  # constrained layout would make room for the text
    axes[0, 0].text(1.05, 0.5, "spills over to the right panel", transform=axes[0, 0].transAxes)
    problems = layout.layout_problems(fig)
    assert any("reaches into the plotting area of axes 1" in p for p in problems), problems


def test_log_axis_without_two_labels():
    fig, axes = new_figure(1)
    ax = axes[0, 0]
    ax.plot([1, 2], [1.0, 1.5])
    ax.set_yscale("log")
    ax.set_ylim(1.02, 1.6)
    ax.yaxis.set_major_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    problems = layout.layout_problems(fig)
    assert any("log y axis has 0 labelled" in p for p in problems), problems


def test_legend_over_the_data():
    fig, axes = new_figure(1)
    ax = axes[0, 0]
    x = np.linspace(0, 1, 50)
    ax.plot(x, np.full_like(x, 0.5), "o", label="points through the middle")
    ax.legend(loc="center")
    problems = layout.layout_problems(fig)
    assert any("legend covers" in p for p in problems), problems


def test_watch_raises_on_draw_only_when_asked(monkeypatch):
    def bad():
        fig, axes = new_figure(1)
        axes[0, 0].set_title("too long a title for this small panel " * 4)
        return fig

    monkeypatch.delenv(layout.ENV_FLAG, raising=False)
    bad().canvas.draw()  # no check without the flag
    monkeypatch.setenv(layout.ENV_FLAG, "1")
    with pytest.raises(layout.LayoutError, match="cut off"):
        bad().canvas.draw()
    monkeypatch.setenv(layout.ENV_FLAG, "warn")
    with pytest.warns(UserWarning, match="cut off"):
        bad().canvas.draw()
