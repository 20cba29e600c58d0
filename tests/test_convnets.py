"""The small CNN and its kernels: the same net as neural-tangents' stax, its eNTK by every
route, its infinite-width kernels in blocks, and its lazy limit (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore.core import _nt_compat, convnets
from ntk_explore.core.kernels import empirical_ntk, flatten_blocks, kernel_regression, pntk
from ntk_explore.core.linearized import mse_dynamics
from ntk_explore.core.matfree import matfree_regression
from ntk_explore.core.training import gd_segment


def _stax_params(net, params):
    """Our stored parameters in stax's layout (conv, relu, ..., readout, dense)."""
    out = []
    for layer in params[:-1]:
        out += [(layer["w"], layer["b"].reshape(1, 1, 1, -1)), ()]
    last = params[-1]
    return out + [(), (last["w"].T, last["b"].reshape(1, -1))]


@pytest.fixture(params=["flatten", "gap"])
def small(request, key):
    net = convnets.cnn(6, 5, 2, channels=(3, 4), out_dim=3, readout=request.param, alpha=0.7)
    params = net.init(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (4, net.in_dim))
    return net, params, x


def test_same_net_as_stax(small):
    net, params, x = small
    init_fn, apply_fn, _ = convnets.stax_layers(net)
    _, ref = init_fn(jax.random.key(0), (-1, 6, 5, 2))
    ours = _stax_params(net, params)
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, ref)
    images = x.reshape(4, 6, 5, 2)
    np.testing.assert_allclose(net.apply(params, x), apply_fn(ours, images), rtol=1e-12, atol=1e-13)


def test_entk_equals_neural_tangents_and_a_jacobian_contraction(small):
    net, params, x = small
    x2 = x[:3] + 0.5
    ours = np.asarray(empirical_ntk(net.apply, batch_size=2)(x, x2, params))
    ntvp = np.asarray(empirical_ntk(net.apply, method="ntvp", batch_size=3)(x, x2, params))
    nt = _nt_compat.load()
    _, apply_fn, _ = convnets.stax_layers(net)
    ref = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0)(
        x.reshape(-1, 6, 5, 2), x2.reshape(-1, 6, 5, 2), _stax_params(net, params))
    # an explicit Jacobian: (n, k, P) from jacrev of the flattened parameters
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    j1 = jax.jacrev(lambda p: net.apply(unravel(p), x))(flat)  # (n1, k, P)
    j2 = jax.jacrev(lambda p: net.apply(unravel(p), x2))(flat)
    by_hand = np.einsum("acp,bep->abce", j1, j2)
    assert ours.shape == (4, 3, 3, 3)
    for other in (ntvp, np.asarray(ref), by_hand):
        np.testing.assert_allclose(ours, other, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("what", ["ntk", "nngp"])
def test_blocked_cntk_equals_stax(small, what):
    net, _, x = small
    x2 = jnp.concatenate([x, x[:1] * 2.0])
    got = convnets.cntk(net, x, x2, what=what, block_rows=3, block_cols=2)
    ref = convnets.stax_layers(net)[2](x.reshape(-1, 6, 5, 2), x2.reshape(-1, 6, 5, 2), what)
    assert got.shape == (4, 5) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-10)


def test_flatten_cntk_on_digits_equals_stax():
    from ntk_explore.topics import natural

    split = natural.digits_split(0)
    x = split.x[split.pool[:5]].astype(np.float64)
    net = natural.cnn_net()
    got = convnets.cntk(net, x, block_rows=2, block_cols=3)
    ref = convnets.stax_layers(net)[2](x.reshape(-1, 8, 8, 1), None, "ntk")
    np.testing.assert_allclose(got, ref, rtol=1e-7)
    np.testing.assert_allclose(got, got.T, rtol=1e-7)
    assert np.all(np.linalg.eigvalsh(got) > 0)


def test_cntk_memory_guard_names_the_shape(small, monkeypatch):
    net, _, x = small
    monkeypatch.setenv("NTK_EXPLORE_MAX_KERNEL_BYTES", "1000")
    with pytest.raises(MemoryError, match=r"\(4, 4, 1, 1\)"):
        convnets.cntk(net, x)


