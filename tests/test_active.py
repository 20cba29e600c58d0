"""eNTK look-ahead active learning (issue 7)."""

import jax
import numpy as np
import pytest

from ntk_explore import active, scaling


def _spd(rng, n):
    a = rng.standard_normal((n, n + 3))
    return a @ a.T / n + 0.1 * np.eye(n)


@pytest.mark.parametrize("q", [1, 10])
def test_cholesky_append_equals_full_factorisation(q):
    rng = np.random.default_rng(q)
    K = _spd(rng, 30 + q)
    chol = np.linalg.cholesky(K[:30, :30])
    new = active.cholesky_append(chol, K[:30, 30:], K[30:, 30:])
    ref = np.linalg.cholesky(K)
    assert np.linalg.norm(new - ref) / np.linalg.norm(ref) < 1e-8


def test_cholesky_append_bad_shapes():
    with pytest.raises(ValueError):
        active.cholesky_append(np.eye(3), np.ones((4, 1)), np.ones((1, 1)))


def test_rank_one_lookahead_equals_full_resolve():
    rng = np.random.default_rng(0)
    m, P, E, k = 25, 6, 15, 3
    K = _spd(rng, m + P + E)
    L, C, Ev = np.arange(m), np.arange(m, m + P), np.arange(m + P, m + P + E)
    r_l, r_c = rng.standard_normal((m, k)), rng.standard_normal((P, k))
    la = active.lookahead_prepare(K[np.ix_(L, L)], r_l, jitter=0.0)
    delta = active.lookahead_delta(la, K[np.ix_(L, C)], np.diag(K)[C], K[np.ix_(Ev, L)],
                                   K[np.ix_(Ev, C)], r_c)
    base = active.lookahead_resolve(K[np.ix_(L, L)], r_l, K[np.ix_(Ev, L)])
    for j, c in enumerate(C):
        idx = np.append(L, c)
        full = active.lookahead_resolve(K[np.ix_(idx, idx)], np.vstack([r_l, r_c[j]]),
                                        K[np.ix_(Ev, idx)])
        got = base + delta[j]
        assert np.linalg.norm(got - full) / np.linalg.norm(full) < 1e-8


def test_lookahead_scores_match_resolve():
    rng = np.random.default_rng(1)
    N, k = 40, 4
    K = _spd(rng, N)
    f = rng.standard_normal((N, k))
    lab, cand, ev = np.arange(10), np.arange(10, 20), np.arange(20, 40)
    y = np.eye(k)[rng.integers(0, k, 10)] - 1 / k
    scores = active.lookahead_scores(K, lab, cand, ev, f, y, jitter=0.0)
    base = active.lookahead_resolve(K[np.ix_(lab, lab)], y - f[lab], K[np.ix_(ev, lab)])
    yc = active.pseudo_targets(f[cand], k)
    for j, c in enumerate(cand):
        idx = np.append(lab, c)
        r = np.vstack([y - f[lab], yc[j] - f[c]])
        full = active.lookahead_resolve(K[np.ix_(idx, idx)], r, K[np.ix_(ev, idx)])
        assert scores[j] == pytest.approx(np.mean(np.sum((full - base) ** 2, -1)), rel=1e-8)


@pytest.fixture(scope="module")
def task():
    return scaling.digits_task()


def test_acquisition_curves_notebook_defaults(task):
    for s in active.STRATEGIES:
        c = active.acquisition_curve(task, s, key=jax.random.key(0), rounds=2, steps=100)
        assert c.labels.tolist() == [20, 30, 40]
        assert c.accuracy.shape == (3,)
        # a fraction of the test digits, and above chance (0.1) by far more than its
        # binomial noise (sd <= sqrt(0.25 / 400) = 0.025) once 40 digits are labelled
        m = len(task.labels_test)
        np.testing.assert_allclose(c.accuracy * m, np.round(c.accuracy * m), atol=1e-9)
        assert c.accuracy[-1] > 0.1 + 5 * 0.5 / np.sqrt(m), (s, c.accuracy)
    with pytest.raises(ValueError):
        active.acquisition_curve(task, "oracle", key=jax.random.key(0))


def test_lookahead_tracks_retraining(task):
    rc = active.retrain_check(task, [3, 50, 200], key=jax.random.key(0), steps=200,
                              retrain_steps=200, n_eval=100)
    assert rc.predicted.shape == rc.actual.shape == (3, 100, 10)
    assert not set(rc.candidates) & set(rc.labelled)  # candidates come from the unlabelled pool
    # the notebook reads a median cosine above 0.8 and length ratios near 1
    assert np.all(np.isfinite(rc.cosine)) and np.all(rc.cosine > 0.8), rc.cosine
    assert np.all((rc.length_ratio > 0.5) & (rc.length_ratio < 2)), rc.length_ratio
    # the relative error follows from the cosine and the length ratio
    r = rc.length_ratio
    np.testing.assert_allclose(rc.rel_error, np.sqrt(1 + r**2 - 2 * r * rc.cosine), rtol=1e-8)


