"""Notebook 03's app: every control recomputes through the library, a new setting shows the
quick sweep first, the button trains the full one, and the defaults come back unchanged."""

import jax
import numpy as np
import pytest

from ntk_explore.topics import features as F
from ntk_explore.widgets.features import QUICK, FeatureWidthApp

SMALL = dict(widths=(32, 64, 128), seeds=2, n=16, steps=30)


@pytest.fixture(scope="module")
def app():
    return FeatureWidthApp(warm_up=False, **SMALL)


def test_starts_on_the_full_sweep_of_its_defaults(app):
    assert app.full and app.sweep.loss.shape == (2, 3)
    assert app.sweep.parametrization == "ntk" and "full sweep: 2 seeds" in app.readout.value
    fit = app.sweep.fit("feature")
    assert app.slopes[0] == fit.slope and f"{fit.slope:.2f}" in app.readout.value


def test_parametrization_recomputes_then_defaults_restore_the_view(app):
    before = app.slopes, app.readout.value
    app.parametrization.value = "mup"
    assert app.sweep.parametrization == "mup" and app.slopes != before[0]
    assert app.readout.value != before[1] and "<b>mup</b>" in app.readout.value
    app.parametrization.value = "ntk"
    assert app.full and app.readout.value == before[1] and app.slopes == before[0]


def test_new_setting_quick_sweep_then_full(app):
    default_lr = app.lr.value
    app.lr.value = 0.4  # a new setting: the quick sweep first
    assert not app.full and app.sweep.widths.tolist() == list(QUICK["widths"])
    assert app.sweep.lr == 0.4 and "quick sweep: 1 seed" in app.readout.value
    quick_slopes = app.slopes
    app.show_full()
    assert app.full and app.sweep.loss.shape == (2, 3)
    assert "full sweep: 2 seeds" in app.readout.value and app.slopes != quick_slopes
    app.steps.value = 100  # quick again, measured at 30 and 100 steps along one run
    assert not app.full and (("ntk", 1.0, 0.4, 2, 30) in app._quick)
    app.steps.value = 30  # back to the setting computed in full
    assert app.full and app.sweep.steps == 30
    app.lr.value = default_lr
    assert app.full and app.sweep.lr == default_lr


def test_full_sweep_equals_the_library_call(app):
    """What the app shows at its defaults is feature_sweep on the app's task and key."""
    ref = F.feature_sweep(app.task, SMALL["widths"], key=app.key, parametrization="ntk",
                          depth=2, lr=app.lr.value, steps=30, seeds=2)
    np.testing.assert_allclose(app.sweep_for("ntk").feature, ref.feature, rtol=1e-5)


def test_default_task_is_the_verdicts_task():
    """With the notebook's task settings the app trains on claim_task's task and key."""
    app = FeatureWidthApp(warm_up=False, widths=(32, 64, 128), seeds=1, steps=30)
    task, key = F.claim_task()
    np.testing.assert_array_equal(app.task.x, task.x)
    np.testing.assert_array_equal(app.task.y, task.y)
    np.testing.assert_array_equal(jax.random.key_data(app.key), jax.random.key_data(key))


def test_unknown_setting_is_an_error():
    with pytest.raises(TypeError, match="unknown setting"):
        FeatureWidthApp(warm_up=False, widht=3)
