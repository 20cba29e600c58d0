"""Notebook 07's output-scale app: built on a small run, its slider recomputes through the
explorer (and reads gamma = 1 and the rich gamma from the run), every figure passes the
layout check, and it ends at its default."""

import numpy as np
import pytest

from ntk_explore.plots import natural as plots
from ntk_explore.plots.layout import layout_problems
from ntk_explore.topics import natural as N
from ntk_explore.widgets.natural import GammaApp

SMALL = dict(seeds=2, sizes=(20, 40, 80), width=16, gamma=4.0, steps=60, every=10, patience=3,
             learners=("rich", "lazy", "entk", "ntk"))


@pytest.fixture(scope="module")
def curves():
    return N.digits_scaling(**SMALL)


@pytest.fixture
def app(curves, monkeypatch):
    monkeypatch.setenv("NTK_EXPLORE_CHECK_LAYOUT", "1")
    return GammaApp(curves, gammas=(1, 2, 4))


def test_default_is_the_runs_rich_net(app, curves):
    assert app.gamma.value == 4
    np.testing.assert_array_equal(app.net.mse["net"], curves.mse["rich"])
    assert app.exponent.alpha == pytest.approx(curves.exponent("rich").alpha)
    assert "MLP at gamma 4" in app.readout.value and app.png
    assert app.vs_ntk.mean == pytest.approx(curves.paired("rich", "ntk").mean)


def test_slider_recomputes_and_returns_to_the_default(app, curves):
    default_readout, default_alpha = app.readout.value, app.exponent.alpha
    app.gamma.value = 2
    assert "MLP at gamma 2" in app.readout.value and app.exponent.alpha != default_alpha
    mse, _, _ = N.mlp_at_gamma(curves.settings, 2.0)
    np.testing.assert_array_equal(app.net.mse["net"], mse)  # the library function, exactly
    gammas, exps = app.explorer.computed()
    assert gammas.tolist() == [1.0, 2.0, 4.0] and len(exps) == 3
    app.gamma.value = 1
    np.testing.assert_array_equal(app.net.mse["net"], curves.mse["lazy"])  # read from the run
    app.gamma.value = 4
    assert app.readout.value == default_readout and app.exponent.alpha == default_alpha


def test_figures_pass_the_layout_check(curves):
    import matplotlib

    matplotlib.use("Agg")
    figs = [plots.scaling_figure(curves), plots.scaling_figure(curves, ["rich", "ntk"])]
    for fig in figs:
        fig.canvas.draw()
        assert layout_problems(fig) == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(gammas=(1, 2)), "rich output scale"), (dict(gammas=(2, 4)), "gamma = 1"),
    (dict(gamma=8), "options")])
def test_bad_settings_are_refused(curves, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GammaApp(curves, **{"gammas": (1, 2, 4), **kwargs})


def test_a_run_without_the_kernels_is_refused(curves):
    import dataclasses

    partial = dataclasses.replace(curves, mse={k: v for k, v in curves.mse.items() if k != "ntk"})
    with pytest.raises(ValueError, match="ntk"):
        GammaApp(partial, gammas=(1, 2, 4))
