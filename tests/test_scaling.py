"""Data-scaling exponents and the pNTK/eNTK gap (issue 7)."""

import jax
import numpy as np
import pytest
from scipy import stats

from ntk_explore import explore, pntk_study, scaling
from ntk_explore.core.kernels import flatten_blocks, mlp_ntk, mlp_pntk
from ntk_explore.core.models import init_from_draw, mlp


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0])
def test_exponent_recovers_known_power_law(alpha):
    rng = np.random.default_rng(0)
    ns = np.geomspace(16, 4096, 9)
    losses = 3.0 * ns**-alpha * np.exp(0.05 * rng.standard_normal(ns.size))
    e = scaling.exponent(ns, losses)
    assert e.ci95[0] < alpha < e.ci95[1]
    assert abs(e.alpha - alpha) < 4 * e.fit.stderr


def test_exponent_exact_power_law_and_bad_input():
    ns = np.array([10.0, 100.0, 1000.0])
    assert scaling.exponent(ns, 2.0 * ns**-0.7).alpha == pytest.approx(0.7, rel=1e-12)
    with pytest.raises(ValueError):
        scaling.exponent(ns, np.array([1.0, -1.0, 0.5]))


def test_tasks_shapes():
    d = scaling.digits_task()
    assert d.x.shape == (1141, 64) and d.y.shape == (1141, 10) and d.x_test.shape == (400, 64)
    assert np.allclose(d.y.sum(1), 0.0) and set(np.unique(d.labels)) == set(range(10))
    t = scaling.teacher_task(d=5)
    assert t.x.shape == (1024, 5) and t.y.shape == (1024, 1)
    assert np.allclose(np.linalg.norm(t.x, axis=1), np.sqrt(5))
    with pytest.raises(ValueError):
        scaling.digits_task(n_test=1500, n_extra=400)


def test_centered_apply_is_zero_at_init(key):
    model = mlp(4, 32, 1, 3)
    p0 = model.init(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (5, 4))
    assert np.allclose(scaling.centered_apply(model, p0)(p0, x), 0.0)


def test_kernel_predict_entk_vs_pntk_routes(key):
    model = mlp(4, 64, 1, 3)
    p = model.init(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (12, 4))
    xt = jax.random.normal(jax.random.fold_in(key, 2), (7, 4))
    y = np.asarray(jax.random.normal(jax.random.fold_in(key, 3), (12, 3)))
    pe = scaling.kernel_predict(model, p, x, y, xt, kernel="entk")
    K = flatten_blocks(mlp_ntk(model)(x, None, p))
    Ks = flatten_blocks(mlp_ntk(model)(xt, x, p))
    assert np.allclose(pe.reshape(-1), Ks @ np.linalg.solve(K, y.reshape(-1)), rtol=1e-8)
    pp = scaling.kernel_predict(model, p, x, y, xt, kernel="pntk")
    P, Ps = mlp_pntk(model)(x, None, p), mlp_pntk(model)(xt, x, p)
    assert np.allclose(pp, Ps @ np.linalg.solve(P, y), rtol=1e-8)
    # interpolation: the training points are fitted exactly
    assert np.allclose(scaling.kernel_predict(model, p, x, y, x, kernel="pntk"), y, atol=1e-6)
    with pytest.raises(ValueError):
        scaling.kernel_predict(model, p, x, y, xt, kernel="nope")


@pytest.fixture(scope="module")
def small_curves():
    task = scaling.digits_task()
    return scaling.data_scaling(task, [16, 32, 64], key=jax.random.key(0), width=64,
                                steps=100, n_pre=32)


def test_data_scaling_notebook_shapes(small_curves):
    assert small_curves.ns.tolist() == [16, 32, 64]
    assert set(small_curves.losses) == set(scaling.LEARNERS)
    for name, losses in small_curves.losses.items():
        assert losses.shape == (3,) and np.all(np.isfinite(losses)) and np.all(losses > 0)
        e = small_curves.exponent(name)
        # the exponent is minus the least-squares slope of log loss on log n (numpy's
        # polyfit as the independent route), and its interval has the t-quantile width
        slope = np.polyfit(np.log(small_curves.ns), np.log(losses), 1)[0]
        assert e.alpha == pytest.approx(-slope, rel=1e-9, abs=1e-12)
        half = stats.t.ppf(0.975, 1) * e.fit.stderr
        np.testing.assert_allclose(e.ci95, (e.alpha - half, e.alpha + half), rtol=1e-9, atol=1e-12)


