"""Head probing, energy/direction and the first fine-tuning step (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore import finetune as F
from ntk_explore.kernels import empirical_ntk


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


def test_widget_tau_slider_recomputes(setup):
    from ntk_explore.widgets.finetune import FinetuneApp

    data, pre = setup
    app = FinetuneApp(seeds=2, taus=(0, 30), tau=0, ft_steps=20, data=data, pretrained=pre)
    before = app.step.start.energy, app.readout.value
    app.tau.value = 30
    assert app.step.start.energy < before[0] and app.readout.value != before[1]
    assert app.sweep.energy.shape == (2, 2)
