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
