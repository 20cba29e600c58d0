"""The first notebook's app: slider moves recompute through library calls."""

import jax
import pytest

from ntk_explore import regimes
from ntk_explore.core.models import mlp
from ntk_explore.widgets import EntkWidthApp


@pytest.fixture(scope="module")
def app():
    return EntkWidthApp(n_points=16, seeds=3, widths=(32, 128, 512), width=32)


def test_width_slider_changes_error_and_matches_library(app):
    first = app.error
    app.width.value = 512
    assert app.error < first
    model = mlp(2, 512, app.depth)
    expected = regimes.entk_error(model, app.x, jax.random.fold_in(app.key, 0))[0]
    assert app.error == pytest.approx(expected, rel=1e-10)
    assert "512" in app.readout.value


def test_seed_and_activation_recompute(app):
    app.width.value = 32
    before = app.error
    app.seed.value = 2
    assert app.error != before
    app.activation.value = "erf"
    assert ("erf", "ntk") in app._sweeps and app.figure is not None


def test_default_widths_grow_on_an_accelerator(monkeypatch):
    import ntk_explore as ne
    from ntk_explore.widgets import convergence

    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert not ne.on_accelerator() and convergence.default_widths() == convergence.WIDTHS
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert ne.on_accelerator() and ne.by_device("small", "large") == "large"
    wide = convergence.default_widths()
    assert wide[:len(convergence.WIDTHS)] == convergence.WIDTHS and max(wide) == 8 * max(convergence.WIDTHS)


def test_moving_a_control_and_back_restores_the_view(app):
    """What notebook 01 used to check in its last cell: a move recomputes, a move back
    restores the readout and the error exactly (every control returns to its default)."""
    app.activation.value, app.parametrization.value, app.seed.value = "relu", "ntk", 0
    app.width.value = 32
    before = app.error, app.readout.value, app.png
    app.width.value = max(app.widths)
    assert app.error < before[0] and app.readout.value != before[1] and app.png != before[2]
    app.width.value = 32
    assert (app.error, app.readout.value) == before[:2]


def test_app_defaults_are_the_claims_settings():
    """The app's relu/ntk sweep is the one regimes.entk_convergence_verdict judges by default."""
    from ntk_explore.topics.regimes import CONVERGENCE
    from ntk_explore.widgets import convergence

    assert convergence.WIDTHS == tuple(CONVERGENCE.widths)
    import inspect

    sig = inspect.signature(EntkWidthApp.__init__).parameters
    assert (sig["n_points"].default, sig["depth"].default, sig["seeds"].default) == (
        CONVERGENCE.n_points, CONVERGENCE.depth, CONVERGENCE.seeds)


def test_verdict_is_the_same_from_the_app_and_from_the_topic():
    """Notebook 01 and the tour judge 'entk_convergence' on equal sweeps (small settings here)."""
    kw = dict(n_points=12, seeds=2, widths=(16, 64, 256))
    small = EntkWidthApp(width=16, **kw)
    from_app = regimes.entk_convergence_verdict(small.sweeps[("relu", "ntk")])
    from_topic = regimes.entk_convergence_verdict(regimes.convergence_sweep(**kw, depth=small.depth))
    assert from_app.status == from_topic.status and from_app.key == "entk_convergence"
    assert from_app.measured == pytest.approx(from_topic.measured, rel=1e-9)
    with pytest.raises(TypeError, match="width"):
        regimes.convergence_sweep(width=3)
