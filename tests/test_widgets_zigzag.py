"""Notebook 05's app: every control recomputes through library calls, labels never collide,
and the controls return to their defaults."""

import jax
import numpy as np
import pytest

from ntk_explore import zigzag as Z
from ntk_explore.plots import layout
from ntk_explore.widgets.zigzag import ZigzagApp

SMALL = dict(n_train=120, teacher_epochs=40, student_epochs=5)


@pytest.fixture(autouse=True)
def check_layout(monkeypatch):
    """Every figure the app draws raises on a layout defect (as under the notebook tests)."""
    monkeypatch.setenv(layout.ENV_FLAG, "1")


@pytest.fixture(scope="module")
def app():
    return ZigzagApp(noises=(2.0, 4.0), **SMALL)


def _defaults(app):
    return app.step.value, app.stop.value, app.rate.value, app.noise.value


def test_marker_and_checkboxes_redraw_one_panel(app):
    png, dist, fig = app.png, app.dist, app.figure
    app.step.value = 20  # redraws the simplex panel only
    assert app.png != png and app.figure is fig and app.dist is dist
    png = app.png
    app.boxes[0].value = False
    assert len(app.selected()) == len(app.boxes) - 1 and app.png != png
    app.boxes[0].value = True
    app.step.value = 0
    assert layout.layout_problems(app.figure) == []


def test_teacher_length_retrains_the_students(app):
    default = app.stop.value
    dist = app.dist
    app.stop.value = 10 if default != 10 else 20
    assert app.dist is not dist and app.dist.targets.stop == app.stop.value
    r = app.teacher(app.noise.value)
    fresh = Z.distill(r.toy, app.model, r.run, r.student_key, stop=app.stop.value,
                      rate=app.rate.value, student_epochs=SMALL["student_epochs"])
    assert app.dist.filtered.ece == pytest.approx(fresh.filtered.ece, abs=1e-6)
    app.stop.value = default
    assert app.dist is dist  # cached


def test_noise_level_is_trained_once_then_cached(app):
    before = _defaults(app)
    app.noise.value = 2.0
    r = app.teacher(2.0)
    assert app.stop.value == app._default_stop(app.run) and app.toy is r.toy
    same = Z.teacher_runs(0, 1, epochs=SMALL["teacher_epochs"], noise=2.0, n_train=SMALL["n_train"])[0]
    np.testing.assert_array_equal(same.run.paths, app.run.paths)
    np.testing.assert_allclose(app.curve.filtered,
                               Z.targets_vs_stop(app.toy, app.run, rate=app.rate.value).filtered)
    app.noise.value = 4.0
    assert _defaults(app) == before


def test_rate_moves_the_filtered_targets(app):
    default, filt = app.rate.value, app.dist.targets.filtered
    app.rate.value = 0.9
    assert not np.allclose(app.dist.targets.filtered, filt)
    app.rate.value = default
    np.testing.assert_array_equal(app.dist.targets.filtered, filt)


def test_seed_run_is_used_and_checked():
    runs = Z.teacher_runs(0, 1, epochs=SMALL["teacher_epochs"], n_train=SMALL["n_train"])
    app = ZigzagApp(seed_run=runs[0], noises=(4.0,), **SMALL)
    assert app.run is runs[0].run and app.toy is runs[0].toy
    with pytest.raises(ValueError, match="seed_run"):
        ZigzagApp(seed_run=runs[0], noises=(4.0,), n_train=120, teacher_epochs=30)


def test_path_labels_avoid_each_other():
    """Several paths end at the same corner: their #i labels must not overlap."""
    import matplotlib

    matplotlib.use("Agg")
    from ntk_explore.plots.zigzag import ZigzagFigure

    r = Z.teacher_runs(0, 1, epochs=SMALL["teacher_epochs"], n_train=SMALL["n_train"])[0]
    kinds = Z.point_kinds(r.toy)
    idx = list(range(12))  # twelve paths, most ending at two or three corners
    curve = Z.targets_vs_stop(r.toy, r.run)
    dist = Z.distill(r.toy, Z.toy_model(), r.run, jax.random.key(1), stop=len(r.run.epochs) - 1,
                     student_epochs=2)
    view = ZigzagFigure(r.run.paths, idx, r.toy.pstar, r.toy.y, kinds, 0, curve, dist, 40, None,
                        r.run.epochs)
    labels = [t for t in view.axes[0].texts if t.get_text().startswith("#")]
    assert len(labels) == 12
    assert layout.layout_problems(view.figure) == []
