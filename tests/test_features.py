"""Feature change vs width: float64 identities, then the width claims at the notebook defaults."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore import features as F
from ntk_explore.core import training
from ntk_explore.core.kernels import empirical_ntk, mlp_ntk
from ntk_explore.core.metrics import fit_loglog
from ntk_explore.core.models import init_from_draw, mlp
from ntk_explore.core.training import train

# ---------------------------------------------------------------------------
# identities (float64, see conftest)


def _direct_cka(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    return np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


def test_linear_cka_matches_feature_space_formula(key):
    ka, kb, kq = jax.random.split(key, 3)
    a = jax.random.normal(ka, (20, 7))
    b = a @ jax.random.normal(kb, (7, 30)) + 0.3 * jax.random.normal(kq, (20, 30))
    np.testing.assert_allclose(F.linear_cka(a, b), _direct_cka(np.asarray(a), np.asarray(b)),
                               rtol=1e-12)


def test_linear_cka_invariant_to_rotation_and_scale(key):
    ka, kq = jax.random.split(key)
    a = jax.random.normal(ka, (15, 6))
    q, _ = jnp.linalg.qr(jax.random.normal(kq, (6, 6)))
    assert F.linear_cka(a, 3.0 * a @ q) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="same|must be"):
        F.linear_cka(a, a[:5])


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mup"])
def test_kernel_factors_sum_to_the_entk(key, parametrization):
    """sum_l (feature Gram) * (backprop Gram) = eNTK by Jacobian contraction, to 1e-10."""
    kx, kp = jax.random.split(key)
    model = mlp(3, 96, 2, out_dim=2, parametrization=parametrization)
    x = jax.random.normal(kx, (9, 3))
    params = model.init(kp)
    factors = F.kernel_factors(model, params, x)
    assert factors.feature.shape == (3, 9, 9) and factors.backprop.shape == (3, 9, 9, 2, 2)
    ref = empirical_ntk(model.apply, lr_scales=model.lr_scales())(x, None, params)
    np.testing.assert_allclose(factors.ntk(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(factors.ntk(), mlp_ntk(model)(x, None, params), rtol=1e-10)


def test_each_layer_term_is_that_layers_jacobian_gram(key):
    """feature[l] * backprop[l] = J_l J_l^T with J_l the Jacobian w.r.t. layer l alone."""
    kx, kp = jax.random.split(key)
    model = mlp(4, 80, 2, parametrization="mup", base_width=32)
    x = jax.random.normal(kx, (6, 4))
    params = model.init(kp)
    factors = F.kernel_factors(model, params, x)
    for l in range(3):
        def f_layer(layer_params, xi):
            p = list(params)
            p[l] = layer_params
            return model.apply(p, xi[None])[0, 0]
        jac = jax.vmap(jax.grad(f_layer), (None, 0))(params[l], x)
        flat = jnp.concatenate([j.reshape(6, -1) for j in jax.tree.leaves(jac)], axis=1)
        np.testing.assert_allclose(factors.feature[l] * factors.backprop[l, :, :, 0, 0],
                                   flat @ flat.T, rtol=1e-10, atol=1e-12)


def test_measure_change_is_zero_without_training(key):
    task = F.feature_task(key, n=12, d=3)
    model = mlp(3, 32, 2)
    p = model.init(jax.random.key(3))
    stats = F.measure_change(model, p, p, task.x)
    assert stats.kernel == 0 and not np.any(stats.feature) and not np.any(stats.weight)
    np.testing.assert_allclose(stats.cka, 1.0, rtol=1e-12)
    assert stats.feature.shape == (2,) and stats.weight.shape == (3,)


def test_width_lr_and_bad_input(key):
    assert F.width_lr(1.0, "standard", 256, 64) == pytest.approx(0.25)
    assert F.width_lr(1.0, "mup", 256, 64) == F.width_lr(1.0, "ntk", 4096, 64) == 1.0
    assert F.width_lr(1.0, "ntk", 64, alpha=4.0) == pytest.approx(1 / 16)
    with pytest.raises(ValueError, match="lr"):
        F.width_lr(-1.0, "ntk", 64)
    task = F.feature_task(key, n=8, d=2)
    assert task.x.shape == (8, 2) and task.y.shape == (8, 1)
    with pytest.raises(ValueError, match="at least 3 widths"):
        F.feature_sweep(task, [64, 128], key=key)
    with pytest.raises(ValueError, match="n must be"):
        F.feature_task(key, n=1)


def test_coordinate_check_flat_for_mup_shrinking_for_ntk(key):
    task = F.feature_task(key, n=32, d=10, scale=2.5, dtype=jnp.float32)
    widths = (64, 256, 1024)
    sizes = {p: F.coord_check(task, widths, key=jax.random.key(5), parametrization=p,
                              lr=0.8, steps=2, seeds=1).size for p in ("ntk", "mup")}
    hidden_ratio = {p: s[-1, -1, :-1] / s[-1, 0, :-1] for p, s in sizes.items()}
    # n grows 16x: NTK-parametrized hidden updates shrink like 1/sqrt(n) (ratio ~1/4)
    assert np.all(hidden_ratio["ntk"] < 0.5), hidden_ratio
    assert np.all((hidden_ratio["mup"] > 0.5) & (hidden_ratio["mup"] < 2.0)), hidden_ratio


# ---------------------------------------------------------------------------
# the width claims, at the notebook defaults (one cached sweep for all tests)


@pytest.fixture(scope="module")
def sweeps():
    """Notebook 03's sweeps: the app's task and nets at :data:`F.DEFAULTS`."""
    return F.claim_sweeps()


def test_nets_fit_the_task(sweeps):
    for sweep in sweeps.values():
        assert np.all(sweep.loss < 0.01 * float(F.DEFAULTS["scale"]) ** 2), sweep.loss


def test_width_verdicts_hold_at_the_notebook_defaults(sweeps):
    """All three claims hold: each slope's 95% interval (pooled over seeds) lies inside its
    claimed band, and the side conditions (muP still moving, eNTK motion falling) are met."""
    verdicts = F.width_verdicts(sweeps)
    assert [v.key for v in verdicts] == ["features_ntk", "features_mup", "entk_motion"]
    for v in verdicts:
        assert v.status == "holds", v.summary
        assert v.notebook == "03_lazy_vs_feature_learning.ipynb"
    assert sweeps["mup"].mean("feature")[-1] > 0.1  # muP really learns features
    assert "3 widths x" in verdicts[1].measured_what  # muP: widths 256, 512, 1024


def test_kernel_motion_under_mup_does_not_fall(sweeps):
    mup = sweeps["mup"].fit("kernel", min_width=F.MUP_MIN_WIDTH)
    assert mup.ci95[1] > 0, mup  # the interval reaches above 0: no lazy-like fall
    assert sweeps["mup"].mean("kernel")[-1] > 0.2


def test_tour_uses_the_same_verdict_functions(sweeps, monkeypatch):
    """The tour's width verdicts are these functions; its sweeps are claim_sweeps at TOUR."""
    from ntk_explore import tour

    assert tour.feature_motion_verdict(sweeps) == F.features_ntk_verdict(sweeps)
    assert tour.mup_verdict(sweeps) == F.features_mup_verdict(sweeps)
    assert tour.entk_motion_verdict(sweeps) == F.entk_motion_verdict(sweeps)
    seen = {}
    monkeypatch.setattr(F, "claim_sweeps", lambda key=None, **kw: seen.update(kw) or "sweeps")
    assert tour.feature_sweeps() == "sweeps"
    assert seen == {"widths": F.TOUR["widths"], "seeds": F.TOUR["seeds"], "steps": F.TOUR["steps"]}