def test_centred_output_starts_at_zero(small):
    net, params, x = small
    centred = lambda p, a: net.apply(p, a) - net.apply(params, a)  # noqa: E731
    assert np.all(np.asarray(centred(params, x)) == 0.0)
    y = jnp.ones((4, 3))
    p1 = gd_segment(net, params, x, y + net.apply(params, x), 0.1, 1)
    assert np.linalg.norm(np.asarray(centred(p1, x))) > 0


def _lin_gap(net, params, x, y, lr, steps, gamma):
    """Relative distance of the centred net at output scale 1/gamma, trained by ``steps`` GD
    steps at ``lr * gamma**2``, from its linearisation (closed form with the full eNTK)."""
    model = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(net),
                                         [net.sigma_w, net.sigma_b, 1.0 / gamma])
    f0 = model.apply(params, x)
    p = gd_segment(model, params, x, y + f0, lr * gamma**2, steps)
    f = np.asarray(model.apply(p, x) - f0)
    k = np.asarray(empirical_ntk(net.apply, batch_size=None)(x, None, params))
    lin = mse_dynamics(k, np.asarray(y), np.zeros_like(f), steps=[steps], lr=lr).train[0]
    return np.linalg.norm(f - lin) / np.linalg.norm(lin)


def test_gamma_one_and_the_lazy_limit_agree_with_the_linearized_model(key):
    net = convnets.cnn(6, 6, 1, channels=(32, 32), out_dim=2)
    params = net.init(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (6, net.in_dim))
    y = jax.random.normal(jax.random.fold_in(key, 2), (6, 2))
    gaps = [_lin_gap(net, params, x, y, 0.5, 30, g) for g in (1.0, 0.1, 0.01)]
    assert gaps[0] < 0.05, gaps  # gamma = 1 at 32 channels: close to linear
    assert gaps[2] < 1e-3 and gaps[2] < gaps[1] < gaps[0], gaps  # -> 0 like gamma


def test_matrix_free_route_equals_dense(small):
    net, params, x = small
    xt = x[:2] * 0.3
    y = np.asarray(jax.random.normal(jax.random.key(5), (4, 3)))
    kfn = pntk(net.apply, 3, batch_size=None)
    dense = kernel_regression(kfn(x, None, params), y, kfn(xt, x, params), ridge=0.1)
    res = matfree_regression(net.apply, params, x, y, xt, kernel="pntk", ridge=0.1, tol=1e-12)
    np.testing.assert_allclose(res.predictions, dense, rtol=1e-8, atol=1e-10)
    full = empirical_ntk(net.apply, batch_size=None)
    dense_e = kernel_regression(flatten_blocks(full(x, None, params)), y.reshape(-1),
                                flatten_blocks(full(xt, x, params)), ridge=0.1).reshape(-1, 3)
    res_e = matfree_regression(net.apply, params, x, y, xt, kernel="entk", ridge=0.1, tol=1e-12)
    np.testing.assert_allclose(res_e.predictions, dense_e, rtol=1e-8, atol=1e-10)


def test_pytree_shapes_static_scalars_traced(small):
    net, params, x = small
    leaves, tree = jax.tree.flatten(net)
    assert len(leaves) == 3  # sigma_w, sigma_b, alpha
    calls = []

    @jax.jit
    def f(model, p, a):
        calls.append(1)
        return model.apply(p, a)

    f(net, params, x)
    f(jax.tree.unflatten(tree, [1.0, 0.2, 3.0]), params, x)
    assert len(calls) == 1  # a new output scale compiles nothing


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=2), "odd"), (dict(readout="max"), "readout"),
    (dict(channels=()), "channels"), (dict(alpha=0.0), "alpha"), (dict(height=0), "height")])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        convnets.cnn(**kwargs)


def test_apply_checks_the_input_shape(small):
    net, params, _ = small
    with pytest.raises(ValueError, match="x"):
        net.apply(params, jnp.ones((2, 7)))
