"""Transfer through a fixed kernel: task construction, then the sign-flip claims at the notebook defaults."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore import transfer as T


def test_tasks_shapes_and_overlap(key):
    tasks = T.transfer_tasks(key, d=5, n_source=40, n_target=16, n_test=4000, overlap=0.6)
    assert tasks.x_source.shape == (40, 5) and tasks.y_source.shape == (40, 1)
    assert tasks.x_target.shape == (16, 5) and tasks.y_target.shape == (16, 1)
    assert tasks.x_test.shape == (4000, 5) and tasks.y_test_source.shape == (4000, 1)
    a, b = np.asarray(tasks.y_test_source[:, 0]), np.asarray(tasks.y_test[:, 0])
    # unit-variance Hermite targets: E[y_A y_B] = overlap; Monte Carlo band ~ 6 sd / sqrt(T)
    assert abs(np.mean(a * b) - 0.6) < 6 * np.std(a * b) / np.sqrt(a.size)


def test_bad_input(key):
    with pytest.raises(ValueError, match="overlap"):
        T.transfer_tasks(key, overlap=1.5)
    with pytest.raises(ValueError, match="sizes"):
        T.transfer_experiment(key=key, sizes=(8, 500), n_target=64)
    with pytest.raises(ValueError, match="head"):
        T.transfer_experiment(key=key, head="random")
    with pytest.raises(ValueError, match="same shape"):
        T.relative_error(np.zeros((3, 1)), np.zeros((3,)))
    assert T.relative_error(np.zeros((3, 1)), np.ones((3, 1))) == 1.0


@pytest.fixture(scope="module")
def result():
    return T.transfer_experiment(key=jax.random.key(0), dtype=jnp.float32)


def test_pretraining_learns_the_source_task(result):
    assert np.all(result.source_error < 0.3), result.source_error


def test_linearized_at_init_transfer_flips_sign_with_the_target(result):
    """(3) vs the same linear model trained on B alone: helps for B, hurts for -B."""
    plus = result.effect("lin_init_from_A", "lin_init", 1).mean(0)
    minus = result.effect("lin_init_from_A", "lin_init", -1).mean(0)
    assert np.all(plus > 0), plus
    assert np.all(minus < 0), minus


@pytest.fixture(scope="module")
def sign_flip():
    return T.sign_flip_run()


def test_sign_flip_verdict_holds_with_its_seeds(sign_flip):
    v = T.transfer_sign_verdict(sign_flip)
    assert v.key == "transfer_sign" and v.status == "holds", v.summary
    assert v.interval[1] < 0 and f"{T.SIGN_FLIP['seeds']} seeds" in v.interval_what
    _, plus_lo, _ = T.mean_interval(sign_flip.effect(*T.LINEAR_AT_INIT, 1))
    assert np.all(plus_lo > 0), plus_lo  # +B: helped at every size, with 95% confidence


def test_linear_learners_alone_equal_the_full_experiment(result, sign_flip):
    """Scoring only the linear learners skips pretraining but changes none of their numbers:
    seed s of the sign-flip run is seed s of the notebook's full experiment."""
    assert sign_flip.learners == T.LINEAR_AT_INIT and np.all(np.isnan(sign_flip.source_error))
    for name in T.LINEAR_AT_INIT:
        for sign in (1, -1):
            full = result.errors[:, result.signs.index(sign), result.learners.index(name)]
            part = sign_flip.errors[:2, sign_flip.signs.index(sign), sign_flip.learners.index(name)]
            np.testing.assert_allclose(part, full, rtol=1e-5)


def test_tour_transfer_verdict_is_the_notebooks(sign_flip):
    from ntk_explore import tour

    assert tour.transfer_verdict() == T.transfer_sign_verdict(sign_flip)


def test_mean_interval_and_bad_learners(key):
    mean, lo, hi = T.mean_interval([[1.0, 2.0], [3.0, 2.0]])
    np.testing.assert_allclose(mean, [2.0, 2.0])
    assert lo[0] < 2.0 < hi[0] and lo[1] == hi[1] == 2.0
    with pytest.raises(ValueError, match="seeds >= 2"):
        T.mean_interval([[1.0, 2.0]])
    with pytest.raises(ValueError, match="learners"):
        T.transfer_experiment(key=key, learners=("lin_init", "ridge"))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        T.transfer_sign_verdict(T.TransferResult(np.array([4, 8]), (1, -1), T.LINEAR_AT_INIT,
                                                 np.ones((1, 2, 2, 2)), np.full(1, np.nan)))


def test_feature_transfer_keeps_its_benefit_under_the_flip(result):
    """(2) fine-tuning and (4) the pretrained eNTK beat learning from scratch for both signs,
    and with a fresh (zero) head their error does not depend on the sign at all."""
    for sign in (1, -1):
        assert result.effect("finetune", "scratch", sign).mean() > 0
        assert result.effect("lin_pretrained", "lin_init", sign).mean() > 0
    for learner in ("finetune", "lin_pretrained"):
        np.testing.assert_allclose(result.curve(learner, 1), result.curve(learner, -1), rtol=1e-4)


def test_figure_passes_the_layout_check_at_every_m(result):
    from ntk_explore.plots.layout import layout_problems
    from ntk_explore.plots.transfer import TransferFigure

    fig = TransferFigure(result)
    for m in result.sizes:
        fig.update(int(m))
        fig.render()
        assert layout_problems(fig.figure) == [], m