def test_pooled_fit_uses_every_seed(sweeps):
    sweep = sweeps["ntk"]
    fit = sweep.fit("feature")
    ref = fit_loglog(np.tile(sweep.widths, sweep.seeds), sweep.per_seed("feature").reshape(-1))
    assert fit == ref
    assert sweep.per_seed("feature").shape == (F.DEFAULTS["seeds"], len(F.DEFAULTS["widths"]))
    np.testing.assert_allclose(sweep.mean("feature"), sweep.feature.mean(axis=(0, 2)))


def test_lazy_regime_neither_kernel_factor_moves(sweeps):
    """Under NTK parametrization both factors of every layer shrink with width;
    under muP they stay put (ratio largest / smallest width)."""
    for q in ("feature_gram", "backprop_gram"):
        ntk = sweeps["ntk"].__getattribute__(q).mean(0)  # (W, L+1)
        mup = sweeps["mup"].__getattribute__(q).mean(0)
        moving = ntk[0] > 1e-6  # the input Gram and the output signal never move
        assert np.all(ntk[-1, moving] < 0.5 * ntk[0, moving]), (q, ntk)
        w256 = list(sweeps["mup"].widths).index(F.MUP_MIN_WIDTH)
        assert np.all(mup[-1, moving] > 0.5 * mup[w256, moving]), (q, mup)


