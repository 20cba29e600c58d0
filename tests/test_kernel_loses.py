"""Where the kernel loses: tasks, metrics, each learner against a plain reference (float64),
the rich-vs-lazy gap over seeds, and bad input."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ntk_explore as ne
from ntk_explore.core import metrics as km
from ntk_explore.core import tasks as tk
from ntk_explore.topics import kernel_loses as kl

# ---------------------------------------------------------------------------
# tasks


def test_index_task_directions_orthonormal_and_unit_variance(key):
    task = tk.index_task(key, 4000, d=12, r=3, g="he2", n_val=10, n_test=10)
    np.testing.assert_allclose(task.w @ task.w.T, np.eye(3), atol=1e-12)
    z = task.x @ task.w.T
    np.testing.assert_allclose(task.y, tk.link("he2")(z).sum(1, keepdims=True) / np.sqrt(3),
                               atol=1e-12)
    # Var(y) = 1: sample variance within 5 standard errors (Var of a sample variance ~ 2/N
    # for a Gaussian; the He_2 mixture has heavier tails, so allow 5 s.e. of a 3x larger spread)
    assert abs(float(jnp.var(task.y)) - 1.0) < 5 * np.sqrt(6.0 / 4000)


@pytest.mark.parametrize("g", sorted(tk.LINKS))
def test_links_have_mean_zero_variance_one(g):
    z, w = np.polynomial.hermite_e.hermegauss(80)  # Gauss-Hermite for N(0, 1)
    w = w / w.sum()
    vals = np.asarray(tk.link(g)(jnp.asarray(z)))
    if g == "relu":  # the kink makes quadrature slow to converge: Monte Carlo instead
        vals = np.asarray(tk.link(g)(jax.random.normal(jax.random.key(0), (400_000,))))
        assert abs(vals.mean()) < 6 / np.sqrt(4e5) and abs(vals.var() - 1) < 0.02
        return
    assert abs(vals @ w) < 1e-10 and abs((vals**2) @ w - 1) < 1e-10


def test_parity_task_labels(key):
    task = tk.parity_task(key, 64, d=6, k=2, n_val=4, n_test=4)
    assert set(np.unique(task.x).tolist()) == {-1.0, 1.0}
    np.testing.assert_array_equal(task.y[:, 0], task.x[:, 0] * task.x[:, 1])


# ---------------------------------------------------------------------------
# metrics against their formulas


def test_kernel_distance_velocity_alignment(key):
    a = jax.random.normal(key, (5, 5))
    k0 = np.asarray(a @ a.T)
    k1 = k0 + 0.1 * np.eye(5)
    cos = np.trace(k0 @ k1) / np.sqrt(np.trace(k0 @ k0) * np.trace(k1 @ k1))
    assert km.kernel_distance(k0, k1) == pytest.approx(1 - cos, rel=1e-12)
    assert km.kernel_distance(k0, 3 * k0) == pytest.approx(0.0, abs=1e-14)
    v = km.kernel_velocity([k0, k1, k1], [0, 4, 6])
    np.testing.assert_allclose(v, [(1 - cos) / 4, 0.0], atol=1e-14)
    y = np.arange(5.0)
    yc = y - 2.0
    assert km.target_alignment(k0, y) == pytest.approx(
        yc @ k0 @ yc / (np.sqrt(np.sum(k0**2)) * yc @ yc), rel=1e-12)


def test_ridge_on_validation_equals_kernel_regression(key):
    x = jax.random.normal(key, (40, 3))
    kern = np.asarray(jnp.exp(-jnp.sum((x[:, None] - x[None]) ** 2, -1)))
    y = np.sin(np.asarray(x[:, 0]))[:, None]
    fit = km.ridge_on_validation(kern[:20, :20], y[:20], kern[20:30, :20], y[20:30],
                                 kern[30:, :20])
    ref = ne.kernel_regression(kern[:20, :20], y[:20], kern[30:, :20], ridge=fit.ridge)
    np.testing.assert_allclose(fit.predictions[0], ref, rtol=1e-9, atol=1e-12)
    val = [np.mean((ne.kernel_regression(kern[:20, :20], y[:20], kern[20:30, :20],
                                         ridge=g * np.trace(kern[:20, :20]) / 20)
                    - y[20:30]) ** 2) / np.var(y[20:30]) for g in fit.grid]
    np.testing.assert_allclose(fit.val_error, val, rtol=1e-8)
    assert fit.rel == fit.grid[int(np.argmin(val))]


def test_fit_exponent_recovers_a_power_law():
    ns = np.array([64, 128, 256, 512])
    rng = np.random.default_rng(0)
    errs = 3.0 * ns[None, :] ** -0.7 * np.exp(0.05 * rng.standard_normal((4, 4)))
    e = km.fit_exponent(ns, errs)
    assert e.ci95[0] < 0.7 < e.ci95[1] and e.ci95[1] - e.ci95[0] < 0.2
    exact = km.fit_exponent(ns, 2.0 * ns ** -0.5)
    assert exact.slope == pytest.approx(0.5, abs=1e-12)
    assert km.compare_intervals(1.0, 2.0, 0.0, 0.5) == "holds"
    assert km.compare_intervals(0.0, 0.5, 1.0, 2.0) == "does not hold"
    assert km.compare_intervals(0.0, 1.5, 1.0, 2.0) == "inconclusive"


# ---------------------------------------------------------------------------
# each learner's path against a plain reference (float64, tiny)


@pytest.fixture
def tiny(key):
    task = tk.index_task(key, 12, d=5, n_val=6, n_test=7)
    model = kl.net_model(5, 8, 1)
    return task, model, model.init(jax.random.fold_in(key, 1))


def _flat_jacobian(model, params, x):
    jac = jax.jacobian(lambda p: model.apply(p, x)[:, 0])(params)
    return jnp.concatenate([j.reshape(x.shape[0], -1) for j in jax.tree.leaves(jac)], axis=1)


def test_centred_net_equals_explicitly_centred_training(tiny):
    task, model, p0 = tiny
    x, y = task.train_set(12)
    got = kl.train_net(model, p0, x, y, lr=0.05, steps=20).params
    rates = kl.layer_rates(model)
    centred = lambda p, x: model.apply(p, x) - model.apply(p0, x)  # noqa: E731
    p = p0
    for _ in range(20):  # plain GD, one step at a time
        g = jax.grad(lambda q: 0.5 * jnp.mean((centred(q, x) - y) ** 2))(p)
        p = jax.tree.map(lambda a, b, s: a - 0.05 * s * b, p, g, rates)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_entk_ridge_equals_linearized_net_at_its_ridge_solution(tiny):
    """Kernel ridge with the eNTK = the net linearized at params0, fitted by ridge in
    parameter space: min ||J d - y||^2 + lam ||d||^2, predictions J_test d."""
    task, model, p0 = tiny
    x, y = task.train_set(12)
    kern = kl.entk_fn(model, p0)
    fit = km.ridge_on_validation(kern(x, x), y, kern(task.x_val, x), task.y_val,
                                 kern(task.x_test, x))
    J, Jt = _flat_jacobian(model, p0, x), _flat_jacobian(model, p0, task.x_test)
    delta = jnp.linalg.solve(J.T @ J + fit.ridge * jnp.eye(J.shape[1]), J.T @ y)
    np.testing.assert_allclose(fit.predictions[0], Jt @ delta, rtol=1e-7, atol=1e-9)
    lin = ne.linearize(model.apply, p0)  # the same through the package's linearization
    flat, unravel = jax.flatten_util.ravel_pytree(p0)
    pred = lin(unravel(flat + delta[:, 0]), task.x_test) - model.apply(p0, task.x_test)
    np.testing.assert_allclose(fit.predictions[0], pred, rtol=1e-6, atol=1e-9)


def test_infinite_ntk_is_the_wide_entk_limit(key):
    x = jax.random.normal(key, (6, 5))
    model = kl.net_model(5, 4096, 1)
    entk = kl.entk_fn(model, model.init(jax.random.fold_in(key, 2)))(x, x)
    assert ne.relative_frobenius(entk, kl.ntk_fn(model)(x, x)) < 0.05


def test_tiled_kernels_equal_one_call_and_the_plain_ntk(tiny, key):
    task, model, p0 = tiny
    x1, x2 = task.x[:7], task.x_test[:5]
    for kern in (kl.entk_fn(model, p0), kl.ntk_fn(model)):
        whole = np.asarray(kern(x1, x2))
        np.testing.assert_allclose(kl.blocked_kernel(kern, x1, x2, block=3), whole,
                                   rtol=1e-12, atol=1e-12)  # padded tiles, cropped
    # the jitted NTK-only kernel equals the unjitted neural-tangents route
    from ntk_explore.core.kernels import infinite_kernel_fn
    np.testing.assert_allclose(kl.ntk_fn(model)(x1, x2), infinite_kernel_fn(model)(x1, x2).ntk,
                               rtol=1e-10, atol=1e-12)


def test_benchmark_results_reads_the_key_value_lines(tmp_path):
    f = tmp_path / "r.txt"
    f.write_text("# run on 2026-12-01\ntable  1.0 2.0\nexponent_net=0.7439\nnot a=line\nerr_x=0.1\n")
    header, values = kl.benchmark_results(f)
    assert header == "run on 2026-12-01" and values == {"exponent_net": 0.7439, "err_x": 0.1}
    assert kl.benchmark_results(tmp_path / "absent.txt") == ("", {})


def test_one_step_and_readout_ridge_equal_plain_references(tiny):
    task, model, p0 = tiny
    x, y = task.train_set(12)
    p1 = kl.one_step_params(model, p0, x, y, lr=3.0)
    g = jax.grad(lambda q: 0.5 * jnp.mean((model.apply(q, x) - model.apply(p0, x) - y) ** 2))(p0)
    np.testing.assert_allclose(p1[0]["w"], p0[0]["w"] - 3.0 * g[0]["w"], rtol=1e-12)
    np.testing.assert_allclose(p1[1]["w"], p0[1]["w"])
    kern = kl.readout_kernel_fn(model, p1)
    fit = km.ridge_on_validation(kern(x, x), y, kern(task.x_val, x), task.y_val,
                                 kern(task.x_test, x))
    # primal ridge on [phi / sqrt(width), 1]
    feats = lambda z: jnp.concatenate(  # noqa: E731
        [model.features(p1, z)[1][-1] / np.sqrt(8), jnp.ones((z.shape[0], 1))], axis=1)
    F = feats(x)
    beta = jnp.linalg.solve(F.T @ F + fit.ridge * jnp.eye(F.shape[1]), F.T @ y)
    np.testing.assert_allclose(fit.predictions[0], feats(task.x_test) @ beta, rtol=1e-7,
                               atol=1e-9)


def test_kernel_path_distance_matches_direct_entk(key):
    path = kl.kernel_path(key, n=24, n_kernel=10, n_after=20, snapshots=3, steps=40, d=5,
                          width=16, n_val=8, n_test=8, lr=0.2, fraction=0.5, dtype=jnp.float64)
    assert path.steps[0] == 0 and path.steps[-1] == 40
    assert path.distance[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(path.distance >= -1e-12) and path.velocity.shape == path.steps.shape
    assert path.loss_curve.shape == (41,) and path.kernels.shape == (path.steps.size, 10, 10)
    # the snapshot kernels are the eNTK of the net at those steps, trained the same way
    k_task, k_init = jax.random.split(key)
    s = {**kl.DEFAULTS, "r": 1, "d": 5, "width": 16, "n_val": 8, "n_test": 8}
    task = kl.make_task(k_task, s, jnp.float64)
    model = kl.net_model(5, 16)
    p0 = model.init(k_init, dtype=jnp.float64)
    x, y = task.train_set(24)
    i = int(path.steps.size // 2)
    p = kl.train_net(model, p0, x, y, lr=0.2, steps=int(path.steps[i])).params
    np.testing.assert_allclose(path.kernels[i], kl.entk_fn(model, p)(x[:10], x[:10]), rtol=1e-9)
    assert path.distance[i] == pytest.approx(km.kernel_distance(path.kernels[0], path.kernels[i]))
    # the first step whose loss is at most half the start is a snapshot, and is the first
    first = int(np.nonzero(path.loss_curve <= 0.5 * path.loss_curve[0])[0][0])
    assert path.loss_step == first and path.steps[path.loss_index] == first
    assert path.after_error_at_loss_fraction() == path.after_error[path.loss_index]
    np.testing.assert_allclose(path.distance_from(0), path.distance, atol=1e-12)
    short = kl.kernel_paths(key, 2, n=24, n_kernel=10, n_after=20, snapshots=3, steps=40, d=5,
                            width=16, n_val=8, n_test=8, lr=0.2, fraction=0.5,
                            dtype=jnp.float64)
    np.testing.assert_array_equal(short[1].steps, [0, short[1].loss_step, 40])


# ---------------------------------------------------------------------------
# the rich-vs-lazy gap, as a trend over seeds


def test_rich_net_beats_lazy_net_over_seeds():
    """On the single-index task at n = 1024, the rich (mean-field) net's error is below the
    lazy control's (alpha = 16). Measured spread of the per-seed gap lazy - rich at these
    settings: mean about 0.5, sd about 0.05; we require the one-sided 99% lower confidence
    bound mean - t_{0.99, s-1} sd / sqrt(s) of the gap to be positive, a bound derived from
    the seeds' own spread rather than a fixed figure (fails if the gap is noise)."""
    gaps = []
    for seed in range(3):
        k_task, k_init = jax.random.split(jax.random.key(seed))
        task = tk.index_task(k_task, 1024, n_val=10, n_test=500, dtype=jnp.float32)
        x, y = task.train_set(1024)
        errs = []
        for alpha in (1.0, 16.0):
            model = kl.net_model(32, 256, 1, alpha=alpha)
            p0 = model.init(k_init, dtype=jnp.float32)
            p = kl.train_net(model, p0, x, y, lr=0.5, steps=1000).params
            errs.append(km.unexplained_variance(kl.centred_predict(model, p, p0, task.x_test),
                                          task.y_test))
        gaps.append(errs[1] - errs[0])
    gaps = np.array(gaps)
    bound = gaps.mean() - stats.t.ppf(0.99, gaps.size - 1) * gaps.std(ddof=1) / np.sqrt(gaps.size)
    assert bound > 0, gaps


