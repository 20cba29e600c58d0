"""Notebook 06's app: every control recomputes through library calls and returns to its
default; the quick view and the full sweep are labelled."""

import jax
import numpy as np
import pytest

from ntk_explore import finetune as F
from ntk_explore.plots import layout
from ntk_explore.widgets.finetune import QUICK, FinetuneApp


@pytest.fixture(autouse=True)
def check_layout(monkeypatch):
    """Every figure the app draws raises on a layout defect (as under the notebook tests)."""
    monkeypatch.setenv(layout.ENV_FLAG, "1")


@pytest.fixture(scope="module")
def setup():
    data = F.digits_transfer(n_train=200)
    pre = F.pretrain_backbone(data, key=jax.random.key(0), steps=400)
    return data, pre


def test_tau_slider_recomputes(setup):
    data, pre = setup
    app = FinetuneApp(seeds=2, taus=(0, 30), tau=0, ft_steps=20, data=data, pretrained=pre,
                      warm_up=False)
    before = app.step.start.energy, app.readout.value
    app.tau.value = 30
    assert app.step.start.energy < before[0] and app.readout.value != before[1]
    assert app.sweep.energy.shape == (2, 2)
    app.tau.value = 0
    assert app.readout.value == before[1]


def test_quick_view_then_full_sweep_then_back(setup):
    data, pre = setup
    app = FinetuneApp(seeds=3, taus=(0, 30, 300), tau=30, ft_steps=80, data=data,
                      pretrained=pre, warm_up=False)
    default_sweep, default_text = app.sweep, app.readout.value
    assert app.full and app.sweep.energy.shape == (3, 3) and app.sweep.ft_steps == 80
    app.ft_lr.value = 1.0  # a new setting: the quick sweep first, labelled as such
    assert not app.full and app.sweep.energy.shape == (QUICK["seeds"], 3)
    assert app.sweep.ft_steps == QUICK["ft_steps"] and "quick sweep" in app.readout.value
    full = F.tau_sweep(pre, data, key=app.k_heads, taus=(0, 30, 300), seeds=3, ft_lr=1.0,
                       ft_steps=80)
    app.show_full()
    assert app.full and "full sweep: 3 seeds x 80 FT steps" in app.readout.value
    for name in ("energy", "feature_change", "cka", "accuracy"):  # HP shared with the quick view
        np.testing.assert_allclose(getattr(app.sweep, name), getattr(full, name), rtol=1e-10)
    np.testing.assert_allclose(app.quick_sweep_for("linear", 0.0, 1.0).energy,
                               full.energy[:QUICK["seeds"]], rtol=1e-12)
    app.ft_lr.value = 0.5  # back to the default: the cached full sweep, same readout
    assert app.full and app.sweep is default_sweep and app.readout.value == default_text


def test_head_and_smoothing_recompute(setup):
    data, pre = setup
    app = FinetuneApp(seeds=2, taus=(0, 300), tau=300, ft_steps=20, data=data, pretrained=pre,
                      warm_up=False)
    e0 = app.sweep.mean("energy")[-1]
    app.smoothing.value = 0.3  # smoothed HP targets keep the energy away from 0
    assert app.sweep.mean("energy")[-1] > e0 and "s = <b>0.3</b>" in app.readout.value
    app.smoothing.value = 0.0
    app.head.value = "mlp"
    assert app.sweep.head == "mlp" and app.step.start.direction.shape[1] == 5
    app.head.value = "linear"
    assert app.sweep.mean("energy")[-1] == pytest.approx(e0)


def test_diverged_runs_are_said_in_the_readout_and_figure(setup):
    data, pre = setup
    app = FinetuneApp(seeds=2, taus=(0, 3000), tau=0, ft_steps=40, data=data, pretrained=pre,
                      warm_up=False, ft_lrs=(0.5, 500.0))
    with pytest.warns(UserWarning, match="diverged"):
        app.ft_lr.value = 500.0
    assert app.sweep.n_diverged.sum() >= 1
    assert "diverged" in app.readout.value and "left out" in app.readout.value
    assert "diverged" in app.figure.get_suptitle()