def test_cka_drifts_from_one_only_with_feature_learning(sweeps):
    ntk_gap = 1 - sweeps["ntk"].cka.mean(axis=(0, 2))
    mup_gap = 1 - sweeps["mup"].cka.mean(axis=(0, 2))
    assert ntk_gap[-1] < 0.3 * ntk_gap[0]
    assert mup_gap[-1] > 3 * ntk_gap[-1]


# ---------------------------------------------------------------------------
# the topic's sweeps against the core: training.train per net, then measure_change


def _core_sweep(task, widths, *, key, parametrization, depth, lr, steps, seeds, alpha):
    """Per (seed, width): ``model.init``, ``training.train`` (centred when alpha != 1) and
    :func:`measure_change`, stacked like a :class:`FeatureSweep`."""
    runs = []
    for s in range(seeds):
        row = []
        for width in widths:
            model = mlp(task.x.shape[1], width, depth, task.y.shape[1],
                        parametrization=parametrization, alpha=alpha)
            p0 = model.init(jax.random.fold_in(key, s), dtype=task.x.dtype)
            y = task.y + model.apply(p0, task.x) if alpha != 1.0 else task.y
            res = train(model.apply, p0, task.x, y, steps=steps, record_every=steps,
                        lr=F.width_lr(lr, parametrization, width, 64, alpha), progress=False)
            row.append(F.measure_change(model, p0, res.params, task.x, res.loss[-1]))
        runs.append(row)
    return {f: np.array([[getattr(r, f) for r in row] for row in runs])
            for f in F.ChangeStats._fields}


def _core_coord_sizes(task, widths, *, key, parametrization, lr, steps, seeds, depth=2):
    """RMS coordinate changes from training.train(keep_params=True) and MLP.features."""
    size = np.full((seeds, steps, len(widths), depth + 1), np.nan)
    for j, width in enumerate(widths):
        model = mlp(task.x.shape[1], width, depth, task.y.shape[1], parametrization=parametrization)
        for s in range(seeds):
            p0 = model.init(jax.random.fold_in(key, s), dtype=task.x.dtype)
            res = train(model.apply, p0, task.x, task.y, lr=lr, steps=steps, record_every=1,
                        keep_params=True, progress=False, raise_on_divergence=False)
            h0, _, f0 = model.features(p0, task.x)
            for t, p in zip(res.steps[1:], res.param_history[1:]):
                ht, _, ft = model.features(p, task.x)
                size[s, t - 1, j] = [np.sqrt(np.mean((b - a) ** 2))
                                     for a, b in zip(h0 + [f0], ht + [ft])]
    return np.nanmean(size, axis=0)


@pytest.mark.parametrize("parametrization,alpha,depth", [("ntk", 1.0, 2), ("mup", 2.0, 1),
                                                          ("standard", 0.5, 3)])
