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
        assert c.accuracy.shape == (3,) and np.all((0 <= c.accuracy) & (c.accuracy <= 1))
    with pytest.raises(ValueError):
        active.acquisition_curve(task, "oracle", key=jax.random.key(0))


def test_lookahead_tracks_retraining(task):
    rc = active.retrain_check(task, [3, 50, 200], key=jax.random.key(0), steps=200,
                              retrain_steps=200, n_eval=100)
    assert rc.predicted.shape == rc.actual.shape == (3, 100, 10)
    assert np.all(np.isfinite(rc.cosine)) and np.all(rc.cosine > 0.5), rc.cosine