def test_data_scaling_bad_input():
    task = scaling.teacher_task()
    with pytest.raises(ValueError):
        scaling.data_scaling(task, [8, 16], key=jax.random.key(0))
    with pytest.raises(ValueError):
        scaling.data_scaling(task, [8, 16, 32], key=jax.random.key(0), learners=("svm",))
    with pytest.raises(ValueError):
        scaling.data_scaling(task, [8, 16, 32], key=jax.random.key(0), n_pre=10_000)


# ---------------------------------------------------------------- pNTK vs eNTK

@pytest.fixture(scope="module")
def gap_sweep():
    x = scaling.digits_task().x[:32]
    return pntk_study.gap_vs_width(x, [64, 256, 1024, 4096, 8192], key=jax.random.key(1),
                                   seeds=3, out_dim=10, depth=1)


def test_pntk_gap_shrinks_like_inverse_sqrt_width(gap_sweep):
    fit = gap_sweep.fit
    assert -0.6 <= fit.slope <= -0.4, fit
    assert np.all(np.diff(gap_sweep.mean) < 0)


def test_pntk_gap_is_zero_for_one_output(key):
    model = mlp(3, 16, 1, 1)
    x = jax.random.normal(key, (6, 3))
    assert pntk_study.pntk_gap(model, model.init(key), x) == pytest.approx(0.0, abs=1e-12)


def test_compare_regression_and_cost_shapes(key):
    task = scaling.digits_task()
    model = mlp(64, 128, 1, 10)
    c = pntk_study.compare_regression(model, model.init(key), task.x[:60], task.y[:60],
                                      task.x_test[:50], task.labels_test[:50])
    assert c.pred_entk.shape == c.pred_pntk.shape == (50, 10)
    labels = np.asarray(task.labels_test[:50])
    assert c.acc_entk == np.mean(np.argmax(c.pred_entk, 1) == labels)
    assert c.acc_pntk == np.mean(np.argmax(c.pred_pntk, 1) == labels)
    assert c.rel_diff == pytest.approx(np.linalg.norm(c.pred_pntk - c.pred_entk)
                                       / np.linalg.norm(c.pred_entk), rel=1e-9)
    assert 0 < c.rel_diff < 1 and c.acc_entk > 0.5  # 60 digits: far above chance (0.1)
    rows = pntk_study.cost_vs_k([1, 4], n=32, width=32, key=key, repeats=1)
    assert [r.k for r in rows] == [1, 4] and rows[1].memory_ratio == 16
    full, p = pntk_study.full_entk_bytes()
    assert full == 50_000**2 * 100 * 8 and p == 50_000**2 * 8


# ---------------------------------------------------------------- fast paths == slow paths

def test_train_centered_equals_train_and_resumes(key):
    from ntk_explore.core.training import train

    task = scaling.digits_task()
    model = mlp(64, 32, 1, 10)
    p0 = model.init(key)
    x, y = task.x[:20], task.y[:20]
    ref = train(scaling.centered_apply(model, p0), p0, x, y, lr=1.0, steps=30,
                progress=False).params
    got = scaling.train_centered(model, p0, x, y, lr=1.0, steps=30, save_at=(10, 20))
    assert sorted(got) == [10, 20, 30]
    # padded to 64 rows (masked) and resumed from the step-10 checkpoint
    resumed = scaling.train_centered(model, p0, x, y, lr=1.0, steps=30, start=(10, got[10]),
                                     pad_min=64)[30]
    for a, b, c in zip(jax.tree.leaves(ref), jax.tree.leaves(got[30]), jax.tree.leaves(resumed)):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12) and np.allclose(a, c, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError):
        scaling.train_centered(model, p0, x, y, lr=1.0, steps=5, start=(10, got[10]))


