"""The paper's table: closed-form kernels against finite nets and the public formulas."""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore import ntk_table as T
from ntk_explore.core.kernels import infinite_kernel_fn, mlp_ntk

D = 15


def _inputs(n, seed=0):
    x = np.random.default_rng(seed).uniform(-5.0, 7.0, size=(n, D))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# corrected form == Monte Carlo of the matching finite net


MC_X = _inputs(4, seed=1)
MC_SEEDS, MC_WIDTH = 8, 4096


@functools.cache
def _mc_estimates(method):
    """Per-seed NNGP (conditioned on the hidden layer) and eNTK of the matching net.

    ``MC_SEEDS`` independent nets of width ``MC_WIDTH`` on the inputs ``MC_X``;
    returns two ``(seeds, 4, 4)`` arrays.
    """
    net = T.matching_net(method, MC_WIDTH, D)
    xj = jnp.asarray(MC_X)
    nngp, ntk = [], []
    key = jax.random.fold_in(jax.random.key(20261123), T.KERNEL_METHODS.index(method))
    for k in jax.random.split(key, MC_SEEDS):
        params = net.init(k)
        _, xs, _ = net.features(params, xj)
        last = net.layers()[-1]
        phi = np.asarray(xs[-1])
        # E over read-out weights: b_var + w_var * mean_j relu(h_j) relu(h_j')
        nngp.append(last.b_mult**2 * last.b_std**2 * net.bias
                    + last.w_mult**2 * last.w_std**2 * phi @ phi.T)
        ntk.append(np.asarray(mlp_ntk(net)(xj, None, params))[:, :, 0, 0])
    return np.array(nngp), np.array(ntk)


def _z_scores(samples, target):
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / math.sqrt(samples.shape[0])
    iu = np.triu_indices(target.shape[0])
    return np.abs(mean - target)[iu] / se[iu]


@pytest.mark.parametrize("nets", [("GP1", "NTKB1"), ("GP2", "NTKB2"), ("NTKA1",), ("NTKA2",),
                                  ("NTKJ1",), ("NTKJ2",)])
def test_corrected_kernels_match_monte_carlo_of_finite_net(nets):
    nngp, ntk = _mc_estimates(nets[-1])
    for method in nets:
        samples = nngp if method.startswith("GP") else ntk
        z = _z_scores(samples, T.table_kernel(method, MC_X, form="corrected"))
        # 10 entries, t with 7 dof: P(|t| > 5) ~ 2e-3 per entry.
        assert z.max() < 5.0, f"{method}: MC disagrees, z = {np.round(z, 2)}"


@pytest.mark.parametrize("method", ["GP2", "NTKB2"])
def test_as_coded_form_is_not_the_finite_nets_kernel(method):
    """The Monte Carlo test above has the power to see the normalisation quirk."""
    nngp, ntk = _mc_estimates("NTKB2")
    samples = nngp if method.startswith("GP") else ntk
    assert _z_scores(samples, T.table_kernel(method, MC_X, form="as-coded")).max() > 20


def test_ntkj1_is_the_paper_nets_infinite_ntk():
    """Independent route: neural-tangents stax for the NN1 Keras net."""
    x = _inputs(6, seed=2)
    stax = infinite_kernel_fn(T.table_net_model(1, 512, D))(jnp.asarray(x))
    np.testing.assert_allclose(T.table_kernel("NTKJ1", x), np.asarray(stax.ntk), rtol=1e-9)


# ---------------------------------------------------------------------------
# as-coded form == the public code's formulas, re-derived pair by pair


def _pair_terms(kx, ky, kxy):
    """Angle as in the public code (k(x,y) / (k(x,x) k(y,y))), then H and H'."""
    c = kxy / (kx * ky)
    t = 0.0 if abs(c) > 1 else math.acos(c)
    h = math.sqrt(kx * ky) / (2 * math.pi) * (math.sin(t) + (math.pi - t) * c)
    return h, (math.pi - t) / (2 * math.pi), t, c


