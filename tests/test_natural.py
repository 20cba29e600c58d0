"""Real digits, both halves (notebook 07): the split, early-stopped training of the centred
nets, kernel ridge, paired slope differences, the run's bookkeeping and its verdicts."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore.core import metrics as km
from ntk_explore.core.kernels import empirical_ntk, infinite_kernel_fn
from ntk_explore.core.linearized import mse_dynamics
from ntk_explore.core.training import gd_segment
from ntk_explore.topics import natural as N

TINY = dict(seeds=2, sizes=(20, 40, 80), width=16, steps=50, every=10, patience=3,
            learners=("rich", "lazy", "entk", "ntk", "after"))


def test_split_is_a_partition_and_depends_on_the_seed():
    a, b = N.digits_split(0), N.digits_split(1)
    assert (a.pool.size, a.val.size, a.test.size) == (1200, 100, 497)
    assert np.array_equal(np.sort(np.concatenate([a.pool, a.val, a.test])), np.arange(1797))
    assert not np.array_equal(a.pool, b.pool)
    assert np.array_equal(N.digits_split(0).pool, a.pool)
    assert np.allclose(a.y.sum(1), 0.0, atol=1e-6) and np.array_equal(a.y.argmax(1), a.labels)
    assert np.array_equal(a.rows(5), np.concatenate([a.pool[:5], a.val, a.test]))


@pytest.mark.parametrize("bad, err", [
    (dict(sizes=(10, 20)), ValueError), (dict(sizes=(10, 20, 5000)), ValueError),
    (dict(learners=("rich", "svm")), ValueError), (dict(learners=("after",)), ValueError),
    (dict(seeds=1), ValueError), (dict(lr=0.0), ValueError), (dict(wdth=3), TypeError)])
def test_settings_refuse_bad_values(bad, err):
    with pytest.raises(err):
        N.Settings(**bad)


def test_settings_defaults_and_output_scales():
    s = N.Settings()
    assert s.sizes == N.log_sizes(50, 1200, 7) and len(s.sizes) == 7 and s.seeds == 3
    assert s.rich_gamma == pytest.approx(16.0) and s.cnn_output_scale == pytest.approx(4.0)
    assert N.Settings(gamma=3.0).rich_gamma == 3.0


def test_centred_output_starts_at_zero_and_scores_the_zero_predictor():
    split = N.digits_split(0)
    model = N.mlp_net(16, 2, gamma=2.0)
    p0 = model.init(jax.random.key(0))
    never = N.train_early_stopped(model, p0, split.x[split.pool[:30]], split.y[split.pool[:30]],
                                  split.x[split.val], split.y[split.val], lr=1e9, steps=20, every=10)
    assert never.step == 0 and never.params is p0  # diverged at once: the init is kept
    mse, err = N._net_errors(model, never, p0, split)
    assert mse == pytest.approx(0.45, rel=1e-6)  # ||onehot - 0.1||^2 / 2 = 0.9 / 2
    assert err == pytest.approx(np.mean(split.labels[split.test] != 0))  # argmax of zeros is 0


def test_early_stopping_keeps_the_best_validation_point():
    split = N.digits_split(0)
    model = N.mlp_net(16, 2)
    p0 = model.init(jax.random.key(0))
    x, y, xv, yv = (split.x[split.pool[:40]], split.y[split.pool[:40]], split.x[split.val],
                    split.y[split.val])
    tr = N.train_early_stopped(model, p0, x, y, xv, yv, lr=0.5, steps=60, every=20, patience=5)
    assert tr.ran == 60 and tr.step in (20, 40, 60) and tr.val_loss < 0.45
    p = gd_segment(model, p0, jnp.asarray(x), jnp.asarray(y) + model.apply(p0, jnp.asarray(x)),
                   0.5, tr.step)
    np.testing.assert_allclose(jax.tree.leaves(p)[0], jax.tree.leaves(tr.params)[0], rtol=1e-6)


def _lin_gap(gamma, width=512, steps=40, lr=1.0):
    """Relative distance of the centred MLP at output scale 1/gamma after ``steps`` GD steps
    (rate ``lr gamma^2``) from its linearization (closed form with the full eNTK)."""
    split = N.digits_split(0)
    x, y = jnp.asarray(split.x[split.pool[:12]], jnp.float64), jnp.asarray(split.y[split.pool[:12]])
    model = N.mlp_net(width, 2, gamma=gamma)
    p0 = model.init(jax.random.key(1))
    f0 = model.apply(p0, x)
    p = gd_segment(model, p0, x, y + f0, lr * gamma**2, steps)
    f = np.asarray(model.apply(p, x) - f0)
    k = np.asarray(empirical_ntk(N.mlp_net(width, 2).apply, batch_size=None)(x, None, p0))
    lin = mse_dynamics(k, np.asarray(y), np.zeros_like(f), steps=[steps], lr=lr).train[0]
    return np.linalg.norm(f - lin) / np.linalg.norm(lin)


def test_gamma_one_and_the_lazy_limit_agree_with_the_linearized_model():
    one, small, tiny, rich = (_lin_gap(g) for g in (1.0, 0.1, 0.01, 16.0))
    assert one < 0.05 and tiny < 1e-3 and tiny < small < one < rich, (one, small, tiny, rich)


def test_kernel_learner_is_ridge_on_validation():
    split = N.digits_split(0)
    x = split.x
    k = x[split.rows(30)] @ x[split.pool[:30]].T + 1.0
    got = N.kernel_learner(k, split, 30)
    fit = km.ridge_on_validation(k[:30], split.y[split.pool[:30]], k[30:130], split.y[split.val],
                                 k[130:])
    assert got[0] == pytest.approx(km.test_loss(fit.predictions[0], split.y[split.test]))
    assert got[1] == pytest.approx(np.mean(fit.predictions[0].argmax(1) != split.labels[split.test]))


def test_per_seed_difference_is_the_mean_of_per_seed_slopes_with_a_t_interval():
    ns = np.array([50.0, 100.0, 200.0, 400.0])
    rng = np.random.default_rng(0)
    a = ns**-0.7 * np.exp(0.05 * rng.standard_normal((4, 4)))
    b = ns**-0.5 * np.exp(0.05 * rng.standard_normal((4, 4)))
    p = N.per_seed_difference(ns, a, b, "a", "b")
    slopes = [np.polyfit(np.log(ns), np.log(ra) - np.log(rb), 1)[0] for ra, rb in zip(a, b)]
    assert p.mean == pytest.approx(np.mean(slopes)) and p.per_seed == pytest.approx(slopes)
    half = 3.182446305284263 * np.std(slopes, ddof=1) / 2.0  # t_{0.975, 3}
    assert p.ci95 == pytest.approx((p.mean - half, p.mean + half))
    # the pooled paired fit of the metrics module has the same centre (minus: alpha vs slope)
    assert -km.exponent_difference(ns, a, b).alpha == pytest.approx(p.mean)
    with pytest.raises(ValueError):
        N.per_seed_difference(ns, a[:1], b[:1])


@pytest.fixture(scope="module")
def tiny():
    return N.digits_scaling(**TINY)


def test_run_shapes_and_bookkeeping(tiny):
    assert tiny.ns.tolist() == [20, 40, 80]
    for name in TINY["learners"]:
        assert tiny.mse[name].shape == (2, 3) and np.all(tiny.mse[name] > 0)
        assert np.all((tiny.err[name] >= 0) & (tiny.err[name] <= 1))
    assert set(tiny.stopped) == {"rich", "lazy"} and tiny.stopped["rich"].max() <= 50
    back = N.DigitsCurves.from_dict(json.loads(json.dumps(tiny.to_dict())))
    assert back.settings == tiny.settings and np.array_equal(back.mse["ntk"], tiny.mse["ntk"])
    e = tiny.exponent("rich")
    assert e.alpha == pytest.approx(-tiny.slope("rich")[0])  # pooled = mean per-seed slope


def test_mlp_at_gamma_reproduces_the_runs_nets(tiny):
    s = tiny.settings
    for gamma, name in ((s.rich_gamma, "rich"), (1.0, "lazy")):
        mse, err, stop = N.mlp_at_gamma(s, gamma)
        assert np.array_equal(mse, tiny.mse[name]) and np.array_equal(stop, tiny.stopped[name])


def test_fixed_ntk_is_the_infinite_width_ntk(tiny):
    k = N.fixed_kernels(tiny.settings)["ntk"]
    x = N.digits_split(0).x[:7]
    ref = infinite_kernel_fn(N.mlp_net(16, 2))(jnp.asarray(x), jnp.asarray(x)).ntk
    np.testing.assert_allclose(k[:7, :7], ref, rtol=1e-5)


def test_verdicts_use_the_claims_and_the_paired_intervals(tiny):
    vs = N.verdicts(tiny)
    assert [v.key for v in vs] == ["data_scaling_digits", "rich_vs_lazy_digits",
                                   "lazy_control_digits"]
    p = tiny.paired("rich", "ntk")
    assert vs[0].measured == pytest.approx(-p.mean)
    assert vs[0].interval == pytest.approx((-p.ci95[1], -p.ci95[0]))
    assert all(math.isfinite(v.measured) for v in vs)


def test_cnn_verdict_reads_the_largest_size():
    ns = np.array([10, 20, 40])
    mse = {"cnn": np.array([[0.3, 0.2, 0.12], [0.31, 0.2, 0.1]]),
           "cntk": np.array([[0.2, 0.1, 0.06], [0.2, 0.1, 0.05]])}
    err = {k: v / 3 for k, v in mse.items()}
    c = N.DigitsCurves(ns, mse, err, {}, {}, N.Settings(seeds=2, sizes=(10, 20, 40)))
    v = N.cnn_vs_cntk_verdict(c)
    assert v.key == "cntk_small_data" and v.measured == pytest.approx(np.log(2.0))
    assert v.status == "holds"


def test_tour_judges_the_digits_claim_with_notebook_07s_verdict_function(monkeypatch):
    """The tour's data-scaling verdict is natural.rich_vs_ntk_verdict (what notebook 07's
    summary prints) on digits_scaling at natural.TOUR: the same function on the same curves
    gives the same verdict, and the tour asks for exactly that setting."""
    from ntk_explore import tour

    seen = {}
    real = N.digits_scaling

    def spy(**kw):
        seen.update(kw)
        seen["curves"] = real(**kw)
        return seen["curves"]

    monkeypatch.setattr(N, "digits_scaling", spy)
    v = tour.data_scaling_verdict()
    assert {k: seen[k] for k in N.TOUR} == N.TOUR
    assert v == N.rich_vs_ntk_verdict(seen["curves"])
    assert v.key == "data_scaling_digits" and v.notebook.startswith("07")
