"""Notebook 08's apps: sliders recompute, defaults come back, figures pass the layout check,
and the notebook's pNTK verdict is the tour's."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ntk_explore import active, plots, pntk_study, tour  # noqa: E402
from ntk_explore.plots import layout  # noqa: E402
from ntk_explore.widgets.beyond import ActiveApp, PntkApp  # noqa: E402


@pytest.fixture(scope="module")
def papp():
    return PntkApp(cost_ks=(1, 2), cost_repeats=1)


@pytest.fixture(scope="module")
def aapp():
    return ActiveApp(precompile=False)


def test_pntk_app_defaults_are_the_verdict_settings(papp):
    s = pntk_study.VERDICT_SETTINGS
    assert papp.x.shape[0] == s["n_points"] and papp.widths == tuple(s["widths"])
    assert papp.seeds == s["seeds"] and papp.k.value == s["out_dim"]
    assert np.array_equal(jax.random.key_data(papp.key), jax.random.key_data(jax.random.key(s["seed"])))


def test_pntk_defaults_match_the_notebook_text(papp):
    """Notebook 08: the gap falls by close to sqrt(64) = 8 over the widths; training for
    200 (or 1000) steps changes it little; a smaller k gives a smaller gap at width 64."""
    init, trained = papp.sweep(10, 0), papp.sweep(10, 200)
    assert 6 < init.mean[0] / init.mean[-1] < 10
    assert np.max(np.abs(trained.mean / init.mean - 1)) < 0.1
    assert np.max(np.abs(papp.sweep(10, 1000).mean / init.mean - 1)) < 0.1
    assert papp.sweep(2, 0).mean[0] < init.mean[0]


def test_notebook_and_tour_give_the_same_pntk_verdict(papp):
    """The notebook judges the app's sweep at its defaults; the tour recomputes it with
    gap_vs_width: the same claim at the same settings, the same verdict."""
    mine = pntk_study.pntk_verdict(papp.sweep(10, 0))
    theirs = tour.pntk_verdict()
    assert mine.status == theirs.status == "holds", (mine.summary, theirs.summary)
    assert mine.measured == pytest.approx(theirs.measured, abs=1e-4)
    assert np.allclose(mine.interval, theirs.interval, atol=1e-4)


def test_pntk_sliders_recompute_and_restore(papp):
    before = papp.trained_sweep, papp.readout.value, papp.png
    papp.train_steps.value = 50
    try:
        assert papp.trained_sweep is not before[0] and papp.readout.value != before[1]
        assert papp.trained_sweep.train_steps == 50 and papp.png != before[2]
        papp.k.value = 2
        assert papp.init_sweep.fit.slope != papp.sweep(10, 0).fit.slope
    finally:
        papp.k.value = 10
        papp.train_steps.value = 200
    assert papp.readout.value == before[1], "the pNTK app is not back at its default"


def test_active_slider_recomputes_and_restores(aapp):
    before = dict(aapp.final), aapp.readout.value
    aapp.per_round.value = 5
    try:
        assert aapp.final != before[0] and aapp.readout.value != before[1]
        assert aapp.curves["random"][0].labels[-1] == 20 + 5 * aapp.rounds
    finally:
        aapp.per_round.value = 10
    assert aapp.final == before[0] and aapp.readout.value == before[1]


def test_active_app_defaults_match_the_notebook_text(aapp):
    """What notebook 08 says of its default run: look-ahead direction and size near
    retraining's, and the order uncertainty > look-ahead > random at the last round."""
    chk = aapp.check
    assert not set(chk.candidates) & set(chk.labelled)
    # measured: cosines 0.89-0.98, length ratios 0.93-1.00 (key 0)
    assert np.median(chk.cosine) > 0.8 and np.all(chk.cosine > 0.7), chk.cosine
    assert np.all((chk.length_ratio > 0.8) & (chk.length_ratio < 1.25)), chk.length_ratio
    f = aapp.final
    assert f["uncertainty"] > f["lookahead"] > f["random"], f


def test_figures_pass_the_layout_check(papp, aapp):
    assert layout.layout_problems(plots.pntk_figure(
        [papp.init_sweep, papp.trained_sweep], ["init", "after 200 GD steps"], papp.cost_rows)) == []
    assert layout.layout_problems(plots.active_figure(aapp.curves, aapp.check)) == []


def test_retrain_panel_clips_an_outlier_and_says_so(aapp):
    chk = aapp.check
    scores = chk.scores_pred.copy()
    scores[0] = 1e-23  # a candidate whose look-ahead change vanishes
    fig = plots.active_figure(aapp.curves, chk._replace(scores_pred=scores))
    ax = fig.axes[1]
    assert layout.layout_problems(fig) == []
    lo, hi = ax.get_ylim()
    assert hi / lo < 1e5, (lo, hi)  # the axis is not stretched over twenty decades
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("1 below" in t and "floor" in t for t in labels), labels
    assert active.final_accuracy(aapp.curves["random"])[1] <= aapp.final["random"]