def _public_formula(method, x, y, c1=2.0, c2=2.0, cs=2.0):
    dot, xx, yy = float(x @ y), float(x @ x), float(y @ y)
    if method == "Laplacian":
        return 2 * math.exp(-math.sqrt(float((x - y) @ (x - y))) / 6)
    if method.startswith("NTKA"):
        h1, hd1, t0, c0 = _pair_terms(xx, yy, dot)
        if method == "NTKA1":
            return cs * dot * hd1 + cs * h1
        k1x, k1y = cs * xx / 2, cs * yy / 2
        k1xy = cs * math.sqrt(xx * yy) / (2 * math.pi) * (math.sin(t0) + (math.pi - t0) * c0)
        h2, hd2, _, _ = _pair_terms(k1x, k1y, k1xy)
        return cs**2 * dot * hd1 * hd2 + cs**2 * h1 * hd2 + cs * h2
    k0x, k0y, k0xy = 1 + xx / D, 1 + yy / D, 1 + dot / D
    h1, hd1, _, _ = _pair_terms(k0x, k0y, k0xy)
    k1x, k1y, k1xy = 1 + c1 * k0x / 2, 1 + c1 * k0y / 2, 1 + c1 * h1
    h2, hd2, _, _ = _pair_terms(k1x, k1y, k1xy)
    j1 = k0xy * hd1 + h1 + 1
    return {
        "GP1": 1 + c1 * h1,
        "GP2": 1 + c2 * h2,
        "NTKJ1": j1,
        "NTKJ2": j1 * hd2 + h2 + 1,
        "NTKB1": 1 + c1 * h1 + c1 * hd1 + c1 * hd1 * dot,
        "NTKB2": (1 + c2 * hd2 + c1 * c2 * hd2 * hd1 + c1 * c2 * dot * hd2 * hd1
                  + c1 * c2 * hd2 * h1 + c2 * h2),
    }[method]


@pytest.mark.parametrize("method", T.KERNEL_METHODS)
def test_as_coded_form_reproduces_public_formulas(method):
    x, y = _inputs(5, seed=3), _inputs(4, seed=4)
    expect = np.array([[_public_formula(method, a, b) for b in y] for a in x])
    np.testing.assert_allclose(T.table_kernel(method, x, y, form="as-coded"), expect,
                               rtol=1e-12)
    # On the diagonal the angle is arccos(1 - O(eps)) = O(sqrt(eps)) ~ 1e-8: two
    # roundings of x.x differ there by up to sqrt(8 eps) / (2 pi) ~ 1e-8 relative.
    diag = np.array([_public_formula(method, a, a) for a in x])
    np.testing.assert_allclose(np.diag(T.table_kernel(method, x, form="as-coded")), diag,
                               rtol=1e-7)


def test_quirk_leaves_ntka_unchanged_and_changes_the_rest():
    x = _inputs(6, seed=5)
    for method in T.KERNEL_METHODS:
        a = T.table_kernel(method, x, form="as-coded")
        c = T.table_kernel(method, x, form="corrected")
        # rtol 1e-7: on the diagonal arccos(1 - O(eps)) is only sqrt(eps)-accurate
        # (see above); the quirk itself changes the other kernels by percents.
        same = np.allclose(a, c, rtol=1e-7, atol=0)
        assert same == (method.startswith("NTKA") or method == "Laplacian"), method


def test_kernels_are_symmetric_positive_semidefinite():
    x = _inputs(40, seed=6)
    for form in T.FORMS:
        for method in T.KERNEL_METHODS:
            k = T.table_kernel(method, x, form=form)
            np.testing.assert_allclose(k, k.T, rtol=1e-13)
            assert np.linalg.eigvalsh(k)[0] > -1e-9 * np.trace(k), (method, form)


# ---------------------------------------------------------------------------
# data, trials, nets


def test_simulated_trial_shapes_and_unit_rows():
    d = T.simulate_trial(np.random.default_rng(0), n=100)
    assert d.x_train.shape == (67, D) and d.x_test.shape == (33, D)
    assert d.y_train.shape == (67,) and d.y_test.shape == (33,)
    np.testing.assert_allclose(np.linalg.norm(d.x_train, axis=1), 1.0, rtol=1e-12)
    d2 = T.simulate_trial(np.random.default_rng(0), n=100)
    np.testing.assert_array_equal(d.y_test, d2.y_test)


def test_targets_have_ntkb1_covariance():
    """Whitening by the NTKB1 Cholesky factor gives unit-variance targets."""
    rng = np.random.default_rng(1)
    z = []
    for _ in range(20):
        d = T.simulate_trial(rng, n=60, form="as-coded")
        x = np.concatenate([d.x_train, d.x_test])
        y = np.concatenate([d.y_train, d.y_test])
        z.append(np.linalg.solve(np.linalg.cholesky(T.table_kernel("NTKB1", x, form="as-coded")),
                                 y))
    z = np.concatenate(z)  # 1200 values, N(0, 1) if the covariance is right
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / z.size)


def test_bad_input_is_rejected():
    x = _inputs(3)
    with pytest.raises(ValueError, match="unknown form"):
        T.table_kernel("GP1", x, form="sqrt")
    with pytest.raises(ValueError, match="unknown kernel method"):
        T.table_kernel("NTKC1", x)
    with pytest.raises(ValueError, match="n must be"):
        T.simulate_trial(np.random.default_rng(0), n=5)
    with pytest.raises(ValueError, match="unknown kernel methods"):
        T.run_table(1, methods=("NN1",))
    with pytest.raises(ValueError, match="depth"):
        T.train_table_net(T.simulate_trial(np.random.default_rng(0), n=20), 3, T.NetConfig(),
                          key=jax.random.key(0))


