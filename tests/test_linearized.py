"""Closed-form linearized dynamics against explicit gradient descent, the
kernel-regression limit, and the one-step eNTK prediction of a real net."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore.core import kernels, linearized, training
from ntk_explore.core.models import mlp


@pytest.fixture
def problem():
    model = mlp(3, 128, 2, 2, activation="tanh")
    params0 = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (16, 3))
    y = jnp.stack([jnp.sin(2 * x[:, 0]), x[:, 1] * x[:, 2]], axis=1)
    xt = jax.random.normal(jax.random.key(2), (5, 3))
    ntk = kernels.mlp_ntk(model)
    return model, params0, x, y, xt, ntk(x, None, params0), ntk(xt, x, params0)


def test_closed_form_gd_equals_explicit_gd_on_linearized_model(problem):
    model, p0, x, y, xt, k_train, k_test = problem
    lr = 0.5 * linearized.stable_lr(k_train)
    lin = linearized.linearize(model.apply, p0)
    steps = [0, 1, 7, 40]
    explicit = training.train(lin, p0, x, y, lr=lr, steps=40, record_every=40, ntk_steps=(),
                              record_x=xt, progress=False)
    # record points 0 and 40 only; add 1 and 7 by separate runs
    out = {0: explicit.outputs[0], 40: explicit.outputs[-1]}
    for s in (1, 7):
        out[s] = training.train(lin, p0, x, y, lr=lr, steps=s, record_every=s, record_x=xt,
                                progress=False).outputs[-1]
    closed = linearized.mse_dynamics(k_train, y, model.apply(p0, x), ntk_test_train=k_test,
                                     f0_test=model.apply(p0, xt), steps=steps, lr=lr)
    for i, s in enumerate(steps):
        np.testing.assert_allclose(closed.test[i], out[s], rtol=1e-9, atol=1e-11)


def test_gradient_flow_limit_is_kernel_regression(problem):
    model, p0, x, y, xt, k_train, k_test = problem
    f0, f0t = model.apply(p0, x), model.apply(p0, xt)
    flow = linearized.mse_dynamics(k_train, y, f0, ntk_test_train=k_test, f0_test=f0t,
                                   times=[1e12])
    interp = kernels.kernel_regression(kernels.flatten_blocks(k_train), (y - f0).reshape(-1),
                                       kernels.flatten_blocks(k_test))
    np.testing.assert_allclose(flow.test[0], f0t + interp.reshape(f0t.shape), rtol=1e-7,
                               atol=1e-9)
    np.testing.assert_allclose(flow.train[0], y, atol=1e-9)


def test_gradient_flow_is_the_small_step_limit_of_gd(problem):
    model, p0, x, y, xt, k_train, k_test = problem
    f0, f0t = model.apply(p0, x), model.apply(p0, xt)
    flow = linearized.mse_dynamics(k_train, y, f0, ntk_test_train=k_test, f0_test=f0t, times=[2.0])
    gaps = []
    for s in (200, 400, 800):
        gd = linearized.mse_dynamics(k_train, y, f0, ntk_test_train=k_test, f0_test=f0t,
                                     steps=[s], lr=2.0 / s)
        gaps.append(np.abs(gd.test - flow.test).max())
    assert gaps[0] / gaps[1] == pytest.approx(2, rel=0.1)  # O(lr) discretisation error
    assert gaps[1] / gaps[2] == pytest.approx(2, rel=0.1)


def test_scalar_kernel_means_kernel_times_identity(problem):
    model, p0, x, y, xt, k_train, k_test = problem
    kt = kernels.ntk_trace(k_train) / 2
    ks = kernels.ntk_trace(k_test) / 2
    eye = jnp.eye(2)[None, None]
    a = linearized.mse_dynamics(kt, y, y * 0, ntk_test_train=ks, f0_test=jnp.zeros((5, 2)),
                                times=[0.3, 3.0])
    b = linearized.mse_dynamics(kt[..., None, None] * eye, y, y * 0,
                                ntk_test_train=ks[..., None, None] * eye,
                                f0_test=jnp.zeros((5, 2)), times=[0.3, 3.0])
    np.testing.assert_allclose(a.test, b.test, rtol=1e-12)


@pytest.mark.parametrize("parametrization", ["ntk", "mup", "standard"])
@pytest.mark.parametrize("activation", ["tanh", "erf"])
def test_one_real_gd_step_is_minus_eta_entk_times_loss_gradient(parametrization, activation):
    """f_1(x*) - f_0(x*) = -eta Theta(x*, X) dL/df + O(eta^2): residual / 4 per halving.

    Smooth activations only: with ReLU a step can flip units across the kink, and the
    remainder is then not a clean eta^2 term.
    """
    model = mlp(3, 64, 2, 2, activation=activation, parametrization=parametrization,
                base_width=32)
    p0 = model.init(jax.random.key(5))
    x = jax.random.normal(jax.random.key(6), (10, 3))
    y = jnp.cos(x[:, :2])
    xt = jax.random.normal(jax.random.key(7), (6, 3))
    k_test = kernels.mlp_ntk(model)(xt, x, p0)  # (6, 10, 2, 2)
    dl_df = (model.apply(p0, x) - y) / x.shape[0]  # gradient of 1/(2n)||f - y||^2
    predicted_per_eta = -jnp.einsum("abce,be->ac", k_test, dl_df)
    residuals = []
    for eta in (0.08, 0.04, 0.02, 0.01):
        p1 = training.train(model.apply, p0, x, y, lr=eta, steps=1, record_every=1,
                            progress=False).params
        change = model.apply(p1, xt) - model.apply(p0, xt)
        residuals.append(float(jnp.linalg.norm(change - eta * predicted_per_eta)))
    ratios = np.array(residuals[:-1]) / np.array(residuals[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), ratios


def test_divergent_learning_rate_is_refused(problem):
    model, p0, x, y, xt, k_train, k_test = problem
    limit = linearized.stable_lr(k_train)
    with pytest.raises(training.DivergenceError, match="stable only below"):
        linearized.mse_dynamics(k_train, y, model.apply(p0, x), steps=[10], lr=1.01 * limit)


def test_argument_errors(problem):
    model, p0, x, y, xt, k_train, k_test = problem
    f0 = model.apply(p0, x)
    with pytest.raises(ValueError, match="exactly one"):
        linearized.mse_dynamics(k_train, y, f0)
    with pytest.raises(ValueError, match="both be"):
        linearized.mse_dynamics(k_train, y[:, :1], f0, times=[1.0])
    with pytest.raises(ValueError, match="f0_test"):
        linearized.mse_dynamics(k_train, y, f0, ntk_test_train=k_test, times=[1.0])


def test_linearize_is_exact_at_params0_and_first_order(problem):
    model, p0, x, *_ = problem
    lin = linearized.linearize(model.apply, p0)
    np.testing.assert_allclose(lin(p0, x), model.apply(p0, x), rtol=1e-12)
    d = jax.tree.map(lambda p: 1e-4 * jnp.ones_like(p), p0)
    p1 = jax.tree.map(jnp.add, p0, d)
    gap = jnp.abs(lin(p1, x) - model.apply(p1, x)).max()
    p2 = jax.tree.map(lambda p, e: p + 0.5 * e, p0, d)
    gap2 = jnp.abs(lin(p2, x) - model.apply(p2, x)).max()
    assert 3.5 < gap / gap2 < 4.5  # second-order remainder