def test_retrain_check_refuses_a_labelled_candidate(task):
    with pytest.raises(ValueError, match="already labelled"):
        active.retrain_check(task, [3, 50], key=jax.random.key(0), labelled=np.arange(10))


def test_labelled_candidate_has_no_lookahead_change():
    """Why candidates must be unlabelled: a labelled point added again with its own residual
    changes nothing (kernel regression interpolates it already), while gradient descent on
    the duplicated point does change the net (the notebook's 1e-23 outlier)."""
    rng = np.random.default_rng(2)
    K = _spd(rng, 30)
    L, E = np.arange(10), np.arange(20, 30)
    r = rng.standard_normal((10, 2))
    la = active.lookahead_prepare(K[np.ix_(L, L)], r)
    delta = active.lookahead_delta(la, K[np.ix_(L, [3])], np.diag(K)[[3]], K[np.ix_(E, L)],
                                   K[np.ix_(E, [3])], r[[3]])
    fresh = active.lookahead_delta(la, K[np.ix_(L, [15])], np.diag(K)[[15]], K[np.ix_(E, L)],
                                   K[np.ix_(E, [15])], r[[3]])
    assert np.abs(delta).max() < 1e-6 * np.abs(fresh).max()


def test_final_accuracy_mean_and_range():
    runs = [active.AcquisitionCurve("random", np.array([20, 30]), np.array([0.5, a]))
            for a in (0.7, 0.8, 0.9)]
    assert active.final_accuracy(runs) == pytest.approx((0.8, 0.7, 0.9))


# ---------------------------------------------------------------- fast paths == slow paths

def _reference_curve(task, strategy, key, seed, per_round, rounds, width, steps):
    """The slow path through the public API: train() from the same init every round."""
    from ntk_explore.core.models import mlp
    from ntk_explore.core.training import train

    rng = np.random.default_rng(seed)
    N = task.x.shape[0]
    labelled = rng.choice(N, 20, replace=False)
    rng.choice(N, 300, replace=False)  # the eval points (unused by these strategies)
    model = mlp(64, width, 1, 10)
    p0 = model.init(key)
    apply = scaling.centered_apply(model, p0)
    accs = []
    for r in range(rounds + 1):
        p = train(apply, p0, task.x[labelled], task.y[labelled], lr=1.0, steps=steps,
                  progress=False).params
        accs.append(float(np.mean(np.asarray(apply(p, task.x_test)).argmax(1) == task.labels_test)))
        if r < rounds:
            left = np.setdiff1d(np.arange(N), labelled)
            if strategy == "random":
                new = rng.choice(left, per_round, replace=False)
            else:
                top2 = np.sort(np.asarray(apply(p, task.x))[left], axis=1)[:, -2:]
                new = left[np.argsort(top2[:, 1] - top2[:, 0])[:per_round]]
            labelled = np.concatenate([labelled, new])
    return np.array(accs)


@pytest.mark.parametrize("strategy", ["random", "uncertainty"])
def test_acquisition_curve_equals_slow_path(task, strategy):
    key = jax.random.key(3)
    got = active.acquisition_curve(task, strategy, key=key, seed=1, per_round=7, rounds=2,
                                   width=32, steps=40)
    ref = _reference_curve(task, strategy, key, 1, 7, 2, 32, 40)
    assert got.labels.tolist() == [20, 27, 34] and np.array_equal(got.accuracy, ref)


def test_net_fit_equals_train_and_caches(task):
    from ntk_explore.core.models import mlp
    from ntk_explore.core.training import train

    model = mlp(64, 32, 1, 10)
    net = active._Net(model, jax.random.key(5))
    apply = scaling.centered_apply(model, net.params0)
    idx = np.arange(10, 47)  # 37 points, padded to 64 rows
    p = net.fit(task, idx, task.y[idx], 1.0, 30)
    assert net.fit(task, idx, task.y[idx], 1.0, 30) is p  # cached
    warm = net.fit(task, idx[:-1], task.y[idx[:-1]], 1.0, 20, start=p)  # warm start, new data
    ref = train(apply, net.params0, task.x[idx], task.y[idx], lr=1.0, steps=30, progress=False)
    ref_warm = train(apply, ref.params, task.x[idx[:-1]], task.y[idx[:-1]], lr=1.0, steps=20,
                     progress=False)
    for a, b in ((p, ref.params), (warm, ref_warm.params)):
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert np.allclose(u, v, rtol=1e-9, atol=1e-12)
    assert np.allclose(net.outputs(p, task.x[:5]), apply(ref.params, task.x[:5]), atol=1e-12)


def test_precompile_then_curve_is_unchanged(task):
    key = jax.random.key(4)
    ref = active.acquisition_curve(task, "uncertainty", key=key, per_round=5, rounds=1,
                                   width=24, steps=20)
    active.precompile(task, [24, 40], key=key, sizes=[20, 25, 70])
    got = active.acquisition_curve(task, "uncertainty", key=key, per_round=5, rounds=1,
                                   width=24, steps=20)
    assert np.array_equal(got.accuracy, ref.accuracy) and got.labels.tolist() == [20, 25]