def _reference_scaling(task, ns, key, width, steps, n_pre):
    """The slow path: train + two kernels + a solve per n, through the public API."""
    from ntk_explore.core.kernels import infinite_kernel_fn
    from ntk_explore.core.training import train

    model = mlp(task.x.shape[1], width, 1, task.y.shape[1])
    p0 = model.init(key)
    apply = scaling.centered_apply(model, p0)
    pre = train(apply, p0, task.x_extra[:n_pre], task.y_extra[:n_pre], lr=1.0, steps=steps,
                progress=False).params
    inf = jax.jit(lambda a, b: infinite_kernel_fn(model)(a, b).ntk)  # jitted: one compile per shape
    out = {name: [] for name in scaling.LEARNERS}
    for n in ns:
        x, y = task.x[:n], task.y[:n]
        trained = train(apply, p0, x, y, lr=1.0, steps=steps, progress=False).params
        preds = {"net": np.asarray(apply(trained, task.x_test)),
                 "entk_init": scaling.kernel_predict(model, p0, x, y, task.x_test),
                 "entk_trained": scaling.kernel_predict(model, trained, x, y, task.x_test),
                 "entk_pretrained": scaling.kernel_predict(model, pre, x, y, task.x_test),
                 "ntk": scaling.regress(inf(x, x), y, inf(task.x_test, x))}
        for name, pred in preds.items():
            out[name].append(scaling.test_loss(pred, task.y_test))
    return {name: np.array(v) for name, v in out.items()}


def test_explorer_after_moves_equals_slow_path():
    task = scaling.digits_task()
    ns, key = [8, 16, 32], jax.random.key(0)
    ex = explore.ScalingExplorer(task, ns, key=key, save_at=(20, 50, 100), max_widths=1,
                                 pad_min=16)
    for width, steps, n_pre in [(64, 50, 32), (64, 100, 16), (32, 20, 32)]:
        got = ex.curves(width, steps, n_pre)  # fresh, resumed from step 50, new width evicts
        ref = _reference_scaling(task, ns, key, width, steps, n_pre)
        for name in scaling.LEARNERS:
            assert np.allclose(got.losses[name], ref[name], rtol=1e-6), (name, width, steps)
    fresh = scaling.data_scaling(task, ns, key=key, width=32, steps=20, n_pre=32)
    for name in scaling.LEARNERS:
        assert np.allclose(fresh.losses[name], got.losses[name], rtol=1e-9)


def test_gap_explorer_equals_gap_vs_width(key):
    x = scaling.digits_task().x[:12]
    y = scaling.digits_task().y[:12]
    ex = explore.GapExplorer(x, [64, 16], key=key, seeds=2, k_max=5, y=y[:, :5],
                                save_at=(5, 20), max_ks=1)
    refs = {}
    for k, steps in [(2, 5), (2, 20), (3, 30), (2, 20)]:  # fresh, resumed, new k evicts k=2
        got = ex.sweep(k, steps)
        if (k, steps) not in refs:
            refs[k, steps] = pntk_study.gap_vs_width(x, [16, 64], key=key, seeds=2, out_dim=k,
                                                     y=y[:, :k], train_steps=steps)
        assert got.widths.tolist() == [16, 64] and got.train_steps == steps
        assert np.allclose(got.gaps, refs[k, steps].gaps, rtol=1e-9), (k, steps)
    first = explore.GapExplorer(x, [16, 64], key=key, seeds=2, k_max=5, mode="first")
    assert np.allclose(first.sweep(3).gaps, pntk_study.gap_vs_width(
        x, [16, 64], key=key, seeds=2, out_dim=3, mode="first").gaps, rtol=1e-9)
    with pytest.raises(ValueError):
        ex.sweep(6)
    with pytest.raises(ValueError):
        first.sweep(2, 10)  # training needs targets


def test_gap_explorer_init_is_model_init(key):
    ex = explore.GapExplorer(np.zeros((3, 4)), [8, 16, 32], key=key, seeds=2, k_max=6)
    for k in (1, 4, 6):
        ref = mlp(4, 16, 1, k).init(jax.random.fold_in(key, 1))
        got = ex.init(16, 1, k)
        assert got[-1]["w"].shape == (6, 16)
        assert np.array_equal(got[0]["w"], ref[0]["w"]) and np.array_equal(got[0]["b"], ref[0]["b"])
        assert np.array_equal(got[-1]["w"][:k], ref[-1]["w"]) and np.all(got[-1]["w"][k:] == 0)
        assert np.array_equal(got[-1]["b"][:k], ref[-1]["b"]) and np.all(got[-1]["b"][k:] == 0)