# ---------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("call, name", [
    (lambda: tk.index_task(jax.random.key(0), 10, d=4, r=5), "r"),
    (lambda: tk.parity_task(jax.random.key(0), 10, d=4, k=6), "k"),
    (lambda: kl.data_scaling(jax.random.key(0), (8, 16, 32), n_pre=4), "n_pre"),
    (lambda: kl.transfer_experiment(jax.random.key(0), (1, 4)), "m"),
    (lambda: kl.transfer_experiment(jax.random.key(0), (4, 8), n_pre=10**6), "n_pre"),
    (lambda: kl.check_cost(kl.net_model(32, 16384, 2, alpha=64.0), 2048, 100000), "width"),
    (lambda: kl.data_scaling(jax.random.key(0), (8, 16, 32), widht=4), "widht"),
    (lambda: kl.kernel_path(jax.random.key(0), n=32, stpes=3), "stpes"),
    (lambda: kl.transfer_experiment(jax.random.key(0), (4, 8), widht=4), "widht"),
    (lambda: kl.transfer_experiment(jax.random.key(0), (4, 8), pretraining="twice"), "pretraining"),
    (lambda: kl.data_scaling(jax.random.key(0), (8, 16, 32), learners=("nett",)), "learners"),
    (lambda: kl.data_scaling(jax.random.key(0), (8, 16, 32), seeds=0), "seeds"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_an_integer_key_is_refused_with_a_message():
    for call in (lambda: kl.data_scaling(0, (8, 16, 32)), lambda: kl.kernel_path(0),
                 lambda: kl.transfer_experiment(0, (4, 8))):
        with pytest.raises(TypeError, match="jax.random.key"):
            call()


def test_data_scaling_runs_every_learner_on_a_small_grid():
    c = kl.data_scaling(jax.random.key(3), (64, 128, 256), seeds=1, steps=20, n_pre=64,
                        n_val=20, n_test=40, dtype=jnp.float32)
    assert set(c.errors) == set(kl.LEARNERS)
    for name, err in c.errors.items():
        assert err.shape == (1, 3) and np.all(np.isfinite(err)) and np.all(err > 0), name


def test_verdicts_three_outcomes_and_tour_wrappers():
    from ntk_explore.topics import tour

    ns = np.array([64, 128, 256, 512, 1024])
    rng = np.random.default_rng(1)
    noise = lambda: np.exp(0.05 * rng.standard_normal((3, ns.size)))  # noqa: E731
    errors = {"net": ns ** -0.9 * noise(), "entk_init": ns ** -0.1 * noise(),
              "ntk": ns ** -0.1 * noise(), "lazy": ns ** -0.12 * noise(),
              "pretrained": ns ** -0.3 * noise()}
    curves = kl.Curves(ns, errors, {"n_pre": 128})
    assert kl.data_scaling_verdict(curves).status == "holds"
    assert kl.lazy_control_verdict(curves).status == "holds"
    assert kl.pretrained_kernel_verdict(curves, curves).status == "holds"
    flat = kl.Curves(ns, {**errors, "net": ns ** -0.1 * noise()}, {"n_pre": 128})
    assert kl.data_scaling_verdict(flat).status == "inconclusive"
    worse = kl.Curves(ns, {**errors, "net": ns ** 0.5 * noise()}, {"n_pre": 128})
    assert kl.data_scaling_verdict(worse).status == "does not hold"
    v = tour.index_scaling_verdict(curves=curves)
    assert v.status == "holds" and v.notebook == "09_where_the_kernel_loses.ipynb"


EXT = dict(d=8, width=16, n_val=64, n_test=64)


def test_entk_init_extended_equals_dense_ridge_on_both_routes(key):
    ext = kl.entk_init_extended(key, (32, 64, 128, 256), matfree_from=128, rank=32, tol=1e-11,
                                **EXT)
    # the same task, net and init, built here from the documented recipe
    k_task, k_init = jax.random.split(key)
    task = kl.make_task(k_task, {**kl.DEFAULTS, "r": 1, **EXT}, jnp.float32)
    model = kl.net_model(8, 16)
    p0 = model.init(k_init, dtype=jnp.float32)
    kern = kl.entk_fn(model, p0)
    assert ext.num_params == model.num_params and ext.matfree.tolist() == [False, False, True, True]
    for i, n in enumerate((32, 64)):  # dense sizes: ridge chosen on validation
        assert ext.errors[i] == pytest.approx(kl.kernel_error(kern, task, n), rel=1e-12)
    rel = ext.rel_ridge[1]
    assert np.all(ext.rel_ridge[2:] == rel)  # held at the last chosen ridge
    for i, n in ((2, 128), (3, 256)):  # matrix-free sizes: ridge regression at that ridge
        x, y = task.train_set(n)
        k = np.asarray(kern(x, x), np.float64)
        pred = ne.kernel_regression(k, np.asarray(y, np.float64),
                                    np.asarray(kern(task.x_test, x), np.float64),
                                    ridge=rel * np.trace(k) / n)
        want = km.unexplained_variance(pred, task.y_test)
        assert ext.errors[i] == pytest.approx(want, rel=1e-6)
        assert ext.iterations[i] > 0
    e = ext.exponent()
    assert np.isfinite(e.slope) and e.ci95[0] <= e.slope <= e.ci95[1]


def test_entk_init_extended_bad_input(key):
    with pytest.raises(ValueError, match=r"unknown setting.*widht"):
        kl.entk_init_extended(key, (32, 64, 128), widht=16)
    with pytest.raises(ValueError, match="matfree_from"):
        kl.entk_init_extended(key, (32, 64, 128), matfree_from=16, **EXT)
    with pytest.raises(ValueError, match="sizes"):
        kl.entk_init_extended(key, (32, 64), **EXT)


# ---------------------------------------------------------------------------
# fixed validation and test sets (whatever n, n_pre, width, alpha or rate is chosen)

TINY = dict(d=5, width=8, steps=5, n_val=8, n_test=8)


def test_validation_and_test_sets_do_not_move_with_any_setting():
    key = jax.random.key(4)
    base = kl.data_scaling(key, (4, 8, 16), seeds=2, learners=("ntk", "pretrained"), n_pre=16,
                           **TINY)
    assert len(set(base.eval_sets)) == 2  # one per seed, and the seeds differ
    variants = [dict(n_pre=64), dict(width=16), dict(lazy_alpha=4.0), dict(lr=0.1),
                dict(steps=3), dict(one_step_lr=2.0)]
    for change in variants:
        other = kl.data_scaling(key, (4, 8, 16, 32), seeds=2, learners=("ntk", "pretrained"),
                                **{**TINY, "n_pre": 16, **change})
        assert other.eval_sets == base.eval_sets, change
    # the fixed kernel's error cannot depend on n_pre (it did when the test set moved with it)
    pre = kl.pretrained_curves(key, (16, 64, 256), (4, 8, 16), seeds=2, **TINY)
    ntk = [kl.data_scaling(key, (4, 8, 16), seeds=2, learners=("ntk",), n_pre=n, **TINY)
           for n in (16, 256)]
    np.testing.assert_array_equal(ntk[0].errors["ntk"], ntk[1].errors["ntk"])
    assert {c.eval_sets for c in pre.values()} == {base.eval_sets}


def test_pretraining_rows_are_apart_from_training_rows_and_nested():
    s = {**kl.DEFAULTS, "r": 1, **TINY}
    task = kl.make_task(jax.random.key(0), s)
    xp, _ = kl.pretrain_set(task, 32)
    np.testing.assert_array_equal(xp[:16], kl.pretrain_set(task, 16)[0])
    x, _ = task.train_set(kl.PRETRAIN_FROM)
    assert not np.any(np.all(np.asarray(x)[:, None, :] == np.asarray(xp)[None, :, :], axis=-1))
    # the same key, sizes and d draw the same inputs whatever the link
    other = kl.make_task(jax.random.key(0), s, g="relu")
    np.testing.assert_array_equal(task.x, other.x)
    np.testing.assert_array_equal(task.x_test, other.x_test)


def test_transfer_on_a_tiny_grid():
    tr = kl.transfer_experiment(jax.random.key(5), (4, 8, 16), seeds=2, n_pre=32, **TINY)
    assert set(tr.errors) == set(kl.TRANSFER_LEARNERS) and tr.pretraining == "one_step"
    for name, err in tr.errors.items():
        assert err.shape == (2, 3) and np.all(np.isfinite(err)) and np.all(err > 0), name
    assert set(tr.chosen) == {"finetune", "target_only"}
    assert all(np.isin(v, tr.rates).all() for v in tr.chosen.values())
    again = kl.transfer_experiment(jax.random.key(5), (4, 16), seeds=2, n_pre=64,
                                   pretraining="gd", learners=("probe", "linearized_init"),
                                   **TINY)
    assert again.eval_sets == tr.eval_sets  # fixed whatever m, n_pre or the recipe
    # the kernel learners at init do not depend on the pretraining at all
    np.testing.assert_array_equal(again.errors["linearized_init"][:, 0],
                                  tr.errors["linearized_init"][:, 0])
    r = tr.ratios()
    pre, tgt = tr.best(kl.USES_PRETRAINED), tr.best(kl.TARGET_ONLY)
    np.testing.assert_allclose(r["to_entk_init"],
                               tr.errors[pre][:, 0] / tr.errors["linearized_init"][:, 0])
    np.testing.assert_allclose(r["to_target_only"], tr.errors[pre][:, 0] / tr.errors[tgt][:, 0])
    with pytest.raises(ValueError, match="none of"):
        again.best(("finetune",))


def test_probe_is_ridge_on_the_pretrained_features():
    """The ``probe`` learner = ridge (chosen on validation) on [phi(x) / sqrt(width), 1] of the
    net after one big first-layer step on the source samples."""
    key = jax.random.key(6)
    tr = kl.transfer_experiment(key, (6, 12), seeds=1, n_pre=16, learners=("probe",),
                                dtype=jnp.float64, **TINY)
    k_task, k_init = jax.random.split(jax.random.split(key, 1)[0])
    s = {**kl.DEFAULTS, "r": 1, **TINY}
    src = kl.make_task(k_task, s, jnp.float64, g="he1_he3")
    tgt = kl.make_task(k_task, s, jnp.float64, g="relu")
    model = kl.net_model(5, 8)
    p0 = model.init(k_init, dtype=jnp.float64)
    pre = kl.one_step_params(model, p0, *kl.pretrain_set(src, 16))
    feats = lambda z: np.concatenate(  # noqa: E731
        [np.asarray(model.features(pre, z)[1][-1]) / np.sqrt(8), np.ones((z.shape[0], 1))], 1)
    x, y = tgt.train_set(12)
    F, Fv, Ft = feats(x), feats(tgt.x_val), feats(tgt.x_test)
    fit = km.ridge_on_validation(F @ F.T, y, Fv @ F.T, tgt.y_val, Ft @ F.T)
    assert tr.errors["probe"][0, 1] == pytest.approx(
        km.unexplained_variance(fit.predictions[0], tgt.y_test), rel=1e-9)


# ---------------------------------------------------------------------------
# the kernel-through-training verdict


def _path(err_at, err_end, s_at=0.1, s_end=0.1):
    steps = np.array([0, 10, 100])
    return kl.KernelPath(steps, np.array([1.0, 0.05, 0.01]), np.array([0.0, s_at, s_end]),
                         np.zeros(3), np.zeros(3), np.array([0.6, err_at, err_end]), 1.0,
                         np.zeros((3, 2, 2)), np.linspace(1, 0.01, 101), 10)


def test_kernel_moves_verdict_three_outcomes():
    holds = kl.kernel_moves_verdict([_path(0.30, 0.25), _path(0.26, 0.22), _path(0.33, 0.27)])
    assert holds.status == "holds" and holds.interval[0] > 1 and holds.key == "kernel_keeps_moving"
    worse = kl.kernel_moves_verdict([_path(0.25, 0.28), _path(0.2, 0.23), _path(0.3, 0.33)])
    assert worse.status == "does not hold"  # the after-kernel got worse after that step
    settled = kl.kernel_moves_verdict([_path(0.25, 0.25), _path(0.2, 0.2001), _path(0.3, 0.3)])
    assert settled.status == "inconclusive"  # ratio 1 within the interval: cannot tell
    mixed = kl.kernel_moves_verdict([_path(0.30, 0.25), _path(0.2, 0.21), _path(0.3, 0.31)])
    assert mixed.status == "inconclusive"
    one = kl.kernel_moves_verdict([_path(0.30, 0.25)])
    assert one.interval == (one.measured, one.measured) and one.status == "holds"
    never = _path(0.3, 0.25)
    never = kl.KernelPath(**{**never.__dict__, "loss_step": -1})
    assert kl.kernel_moves_verdict([never, _path(0.3, 0.25)]).status == "does not hold"


def test_tour_gives_the_notebooks_verdicts_at_the_notebooks_settings(monkeypatch):
    """The tour's 09 functions call the notebook's topic functions at kl.NOTEBOOK_RUN."""
    from ntk_explore.topics import tour

    tiny = dict(sizes=(4, 8, 16), seeds=2, width=8, n_val=8, n_test=8,
                learners=("net", "entk_init", "pretrained"), n_pres=(16,), path_n=24,
                path_snapshots=2, path_seeds=2)
    for k, v in tiny.items():
        monkeypatch.setitem(kl.NOTEBOOK_RUN, k, v)
    monkeypatch.setitem(kl.DEFAULTS, "d", 5)
    monkeypatch.setitem(kl.DEFAULTS, "steps", 100)
    monkeypatch.setitem(kl.DEFAULTS, "lr", 0.2)
    curves, pre = kl.scaling_curves(jax.random.key(0))
    paths = kl.verdict_paths(jax.random.key(1))
    nb = [kl.data_scaling_verdict(curves), kl.kernel_moves_verdict(paths),
          kl.pretrained_kernel_verdict(pre[16], curves)]
    tv = tour.kernel_loses_verdicts(0)
    assert [v.key for v in tv] == ["index_scaling", "kernel_keeps_moving", "pretrained_catch_up"]
    for a, b in zip(nb, tv):
        np.testing.assert_equal((a.key, a.status, a.measured, a.interval, a.detail),
                                (b.key, b.status, b.measured, b.interval, b.detail))


def test_extended_curve_starts_on_the_first_seed_of_data_scaling(key):
    """Same key, width, n_val and n_test: the dense sizes of the extended eNTK curve are the
    first seed's eNTK-at-init errors in data_scaling (the same task, init and test set)."""
    curves = kl.data_scaling(key, (16, 32, 64), seeds=2, learners=("entk_init",), **EXT)
    ext = kl.entk_init_extended(jax.random.split(key, 2)[0], (16, 32, 64, 128),
                                matfree_from=128, rank=16, **EXT)
    np.testing.assert_allclose(ext.errors[:3], curves.errors["entk_init"][0], rtol=1e-12)


def test_nets_on_the_target_keep_the_rate_with_the_lower_validation_error():
    """``_net_on_target`` = train at each rate, keep the run with the lowest validation error;
    a rate that diverges is skipped, and all diverging is an error that says so."""
    from ntk_explore.core.training import DivergenceError

    s = {**kl.DEFAULTS, "r": 1, **TINY}
    task = kl.make_task(jax.random.key(7), s)
    model = kl.net_model(5, 8)
    p0 = model.init(jax.random.key(8))
    x, y = task.train_set(12)
    vals = {}
    for lr in (0.2, 0.02):
        p = kl.train_net(model, p0, x, y, lr=lr, steps=5).params
        vals[lr] = (km.unexplained_variance(kl.centred_predict(model, p, p0, task.x_val), task.y_val),
                    km.unexplained_variance(kl.centred_predict(model, p, p0, task.x_test), task.y_test))
    best = min(vals, key=lambda lr: vals[lr][0])
    err, lr = kl.transfer._net_on_target(model, p0, x, y, task, (0.2, 0.02), 5)
    assert lr == best and err == pytest.approx(vals[best][1], rel=1e-12)
    err2, lr2 = kl.transfer._net_on_target(model, p0, x, y, task, (1e6, 0.02), 5)  # 1e6 diverges
    assert lr2 == 0.02 and err2 == pytest.approx(vals[0.02][1], rel=1e-12)
    with pytest.raises(DivergenceError, match="diverged") as info:
        kl.transfer._net_on_target(model, p0, x, y, task, (1e6,), 5)
    assert "every rate in (1000000.0,) diverged" in info.value.__notes__[0]


def test_every_figure_passes_the_layout_check():
    """Each figure of notebook 09, drawn from results shaped like the notebook's (synthetic
    numbers of the same ranges), has no overlapping, cut-off or hidden text."""
    import matplotlib

    matplotlib.use("Agg")
    from ntk_explore.plots import kernel_loses as plots
    from ntk_explore.plots import layout

    rng = np.random.default_rng(0)
    ns = np.array([128, 256, 512, 1024, 2048])
    noise = lambda s=0.1: np.exp(s * rng.standard_normal((2, ns.size)))  # noqa: E731
    curves = kl.Curves(ns, {"net": 30 * ns ** -0.7 * noise(), "lazy": ns ** 0.02 * noise(),
                            "entk_init": ns ** -0.06 * noise(0.02),
                            "pretrained": 2 * ns ** -0.24 * noise()}, dict(kl.DEFAULTS), ("a", "b"))
    steps = np.array([0, 1, 2, 5, 10, 22, 46, 100, 215, 427, 464, 1000])
    curve = np.exp(-np.arange(1001) / 200.0)

    def path(alpha, scale):
        d = scale * (1 - np.exp(-steps / 5.0))
        k = np.stack([np.eye(3) * (1 + 0.1 * i) for i in range(steps.size)])
        return kl.KernelPath(steps, curve[steps], d, np.r_[0.0, 1e-2 / (1 + steps[1:])],
                             0.06 + d, 0.6 - 0.4 * d / max(scale, 1e-9) * (scale > 0.01), alpha, k,
                             curve, 427 if scale > 0.01 else -1)

    means = {"probe": [0.066, 0.013, 0.01], "finetune": [0.23, 0.03, 0.016],
             "target_only": [0.73, 0.12, 0.03], "target_one_step": [0.71, 0.13, 0.05],
             "linearized_init": [0.73, 0.38, 0.28]}
    tr = kl.TransferResult(np.array([16, 128, 256]),
                           {k: np.array(v) * noise(0.1)[:, :3] for k, v in means.items()},
                           "he1_he3", "relu", 2048, "one_step", (0.1, 0.01), {})
    parity = kl.ParityResult(np.array([1000]), np.ones((1, 1)), np.full((1, 1), 0.49), 20, 3)
    exps = {128: curves.exponent("entk_init"), 512: curves.exponent("pretrained")}
    figures = [plots.scaling_figure(curves),
               plots.kernel_path_figure(path(1.0, 0.12), path(16.0, 0.005)),
               plots.pretrained_figure(exps, curves.exponent("net"), highlight=512),
               plots.transfer_loses_figure(tr), plots.parity_figure(parity)]
    big = np.array([256, 512, 1024, 2048, 4096, 8192, 16384])
    ext = kl.ExtendedCurve(big, 0.66 * (big / 256.0) ** -0.05, np.ones(7), 4096, 4353,
                           np.ones(7), np.array([0, 0, 0, 0, 7, 9, 11]), {"width": 128})
    figures.append(plots.extended_figure(ext, curves))
    for fig in figures:
        assert layout.layout_problems(fig) == [], fig.axes[0].get_title()
