"""Notebook 04's app: the target-size slider redraws the benefits through the library's
result, and the default comes back unchanged."""

import jax
import numpy as np
import pytest

from ntk_explore.widgets.transfer import TransferApp

SMALL = dict(sizes=(4, 8), seeds=2, width=64, pretrain_steps=50, steps=30, n_source=64,
             n_test=64)


@pytest.fixture(scope="module")
def app():
    return TransferApp(key=jax.random.key(3), **SMALL)


def test_starts_at_the_smallest_size(app):
    assert app.m.value == 4 and "m = <b>4</b>" in app.readout.value
    assert set(app.benefits) == {"(3) tangent-space start", "(2) fine-tuning",
                                 "(4) pretrained eNTK"}


def test_slider_recomputes_from_the_result_and_restores(app):
    before = app.benefits, app.readout.value, app.png
    app.m.value = 8
    r, j = app.result, 1
    plus, minus = app.benefits["(3) tangent-space start"]
    assert plus == pytest.approx(float(r.effect("lin_init_from_A", "lin_init", 1)[:, j].mean()))
    assert minus == pytest.approx(float(r.effect("lin_init_from_A", "lin_init", -1)[:, j].mean()))
    assert app.readout.value != before[1] and "m = <b>8</b>" in app.readout.value
    assert app.png != before[2]
    app.m.value = 4
    assert app.benefits == before[0] and app.readout.value == before[1]


def test_result_has_every_learner(app):
    r = app.result
    assert r.errors.shape == (2, 2, 6, 2) and np.all(np.isfinite(r.errors))
    assert np.all(np.isfinite(r.source_error))