@pytest.mark.parametrize("ridge", [0.0, 1e-3])
def test_entk_regression_equals_regress(key, ridge):
    task = scaling.digits_task()
    model = mlp(64, 48, 1, 4)
    p = model.init(key)
    x, y, xt = task.x[:30], task.y[:30, :4], task.x_test[:25]
    ent = mlp_ntk(model)
    ref = scaling.regress(flatten_blocks(ent(x, None, p)), y.reshape(-1),
                          flatten_blocks(ent(xt, x, p)), ridge).reshape(-1, 4)
    got = pntk_study.entk_regression(model, p, x, y, xt, ridge=ridge, block=7)
    assert got.shape == (25, 4) and np.allclose(got, ref, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError):
        pntk_study.entk_regression(model, p, x, y, xt, ridge=-1.0)


@pytest.mark.parametrize("parametrization", ["ntk", "mup"])
def test_shared_draw_init_equals_model_init(key, parametrization):
    big = mlp(5, 40, 2, 3, parametrization=parametrization).num_params
    for width in (8, 40, 17):
        model = mlp(5, width, 2, 3, parametrization=parametrization)
        ref, got = model.init(key), init_from_draw(model, key, draw_size=big)
        for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got)):
            assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def test_explorer_precompile_changes_nothing():
    task = scaling.digits_task()
    ex = explore.ScalingExplorer(task, [8, 16, 32], key=jax.random.key(0), pad_min=16,
                                 learners=("net", "entk_init"), max_width=64)
    ex.precompile([24, 40], n_pres=[8])
    got = ex.curves(24, 10)
    ref = scaling.data_scaling(task, [8, 16, 32], key=jax.random.key(0), width=24, steps=10,
                               learners=("net", "entk_init"))
    for name in ("net", "entk_init"):
        assert np.allclose(got.losses[name], ref.losses[name], rtol=1e-9)


@pytest.mark.parametrize("kernel,ridge", [("pntk", 1e-3), ("pntk", 0.0), ("entk", 1e-3)])
def test_entk_init_curve_matfree_equals_dense(kernel, ridge):
    # The large-n (matrix-free CG) route against the dense (n, n) solve, float64.
    task = scaling.digits_task() if kernel == "entk" else scaling.teacher_task(n_pool=64)
    ns = [8, 12, 16] if kernel == "entk" else [16, 32, 64]
    kw = dict(key=jax.random.key(3), width=64, kernel=kernel, ridge=ridge)
    dense = scaling.entk_init_curve(task, ns, route="dense", **kw)
    free = scaling.entk_init_curve(task, ns, route="matfree", tol=1e-12, rank=8, **kw)
    assert free.losses["entk_init"] == pytest.approx(dense.losses["entk_init"], rel=1e-6)
    assert np.all(np.isfinite(dense.losses["entk_init"]))


def test_entk_init_curve_matches_data_scaling_and_checks_route():
    task = scaling.teacher_task(n_pool=64)
    kw = dict(key=jax.random.key(0), width=64, ridge=1e-3)
    ref = scaling.data_scaling(task, [16, 32, 64], learners=("entk_init",), **kw)
    got = scaling.entk_init_curve(task, [16, 32, 64], **kw)  # 'auto': dense at these n
    assert got.losses["entk_init"] == pytest.approx(ref.losses["entk_init"], rel=1e-10)
    with pytest.raises(ValueError, match="route"):
        scaling.entk_init_curve(task, [16, 32, 64], route="sparse", **kw)
    # the teacher pool grows without changing its test set or its first points
    big = scaling.teacher_task(n_pool=256)
    assert np.array_equal(big.x_test, task.x_test) and np.array_equal(big.x[:64], task.x)


def test_extend_curve_app_is_off_until_switched_on():
    from ntk_explore.widgets.beyond import ExtendCurveApp

    app = ExtendCurveApp(n_max=96, width=32, seconds=1)
    assert app.curves is None and not app.button.value and "n = 96" in app.button.description
    app.button.value = True
    ref = scaling.entk_init_curve(app.task, app.ns, key=jax.random.key(0), width=32)
    assert app.curves.losses["entk_init"] == pytest.approx(ref.losses["entk_init"], rel=1e-12)
    assert app.exponent.alpha == app.curves.exponent("entk_init").alpha
    app.button.value = False
    assert app.curves is None and app.figure is None
