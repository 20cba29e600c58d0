"""pNTK verdict (claim 'pntk_gap'): one function for the tour and notebook 08; regression timing."""

import math

import numpy as np
import pytest

from ntk_explore import pntk_study, scaling
from ntk_explore.core.verdicts import CLAIMS


def _sweep(slope, widths=(64, 256, 1024, 4096), noise=0.0, steps=0):
    w = np.asarray(widths, float)
    rng = np.random.default_rng(0)
    gaps = 0.25 * (w / w[0]) ** slope * np.exp(noise * rng.standard_normal((2, w.size)))
    return pntk_study.GapSweep(np.asarray(widths), gaps, steps)


@pytest.mark.parametrize("slope, status", [(-0.5, "holds"), (-1.0, "does not hold"),
                                           (0.0, "does not hold")])
def test_verdict_follows_the_slope(slope, status):
    v = pntk_study.pntk_verdict(_sweep(slope, noise=0.01))
    assert v.key == "pntk_gap" and v.status == status, v.summary
    assert v.expected == CLAIMS["pntk_gap"].expected
    assert v.interval[0] <= v.measured <= v.interval[1]


def test_verdict_side_condition_gap_must_fall_at_every_step():
    s = _sweep(-0.5)
    gaps = s.gaps.copy()
    gaps[:, 2] = gaps[:, 1] * 1.01  # a step where the gap does not fall
    v = pntk_study.pntk_verdict(pntk_study.GapSweep(s.widths, gaps, 0))
    assert v.status == "does not hold", v.summary


def test_verdict_names_init_or_training():
    assert "at init" in pntk_study.pntk_verdict(_sweep(-0.5)).measured_what
    assert "after 200 GD steps" in pntk_study.pntk_verdict(_sweep(-0.5, steps=200)).measured_what


def test_verdict_settings_are_read_only():
    with pytest.raises(TypeError):
        pntk_study.VERDICT_SETTINGS["seeds"] = 5


def test_compare_regression_reports_each_route_time(key):
    from ntk_explore.core.models import mlp

    task = scaling.digits_task()
    model = mlp(64, 16, 1, 10)
    c = pntk_study.compare_regression(model, model.init(key), task.x[:20], task.y[:20],
                                      task.x_test[:10], task.labels_test[:10])
    assert math.isfinite(c.seconds_entk) and c.seconds_entk > 0
    assert math.isfinite(c.seconds_pntk) and c.seconds_pntk > 0
