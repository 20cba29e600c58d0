"""The figure layout check: each kind of defect is found and named; a clean figure passes.

Every notebook figure is checked too: ``python3 dev.py test`` sets
``NTK_EXPLORE_CHECK_LAYOUT=1``, so a figure from ``plots.new_figure`` raises on a defect
when the notebook draws it under nbval.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ntk_explore.plots import layout  # noqa: E402
from ntk_explore.plots.base import loglog_axes, new_figure, place_legend  # noqa: E402


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
