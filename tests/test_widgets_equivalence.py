"""Notebook 02's apps: their controls recompute through library calls, go back to their
defaults exactly, and judge the table's claims as the topic functions (and the tour) do.

These checks used to be the notebook's last cell; a reader never sees them now.
"""

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ntk_explore.plots.layout import layout_problems
from ntk_explore.topics import ntk_table
from ntk_explore.topics.equivalence import three_learners
from ntk_explore.widgets.equivalence import TableApp, ThreeLearnersApp


@pytest.fixture(scope="module")
def learners():
    return ThreeLearnersApp(width=256, steps=100, warm_up=False)


@pytest.fixture(scope="module")
def table():
    return TableApp(n=80, trials=3, net_trials=1, epochs=5, width=64, warm_up=False)


def test_width_move_recomputes_and_moving_back_restores(learners):
    before = learners.result.kernel_motion[-1], learners.readout.value, learners.result
    learners.width.value = 32
    assert learners.result.kernel_motion[-1] > before[0] and learners.readout.value != before[1]
    learners.width.value = 256
    assert learners.readout.value == before[1] and learners.result is before[2]


def test_result_for_computes_without_moving_a_control(learners):
    value = learners.width.value
    r = learners.result_for(width=64, parametrization="mup")
    assert learners.width.value == value and learners.parametrization.value == "ntk"
    direct = three_learners(learners.tasks["1d"], key=learners.k_init, width=64, depth=2,
                            parametrization="mup", alpha=1.0, lr=0.1, steps=100, center=False)
    np.testing.assert_allclose(r.kernel_motion, direct.kernel_motion, rtol=1e-10)
    learners.width.value, learners.parametrization.value = 64, "mup"
    assert learners.result is r  # the cached result: the move is instant
    learners.width.value, learners.parametrization.value = value, "ntk"
    with pytest.raises(TypeError, match="unknown settings"):
        learners.result_for(widht=3)
    assert learners.result_for(task="sphere").net.test_out.shape[1] == 128


def test_learning_rate_above_the_limit_gets_a_message(learners):
    limit = learners.result.lr_limit
    assert f"{limit:.3g}" in learners.readout.value
    learners.lr.value = 1.0
    assert learners.result is None and "diverges" in learners.readout.value
    learners.lr.value = 0.1
    assert learners.result is not None and "diverges" not in learners.readout.value


def test_app_figure_passes_the_layout_check(learners):
    fig = learners.figure
    FigureCanvasAgg(fig)  # the app closed it after rendering: give it a canvas to draw on
    assert layout_problems(fig) == []
    assert learners._warmup is None


def test_table_lr_move_recomputes_and_moving_back_restores(table):
    nn, readout = table.nets["NN1"].copy(), table.readout.value
    table.lr.value = 0.03
    assert np.all(table.nets["NN1"] != nn) and "NN1" in table.readout.value
    table.lr.value = 0.004
    np.testing.assert_array_equal(table.nets["NN1"], nn)
    assert table.readout.value == readout
    fig = table.figure
    FigureCanvasAgg(fig)
    assert layout_problems(fig) == []
    matplotlib.pyplot.close(fig)


def test_table_verdicts_are_the_topic_functions(table):
    """The notebook judges the app's kernel table; the topic function run at the same
    settings gives the same verdict (and the tour delegates to that function)."""
    for form, res in (("as-coded", table.kernels), ("corrected", table.kernels_corrected)):
        ref = ntk_table.run_table(table.trials, n=table.n, form=form, seed=table.seed)
        for m in ("GP1", "NTKB1", "Laplacian"):
            np.testing.assert_allclose(res.rmse[m], ref.rmse[m], rtol=1e-10)
        assert (ntk_table.laplacian_gap_verdict(res, form=form)
                == ntk_table.laplacian_gap_verdict(form=form, trials=table.trials, n=table.n))
    assert (ntk_table.gp_ntk_tie_verdict(table.kernels)
            == ntk_table.gp_ntk_tie_verdict(trials=table.trials, n=table.n))
    with pytest.raises(ValueError, match="as-coded"):
        ntk_table.gp_ntk_tie_verdict(table.kernels_corrected)
