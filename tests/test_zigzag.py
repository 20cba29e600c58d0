"""Learning paths, filtered targets, the one-step eNTK decomposition and the verdicts."""

import jax
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ntk_explore import zigzag as Z

SEEDS = range(5)
TEACHER_EPOCHS = 200  # memorization came at epochs 89-147 in the seeds we looked at


@pytest.fixture(scope="module")
def runs():
    """Toy, teacher run and key for distillation, for each seed at the defaults: the
    first five of the verdicts' ten tasks and teachers."""
    model = Z.toy_model()
    return model, [tuple(r) for r in Z.teacher_runs(0, len(SEEDS), epochs=TEACHER_EPOCHS)]


# ---------------------------------------------------------------------------
# one-step decomposition


def test_one_step_decomposition_is_second_order_in_eta():
    k_toy, k_init = jax.random.split(jax.random.key(3))
    toy = Z.make_toy(k_toy, n_train=48, n_test=16)
    model = Z.toy_model()
    etas = 1e-2 * 0.5 ** np.arange(7)  # six halvings within [1e-4, 1e-2]
    sweep = Z.eta_sweep(model, model.init(k_init), toy.x, toy.onehot, toy.x_test, etas)
    ratios = sweep.residual[:-1] / sweep.residual[1:]
    assert np.all((ratios >= 3.5) & (ratios <= 4.5)), ratios
    assert np.all(sweep.cosine > 0.999), sweep.cosine


def test_one_step_summands_add_up_and_a_matrix_rows_sum_to_zero():
    k_toy, k_init = jax.random.split(jax.random.key(4))
    toy = Z.make_toy(k_toy, n_train=8, n_test=4)
    model = Z.toy_model(width=32)
    s = Z.one_step_decomposition(model, model.init(k_init), toy.x, toy.pstar, toy.x_test, 1e-3)
    assert s.per_point.shape == (4, 8, 3)
    np.testing.assert_allclose(s.per_point.sum(1), s.predicted, rtol=1e-12)
    # A_t = diag(q) - q q^T has zero row sums, so every predicted change keeps sum(q) = 1
    np.testing.assert_allclose(s.predicted.sum(-1), 0.0, atol=1e-15)


# ---------------------------------------------------------------------------
# filtered targets, zig-zags, students


def test_teacher_memorizes_in_every_seed(runs):
    _, seeds = runs
    for _toy, run, _ in seeds:
        assert run.memorized_at is not None
        assert run.train_acc[run.memorized_at] == 1.0
        assert np.all(run.train_acc[:run.memorized_at] < 1.0)


def test_filtered_targets_closer_to_pstar_than_teacher_and_labels(runs):
    _, seeds = runs
    for toy, run, _ in seeds:
        t = Z.distill_targets(toy, run)  # teacher stopped at memorization
        filt = Z.distance_to_pstar(t.filtered, toy.pstar)
        assert filt <= 0.9 * Z.distance_to_pstar(t.teacher, toy.pstar)
        assert filt <= 0.75 * Z.distance_to_pstar(t.onehot, toy.pstar)


def test_mislabelled_points_zigzag_more_than_easy_points(runs):
    _, seeds = runs
    for toy, run, _ in seeds:
        kinds = Z.point_kinds(toy)
        score = Z.zigzag_score(run.paths[:run.memorized_at + 1])
        assert Z.auc(score[kinds == "mislabelled"], score[kinds == "easy"]) >= 0.85


def test_student_on_filtered_targets_is_better_calibrated(runs):
    model, seeds = runs
    for toy, run, key in seeds:
        k_onehot = Z.train_student(toy, model, toy.onehot, key)
        k_filtered = Z.train_student(toy, model, Z.distill_targets(toy, run).filtered, key)
        assert k_filtered.ece < k_onehot.ece


# ---------------------------------------------------------------------------
# small pieces against independent routes


def test_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 40), rng.normal(0, 1, 60)
    expect = roc_auc_score(np.r_[np.ones(40), np.zeros(60)], np.r_[pos, neg])
    assert Z.auc(pos, neg) == pytest.approx(expect, abs=1e-12)