def test_small_table_true_kernel_beats_arora_and_laplacian():
    res = T.run_table(3, n=300, form="as-coded", seed=11342)
    assert set(res.rmse) == set(T.KERNEL_METHODS)
    for m, mean, se in res.rows():
        assert np.isfinite(mean) and mean > 0 and se > 0, m
    assert res.mean("NTKB1") < res.mean("NTKA1") < res.mean("Laplacian")
    # GP1 and NTKB1 tie (the paper's point). Measured on these 3 trials: means 0.1083 and
    # 0.1059, paired differences -0.0014, +0.0028, +0.0057 (standard error of their mean
    # 0.0021, 2% of NTKB1): a 5% band is 2.5 standard errors; the old 10% band was 5.
    assert abs(res.mean("GP1") - res.mean("NTKB1")) < 0.05 * res.mean("NTKB1")


def test_table_nets_train_and_score(key):
    data = T.simulate_trial(np.random.default_rng(2), n=120, form="as-coded")
    cfg = T.NetConfig(width=128, epochs=20, batch_size=8)
    for depth in (1, 2):
        fit = T.train_table_net(data, depth, cfg, key=jax.random.fold_in(key, depth))
        assert np.isfinite(fit.rmse) and fit.pred.shape == data.y_test.shape
        assert fit.loss[-1] < fit.loss[0]


def test_resumable_table_net_equals_fresh_training(key):
    """TableNetRun (the app's cached, resumable path) against train_table_net from scratch."""
    data = T.simulate_trial(np.random.default_rng(3), n=100, form="as-coded")
    for depth, cfg in ((1, T.NetConfig(width=64, lr=0.01, batch_size=8)),
                       (2, T.NetConfig(width=64, lr=0.01, batch_size=None, holdout=0.0))):
        k = jax.random.fold_in(key, depth)
        run = T.TableNetRun(data, depth, cfg, key=k, every=5)
        for epochs in (10, 25, 5, 40, 12):  # forward, back (recorded), on, between records
            fresh = T.train_table_net(data, depth, dataclasses.replace(cfg, epochs=epochs,
                                                                         epochs2=epochs), key=k)
            assert run.rmse(epochs) == pytest.approx(fresh.rmse, rel=1e-5), (depth, epochs)
        assert run.epochs_trained == 40


def test_resumable_table_net_reports_divergence(key):
    data = T.simulate_trial(np.random.default_rng(3), n=100, form="as-coded")
    cfg = T.NetConfig(width=64, lr=50.0, batch_size=8)
    run = T.TableNetRun(data, 1, cfg, key=key)
    fresh = T.train_table_net(data, 1, dataclasses.replace(cfg, epochs=10), key=key)
    assert np.isnan(fresh.rmse) and np.isnan(run.rmse(10))


def test_table_verdicts_follow_the_one_rule():
    rng = np.random.default_rng(0)
    base = 0.1 + 0.01 * rng.standard_normal(8)
    tied = T.TableResult({"GP1": base * 1.01, "NTKB1": base, "Laplacian": base * 1.6}, "as-coded", 50, 8)
    assert T.gp_ntk_tie_verdict(tied).status == "holds"
    assert T.laplacian_gap_verdict(tied).status == "holds"
    mid, (lo, hi) = T.relative_gap(tied, "Laplacian", "NTKB1")
    assert mid == pytest.approx(0.6) and lo < mid < hi
    close = T.TableResult({"Laplacian": base * 1.02, "NTKB1": base}, "corrected", 50, 8)
    assert T.laplacian_gap_verdict(close, form="corrected").status == "does not hold"
    with pytest.raises(ValueError, match="no 'GP1'"):
        T.relative_gap(close, "GP1", "NTKB1")


def test_tour_delegates_the_gp_ntk_tie_to_the_topic():
    from ntk_explore.topics import tour

    v = tour.gp_ntk_tie_verdict()
    assert v == T.gp_ntk_tie_verdict() and v.status == "holds"


@pytest.mark.parametrize("name", ["as-coded", "corrected", "nets_paper-lr", "nets_lr0.04-all-points"])
def test_saved_full_scale_tables_read(name):
    from pathlib import Path

    saved = T.read_saved_table(Path(__file__).resolve().parents[1] / "benchmarks" / "results"
                               / f"ntk_table_{name}.txt")
    assert set(T.KERNEL_METHODS) <= set(saved.rows) and "n=1000" in saved.settings
    assert ("NN1" in saved.rows) == name.startswith("nets")
    if name == "as-coded":  # the reproduction agrees with the published table within 3 s.e.
        for m in T.KERNEL_METHODS:
            (mean, se), (pub, pub_se) = saved.rows[m], T.PAPER_TABLE[m]
            assert abs(mean - pub) < 3 * np.hypot(se, pub_se), m