def test_fast_sweep_equals_train_and_measure_change(key, parametrization, alpha, depth):
    """feature_sweeps (traced layer scalars, checkpoints) = train() + measure_change per net."""
    task = F.feature_task(key, n=16, d=3, scale=2.0)
    widths = (32, 64, 96)
    fast = F.feature_sweeps(task, widths, key=jax.random.key(4), steps=[0, 7, 20],
                            parametrization=parametrization, alpha=alpha, depth=depth, lr=0.5,
                            seeds=2)
    assert sorted(fast) == [0, 7, 20]
    for steps in (7, 20):
        ref = _core_sweep(task, widths, key=jax.random.key(4), steps=steps,
                          parametrization=parametrization, alpha=alpha, depth=depth, lr=0.5,
                          seeds=2)
        assert fast[steps].steps == steps and fast[steps].feature.shape == (2, 3, depth)
        for f in F.ChangeStats._fields:
            np.testing.assert_allclose(getattr(fast[steps], f), ref[f], rtol=1e-7,
                                       atol=1e-12, err_msg=f)
    assert not np.any(fast[0].feature) and fast[0].kernel.max() == 0  # step 0: nothing moved


def test_shared_draw_init_equals_model_init(key):
    for depth, width in ((1, 40), (3, 300)):
        model = mlp(5, width, depth, out_dim=2, parametrization="mup")
        ours = init_from_draw(model, key, dtype=jnp.float64)
        for a, b in zip(ours, model.init(key)):
            np.testing.assert_array_equal(a["w"], b["w"])
            np.testing.assert_array_equal(a["b"], b["b"])


def test_fast_sweep_flags_divergence(key):
    task = F.feature_task(key, n=16, d=3, scale=2.0)
    out = F.feature_sweeps(task, (32, 64, 96), key=key, steps=[1, 200], lr=50.0, seeds=1)
    assert 200 not in out and isinstance(out.divergence, F.DivergenceError)
    assert "diverged at step 1 " in str(out.divergence)  # the first count at which it had
    with pytest.raises(F.DivergenceError, match="lower the learning rate"):
        F.feature_sweep(task, (32, 64, 96), key=key, steps=200, lr=50.0, seeds=1)
    ok = F.feature_sweeps(task, (32, 64, 96), key=key, steps=[1, 2], lr=0.5, seeds=1)
    assert sorted(ok) == [1, 2] and ok.divergence is None


def test_precompile_then_sweep_does_not_compile(key):
    task = F.feature_task(key, n=12, d=3, dtype=jnp.float32)
    F.precompile_sweep(task, (48, 80, 112), depth=2)
    before = training.gd_segment._cache_size()
    F.feature_sweeps(task, (48, 80, 112), key=key, steps=[5, 10], parametrization="mup",
                     alpha=2.0, lr=0.3, seeds=2)
    assert training.gd_segment._cache_size() == before


@pytest.mark.parametrize("parametrization,lr", [("mup", 0.8), ("standard", 40.0)])
def test_fast_coord_check_equals_train_route(key, parametrization, lr):
    task = F.feature_task(key, n=16, d=3, scale=2.0)
    args = dict(key=jax.random.key(6), parametrization=parametrization, lr=lr, steps=3, seeds=2)
    fast = F.coord_check(task, (32, 128, 512), **args)
    ref = _core_coord_sizes(task, (32, 128, 512), **args)
    np.testing.assert_allclose(fast.size, ref, rtol=1e-8, atol=1e-14)  # NaN where diverged


# ---------------------------------------------------------------------------
# figures at the notebook's defaults pass the layout check


def test_figures_pass_the_layout_check(sweeps):
    from ntk_explore.plots import features as fplots
    from ntk_explore.plots.layout import layout_problems

    task, _ = F.claim_task()
    checks = [F.coord_check(task, (64, 256, 1024), key=jax.random.key(7), parametrization=p,
                            lr=0.8, steps=3, seeds=1) for p in ("standard", "ntk", "mup")]
    figures = {
        "feature change": fplots.feature_change_figure(sweeps, {"ntk": 0, "mup": F.MUP_MIN_WIDTH}),
        "feature change, ntk only": fplots.feature_change_figure({"ntk": sweeps["ntk"]}),
        "kernel factors": fplots.kernel_factor_figure(sweeps),
        "coordinate check": fplots.coord_check_figure(checks),
    }
    for name, fig in figures.items():
        fig.canvas.draw()
        assert layout_problems(fig) == [], name
        for ax in fig.axes:  # every log axis shows at least three labelled ticks
            lo, hi = sorted(ax.get_ylim())
            assert sum(lo <= t <= hi for t in ax.get_yticks()) >= 3, (name, ax.get_title())