def test_ema_is_a_weighted_average_and_zigzag_vanishes_on_straight_paths():
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(3), size=(1, 5))
    const = np.repeat(q, 7, axis=0)  # (7, 5, 3), a path that never moves
    np.testing.assert_allclose(Z.ema_targets(const, 0.9), q[0], rtol=1e-12)
    paths = rng.dirichlet(np.ones(3), size=(6, 5))
    np.testing.assert_allclose(Z.ema_targets(paths, 0.0), paths[-1])
    lam = np.linspace(0, 1, 9)[:, None, None]
    straight = (1 - lam) * q + lam * np.eye(3)[None, :1, :]
    np.testing.assert_allclose(Z.zigzag_score(straight), 0.0, atol=1e-12)


def test_ece_of_calibrated_predictions_is_small():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), size=20000)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    assert Z.expected_calibration_error(p, y) < 0.02
    assert Z.expected_calibration_error(np.eye(3)[(y + 1) % 3], y) == pytest.approx(1.0)


def test_pstar_is_the_bayes_posterior():
    toy = Z.make_toy(jax.random.key(5), n_train=20, n_test=5, noise=2.0)
    x = toy.x * np.sqrt(2.0 + 2.0 / 3.0)  # undo the input scaling
    logp = -0.5 * ((x[:, None, :] - toy.mu[None]) ** 2).sum(-1) / 2.0
    expect = np.exp(logp - logp.max(1, keepdims=True))
    np.testing.assert_allclose(toy.pstar, expect / expect.sum(1, keepdims=True), rtol=1e-10)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="noise"):
        Z.make_toy(jax.random.key(0), noise=0.0)
    with pytest.raises(ValueError, match="rate"):
        Z.ema_targets(np.ones((3, 2, 3)) / 3, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        Z.distance_to_pstar(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="positive"):
        Z.auc(np.array([]), np.array([1.0]))


# ---------------------------------------------------------------------------
# verdicts (notebook 05 and the tour call these functions)


@pytest.fixture(scope="module")
def verdict_runs():
    return Z.teacher_runs()  # the ten tasks and teachers behind distillation_verdict()


def test_teacher_runs_use_the_seed_keys(runs, verdict_runs):
    _, seeds = runs
    assert len(verdict_runs) == Z.VERDICT_SEEDS == 10
    for (toy, run, key), r in zip(seeds, verdict_runs):
        np.testing.assert_array_equal(toy.x, r.toy.x)
        np.testing.assert_array_equal(run.paths, r.run.paths)
        assert jax.random.key_data(key).tolist() == jax.random.key_data(r.student_key).tolist()


def test_distillation_verdict_over_ten_teachers(verdict_runs):
    v = Z.distillation_verdict(runs=verdict_runs)
    assert v.key == "filtered_distillation" and v.status == "holds", v.summary
    ratios = Z.target_ratios(verdict_runs)
    per = ratios[2] / ratios[1]
    assert v.measured == pytest.approx(per.mean(), rel=1e-12)
    assert v.interval[0] < per.mean() < v.interval[1] < 1.0
    assert np.sum(per < 0.9) >= 8, per  # most tasks gain at least 10%
    # the tour's call trains the same ten teachers and gets the same verdict
    from ntk_explore import tour
    assert tour.distillation_verdict() == v


def test_zigzag_verdict(verdict_runs):
    v = Z.zigzag_verdict(verdict_runs)
    assert v.status == "holds" and v.interval[0] >= 0.8, v.summary


def test_verdicts_without_memorization_do_not_hold():
    short = Z.teacher_runs(0, 2, epochs=3)
    for v in (Z.distillation_verdict(runs=short), Z.zigzag_verdict(short)):
        assert v.status == "does not hold", v.detail


def test_one_step_verdict_slope_two():
    k_toy, k_init = jax.random.split(jax.random.key(3))
    toy = Z.make_toy(k_toy, n_train=48, n_test=16)
    model = Z.toy_model()
    sweep = Z.eta_sweep(model, model.init(k_init), toy.x, toy.onehot, toy.x_test,
                        1e-2 * 0.5 ** np.arange(7))
    v = Z.one_step_verdict(sweep)
    assert v.status == "holds" and abs(v.measured - 2) < 0.05, v.summary
