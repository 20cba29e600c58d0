"""Head probing, energy/direction and the first fine-tuning step (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore import finetune as F
from ntk_explore.core.kernels import empirical_ntk
from ntk_explore.core.metrics import linear_cka
from ntk_explore.core.training import train


@pytest.fixture(scope="module")
def setup():
    data = F.digits_transfer(n_train=200)
    pre = F.pretrain_backbone(data, key=jax.random.key(0), steps=400)
    return data, pre


@pytest.fixture(scope="module")
def sweep(setup):
    data, pre = setup
    return F.tau_sweep(pre, data, key=jax.random.key(1), taus=(0, 30, 300, 3000), seeds=3,
                       ft_lr=0.5, ft_steps=200)


def _probed(setup, kind, tau, key=2):
    data, pre = setup
    hd = F.head(kind, pre.model.width, data.y_train.shape[1])
    z = F.backbone_features(pre.model, pre.params, data.x_train)
    hp = F.head_probe(hd, hd.init(jax.random.key(key)), z, data.y_train, [tau])[0]
    return hd, hp


@pytest.mark.parametrize("kind,tau", [("linear", 0), ("linear", 100), ("mlp", 30)])
def test_first_step_decomposition_is_second_order(setup, kind, tau):
    data, pre = setup
    hd, hp = _probed(setup, kind, tau)
    x, y = data.x_train[:64], data.y_train[:64]
    etas = [0.8 / 2**i for i in range(4)]
    ratios = F.residual_ratios(pre.model, pre.params, hd, hp, x, y, etas)
    assert np.all((ratios > 3.5) & (ratios < 4.5)), ratios
    step = F.first_step(pre.model, pre.params, hd, hp, x, y, etas[-1])
    assert step.residual < 0.05


def test_decomposition_equals_explicit_entk_contraction(setup):
    data, pre = setup
    hd, hp = _probed(setup, "linear", 10)
    x, y = data.x_train[:8], data.y_train[:8]
    step = F.first_step(pre.model, pre.params, hd, hp, x, y, 0.1)
    theta = empirical_ntk(lambda p, xx: F.backbone_features(pre.model, p, xx))(x, None, pre.params)
    assert theta.shape == (8, 8, pre.model.width, pre.model.width)
    explicit = -0.1 * jnp.einsum("abij,bj->ai", theta, step.start.feature_grad)
    np.testing.assert_allclose(step.predicted, explicit, rtol=1e-8, atol=1e-12)


def test_direction_is_head_jacobian_for_linear_head(setup):
    data, pre = setup
    hd, hp = _probed(setup, "linear", 0)
    z = F.backbone_features(pre.model, pre.params, data.x_train[:5])
    start = F.ft_start(hd, hp, z, data.y_train[:5])
    np.testing.assert_allclose(start.direction, jnp.broadcast_to(hp["w"][None], (5, 5, z.shape[1])))
    np.testing.assert_allclose(start.energy_vec.sum(axis=1), 0.0, atol=1e-12)


def test_energy_decreases_with_tau(sweep):
    energy = sweep.mean("energy")
    assert np.all(np.diff(energy) < 0), energy


def test_feature_change_follows_energy_at_small_lr(sweep):
    assert sweep.spearman() >= 0.8, (sweep.mean("energy"), sweep.mean("feature_change"))
    assert np.all(np.isfinite(sweep.accuracy)) and np.all(sweep.cka <= 1 + 1e-9)


def test_label_smoothing_keeps_energy_after_long_probing(setup):
    data, pre = setup
    hd = F.head("linear", pre.model.width, data.y_train.shape[1])
    z = F.backbone_features(pre.model, pre.params, data.x_train)
    hp0 = hd.init(jax.random.key(3))
    e = [F.ft_start(hd, F.head_probe(hd, hp0, z, F.smooth_labels(data.y_train, s), [1000])[0],
                    z, data.y_train).energy for s in (0.0, 0.3)]
    assert e[1] > 2 * e[0], e


def test_bad_inputs():
    with pytest.raises(ValueError, match="head"):
        F.head("conv", 4, 2)
    with pytest.raises(ValueError, match="smoothing"):
        F.smooth_labels(jnp.eye(3), 1.0)
    with pytest.raises(ValueError, match="overlap"):
        F.digits_transfer(source=(0, 1), target=(1, 2))
    hd = F.head("linear", 3, 2)
    with pytest.raises(ValueError, match="sorted"):
        y = jnp.eye(2)[jnp.array([0, 1, 0, 1])]
        F.head_probe(hd, hd.init(jax.random.key(0)), jnp.ones((4, 3)), y, [5, 1])
    with pytest.raises(ValueError, match="z must be"):
        F.ft_start(hd, hd.init(jax.random.key(0)), jnp.ones((4, 3)), jnp.ones((3, 2)))


# ---------------------------------------------------------------------------
# the topic's routes against the core's train()


def _core_finetune(pre, hd, hparams, data, *, lr, steps):
    """training.train on backbone and head together, then the same measurements."""
    def apply(p, x):
        return hd.apply(p[1], F.backbone_features(pre.model, p[0], x))

    res = train(apply, (pre.params, hparams), data.x_train, data.y_train, lr=lr,
                steps=steps, loss="xent", progress=False, record_every=steps,
                raise_on_divergence=False)
    if res.diverged_at is not None:
        return F.FTOutcome(np.nan, np.nan, np.nan, True)
    z0 = F.backbone_features(pre.model, pre.params, data.x_train)
    zt = F.backbone_features(pre.model, res.params[0], data.x_train)
    pred = np.asarray(jnp.argmax(apply(res.params, data.x_test), axis=1))
    return F.FTOutcome(float(jnp.linalg.norm(zt - z0) / jnp.linalg.norm(z0)),
                       linear_cka(zt, z0), float(np.mean(pred == data.labels_test)), False)


def _core_head_probe(hd, hparams, z, y, taus, *, lr=0.5):
    out, done = [], 0
    for t in taus:
        if t > done:
            hparams = train(hd.apply, hparams, z, y, lr=lr, steps=t - done, loss="xent",
                            progress=False, record_every=t - done).params
            done = t
        out.append(hparams)
    return out


@pytest.mark.parametrize("kind,lr", [("linear", 0.5), ("mlp", 2.0), ("linear", 500.0)])
def test_finetune_equals_train_route(setup, kind, lr):
    data, pre = setup
    hd, hp = _probed(setup, kind, 10)
    fast = F.finetune(pre, hd, hp, data, lr=lr, steps=40)
    ref = _core_finetune(pre, hd, hp, data, lr=lr, steps=40)
    assert fast.diverged == ref.diverged
    np.testing.assert_allclose(fast[:3], ref[:3], rtol=1e-8)


def test_head_probe_equals_train_route(setup):
    data, pre = setup
    hd = F.head("mlp", pre.model.width, data.y_train.shape[1])
    z = F.backbone_features(pre.model, pre.params, data.x_train)
    hp0, y = hd.init(jax.random.key(4)), F.smooth_labels(data.y_train, 0.1)
    fast = F.head_probe(hd, hp0, z, y, [0, 5, 5, 40])
    ref = _core_head_probe(hd, hp0, z, y, [0, 5, 5, 40])
    for a, b in zip(fast, ref):
        for la, lb in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(la, lb, rtol=1e-10, atol=1e-14)


def test_tau_sweep_with_shared_probes_equals_fresh_one(setup, sweep):
    data, pre = setup
    probed = F.probe_heads(pre, data, key=jax.random.key(1), head_kind="linear",
                           taus=(0, 30, 300, 3000), seeds=4)
    again = F.tau_sweep(pre, data, key=jax.random.key(1), taus=(0, 30, 300, 3000), seeds=3,
                        ft_lr=0.5, ft_steps=200, probed=probed)
    for name in ("energy", "feature_change", "cka", "accuracy"):
        np.testing.assert_allclose(getattr(again, name), getattr(sweep, name), rtol=1e-10)
    start = F.ft_start(F.head("linear", pre.model.width, 5), probed.heads[1][2],
                       F.backbone_features(pre.model, pre.params, data.x_train), data.y_train)
    assert start.energy == pytest.approx(probed.energy[1, 2], rel=1e-12)
    with pytest.raises(ValueError, match="probed heads"):
        F.tau_sweep(pre, data, key=jax.random.key(1), taus=(0, 30), seeds=2, probed=probed)


# ---------------------------------------------------------------------------
# verdicts (notebook 06 and the tour call these functions)


def test_head_probing_verdict_on_a_sweep(sweep):
    v = F.head_probing_verdict(sweep)
    assert v.key == "head_probing" and v.status == "holds", v.summary
    assert v.measured == pytest.approx(sweep.spearman())
    per = sweep.per_seed_spearman()
    assert v.interval == (per.min(), per.max()) and per.shape == (3,)


def test_head_probing_verdict_tour_setting_matches_the_tour():
    from ntk_explore import tour

    v = F.head_probing_verdict(seed=0)
    assert v == tour.head_probing_verdict() and v.status == "holds", v.summary
    assert "4 probing lengths" in v.measured_what


def test_head_probing_verdict_fails_without_ordering(sweep):
    import dataclasses

    flipped = dataclasses.replace(sweep, feature_change=sweep.feature_change[:, ::-1])
    assert F.head_probing_verdict(flipped).status == "does not hold"
    flat = dataclasses.replace(sweep, energy=sweep.energy[:, ::-1])  # energy rising with tau
    assert F.head_probing_verdict(flat).status == "does not hold"


def test_first_step_verdict_slope_two(setup):
    data, pre = setup
    hd, hp = _probed(setup, "linear", 30)
    etas = [0.8 / 2**i for i in range(4)]
    res = F.first_step_residuals(pre.model, pre.params, hd, hp, data.x_train[:64],
                                 data.y_train[:64], etas)
    v = F.first_step_verdict(etas, res)
    assert v.status == "holds" and abs(v.measured - 2) < 0.1, v.summary


def test_diverged_runs_are_counted_and_left_out(setup):
    data, pre = setup
    with pytest.warns(UserWarning, match="left out of the means"):
        sw = F.tau_sweep(pre, data, key=jax.random.key(1), taus=(0, 3000), seeds=2, ft_lr=500.0,
                         ft_steps=40)
    assert sw.diverged.shape == (2, 2) and sw.n_diverged.sum() == sw.diverged.sum() >= 1
    assert np.all(np.isnan(sw.feature_change[sw.diverged]))
