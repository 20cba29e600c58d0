"""Notebook 00's apps: the width slider redraws from the precomputed runs; the tour table."""

import numpy as np
import pytest

from ntk_explore.core.metrics import fit_loglog
from ntk_explore.topics import tour
from ntk_explore.widgets.start import FirstLookApp
from ntk_explore.widgets.tour import TourApp, verdict_table


@pytest.fixture(scope="module")
def app():
    return FirstLookApp(seeds=2, steps=200)


def test_width_slider_redraws_and_the_picture_is_lazy_in_the_limit(app):
    png, text = app.png, app.readout.value
    app.width.value = 16
    assert app.png != png and app.readout.value != text and "<b>16</b>" in app.readout.value
    app.width.value = 256
    assert app.readout.value == text
    # the kernel's relative change falls with width, between 1/width and 1/sqrt(width)
    slope = fit_loglog(app.widths, app.motion).slope
    assert -1.3 < slope < -0.4, slope
    assert np.all(np.diff(app.motion) < 0)


def test_first_look_refuses_a_width_not_on_the_slider():
    with pytest.raises(ValueError, match="width must be one of"):
        FirstLookApp(width=100)


def test_tour_app_shows_the_saved_run_until_asked():
    app = TourApp()
    saved = tour.saved_verdicts()
    assert not app.button.value and app.verdicts == list(saved.verdicts)
    assert saved.date in app.readout.value
    html = verdict_table(app.verdicts)
    assert html.count("<tr>") == len(saved.verdicts) + 1 and "Why:" in html
