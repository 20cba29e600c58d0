"""Notebook 09's apps: every slider redraws from the same validation and test sets, bad
settings get a message naming the argument, an empty selection clears the figure, and the
matrix-free extension stays off until switched on."""

import jax
import numpy as np
import pytest

from ntk_explore.topics import kernel_loses as kl
from ntk_explore.widgets.kernel_loses import ExtendKernelApp, KernelLosesApp

TINY = dict(d=5, width=8, steps=5, lr=0.2, n_val=8, n_test=8)


@pytest.fixture(scope="module")
def app():
    """The app through its own compute path (two n_pre values, so both sliders move)."""
    return KernelLosesApp(key=jax.random.key(0), sizes=(4, 8, 16), seeds=2, n_pres=(16, 64),
                          **TINY)


def _synthetic_curves(n_pre=128, seed=0):
    """Curves with power-law errors (what data_scaling returns, without the training)."""
    ns = np.array([64, 128, 256, 512, 1024])
    rng = np.random.default_rng(seed)
    noise = lambda: np.exp(0.05 * rng.standard_normal((3, ns.size)))  # noqa: E731
    errors = {"net": ns ** -0.9 * noise(), "entk_init": ns ** -0.1 * noise(),
              "ntk": ns ** -0.1 * noise(), "lazy": ns ** -0.12 * noise(),
              "pretrained": ns ** -0.3 * noise()}
    return kl.Curves(ns, errors, {**kl.DEFAULTS, "n_pre": n_pre}, ("a", "b", "c"))


def test_every_slider_value_uses_the_same_validation_and_test_sets(app):
    sets = app.eval_sets()
    assert len(sets) == 2  # one digest per seed: the seeds' sets differ from each other
    controls = {"alpha": app.alpha, "n_pre": app.n_pre}
    assert len(app.n_pre.options) == 2 and len(app.alpha.options) == 2
    for name, slider in controls.items():
        default = slider.value
        for value in slider.options:
            slider.value = value
            assert app.eval_sets() == sets, (name, value)
            assert app.figure_png is not None
        slider.value = default


def test_sliders_redraw_and_restore(app):
    png, text = app.figure_png, app.readout.value
    app.alpha.value = app.alpha.options[-1]
    assert app.figure_png != png and app.readout.value != text
    assert "lazy" in app.readout.value and "(rich)" not in app.readout.value
    app.alpha.value = 1.0
    assert app.figure_png == png  # the cached drawing of the default state
    app.n_pre.value = 16
    assert "n_pre = <b>16</b>" in app.readout.value and app.figure_png != png
    app.n_pre.value = 64
    assert app.readout.value == text


def test_unticking_every_learner_clears_the_figure(app):
    png = app.figure_png
    for box in app.show.values():
        box.value = False
    assert app.figure_png is None and app.exponents == {}
    assert "no learner ticked" in app.readout.value and not app.out.outputs
    for box in app.show.values():
        box.value = True
    assert app.figure_png == png


def test_bad_settings_get_a_message_naming_the_argument():
    app = KernelLosesApp(_synthetic_curves(128), {64: _synthetic_curves(64, seed=1)})
    assert app.check().startswith("ok")  # the default box is a valid setting
    app.check_r.value = 40
    assert "cannot run" in app.check() and "r (the number of directions)" in app.message
    app.check_r.value, app.check_width.value, app.check_steps.value = 1, 16384, 10**6
    assert "cannot run" in app.check() and "width" in app.message
    app.check_width.value, app.check_steps.value, app.check_n_pre.value = 256, 1000, 3
    assert "cannot run" in app.check() and "n_pre" in app.message


def test_one_n_pre_hides_its_slider_and_missing_learners_have_no_box():
    c = _synthetic_curves(128)
    c = kl.Curves(c.ns, {k: v for k, v in c.errors.items() if k != "ntk"}, c.settings,
                  c.eval_sets)
    app = KernelLosesApp(c)
    assert app.n_pre not in app.widget().children[0].children
    assert set(app.show) == {"net", "entk_init", "pretrained"}
    assert app.eval_sets() == ("a", "b", "c")


EXT = dict(d=8, width=16, n_val=64, n_test=64)


def test_extend_kernel_app_is_off_until_switched_on(key):
    app = ExtendKernelApp(key, (32, 64, 128), matfree_from=64, seconds=1, rank=16, **EXT)
    assert app.extended is None and app.figure is None and not app.button.value
    assert "n = 128" in app.button.description
    app.button.value = True
    ref = kl.entk_init_extended(key, (32, 64, 128), matfree_from=64, rank=16, **EXT)
    assert app.extended.errors == pytest.approx(ref.errors, rel=1e-6)
    assert app.exponent.slope == pytest.approx(ref.exponent().slope, rel=1e-6)
    assert "exponent" in app.readout.value and app.png
    app.button.value = False
    assert app.extended is None and app.figure is None


def test_a_value_a_slider_cannot_take_is_refused_and_kept(app):
    png = app.figure_png
    app.alpha.value = 3.0  # not one of the computed output scales
    assert app.alpha.value == 1.0 and app.figure_png == png
    assert "cannot be 3.0" in app.message and "cannot be 3.0" in app.readout.value
    app.n_pre.value = 1000  # not a computed n_pre
    assert app.n_pre.value == 64 and "cannot be 1000" in app.message
    app.alpha.value = 1.0
