"""The one engine: the model's scalars are traced data, one resumable GD segment.

Compilation counts come from the jit caches (``fn._cache_size()``): moving alpha,
the parametrization or the learning rate must add no entry; a new width must.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore.core import training
from ntk_explore.core.kernels import mlp_ntk
from ntk_explore.core.models import PARAMETRIZATIONS, apply_jit, init_from_draw, mlp


@pytest.fixture
def data(key):
    kx, ky = jax.random.split(key)
    return jax.random.normal(kx, (12, 3)), jax.random.normal(ky, (12, 2))


def test_mlp_pytree_round_trip_keeps_every_field():
    model = mlp(3, 16, 2, 2, parametrization="mup", alpha=2.5, sigma_b=0.3, activation="tanh")
    leaves, tree = jax.tree.flatten(model)
    assert 2.5 in leaves and 0.3 in leaves and 16 not in leaves  # scalars are leaves, sizes not
    assert jax.tree.unflatten(tree, leaves) == model


def test_scalars_are_traced_sizes_are_static(data):
    x, _ = data
    base = mlp(3, 24, 2, 2)
    apply_jit(base, base.init(jax.random.key(0)), x)
    before = apply_jit._cache_size()
    for model in (dataclasses.replace(base, alpha=3.0),
                  dataclasses.replace(base, parametrization=PARAMETRIZATIONS["mup"]),
                  dataclasses.replace(base, sigma_w=1.0, sigma_b=0.5)):
        got = apply_jit(model, model.init(jax.random.key(0)), x)
        np.testing.assert_allclose(got, model.apply(model.init(jax.random.key(0)), x),
                                   rtol=1e-12)
    assert apply_jit._cache_size() == before
    wider = mlp(3, 32, 2, 2)
    apply_jit(wider, wider.init(jax.random.key(0)), x)
    assert apply_jit._cache_size() == before + 1


def test_gd_segment_compiles_once_for_every_lr_alpha_and_parametrization(data):
    x, y = data
    model = mlp(3, 20, 1, 2)
    p = model.init(jax.random.key(1))
    training.gd_segment(model, p, x, y, 0.1, 3)
    before = training.gd_segment._cache_size()
    for par in ("standard", "ntk", "mup"):
        for alpha, lr, count in ((1.0, 0.1, 5), (4.0, 0.01, 17)):
            m = mlp(3, 20, 1, 2, parametrization=par, alpha=alpha)
            training.gd_segment(m, m.init(jax.random.key(1)), x, y, lr, count)
    assert training.gd_segment._cache_size() == before


def test_segments_resume_exactly(data, key):
    """Several segments (GD and SGD) take the same steps as one run."""
    x, y = data
    model = mlp(3, 20, 2, 2)
    p0 = model.init(key)
    for batch in (None, 5):
        one = training.gd_segment(model, p0, x, y, 0.05, 12, key=key, batch_size=batch)
        p = p0
        for start, count in ((0, 4), (4, 1), (5, 7)):
            p = training.gd_segment(model, p, x, y, 0.05, count, key=key, start=start,
                                    batch_size=batch)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(p)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_masked_rows_and_outputs_equal_the_unpadded_problem(data, key):
    x, y = data
    model = mlp(3, 20, 1, 2)
    p0 = model.init(key)
    ref = training.gd_segment(model, p0, x[:9], y[:9], 0.1, 10)
    mask = (jnp.arange(12) < 9).astype(x.dtype)
    got = training.gd_segment(model, p0, x, y.at[9:].set(7.0), 0.1, 10, mask=mask)
    for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # an output mask: the second output's target does not matter
    one = training.gd_segment(model, p0, x, y, 0.1, 10, out_mask=jnp.array([1.0, 0.0]))
    other = training.gd_segment(model, p0, x, y.at[:, 1].set(-3.0), 0.1, 10,
                                out_mask=jnp.array([1.0, 0.0]))
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(other)):
        np.testing.assert_array_equal(a, b)


def test_gd_checkpoints_resume_and_centre(data, key):
    x, y = data
    model = mlp(3, 20, 1, 2)
    p0 = model.init(key)
    full = training.gd_checkpoints(model, p0, x, y, lr=0.1, steps=30, save_at=[10], center=True)
    assert sorted(full) == [10, 30]
    resumed = training.gd_checkpoints(model, p0, x, y, lr=0.1, steps=30, start=(10, full[10]),
                                      center=True, pad_min=16)
    centred = lambda p, z: model.apply(p, z) - model.apply(p0, z)  # noqa: E731
    ref = training.train(centred, p0, x, y, lr=0.1, steps=30, progress=False).params
    for a, b, c in zip(*(jax.tree.leaves(t) for t in (full[30], resumed[30], ref))):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, c, rtol=1e-10, atol=1e-12)


def test_train_keeps_one_compiled_segment_per_architecture(data):
    x, y = data
    training.train(mlp(3, 20, 1, 2).apply, mlp(3, 20, 1, 2).init(jax.random.key(0)), x, y,
                   lr=0.1, steps=5, progress=False)
    before = training.gd_segment._cache_size()
    for alpha in (0.5, 2.0):
        m = mlp(3, 20, 1, 2, alpha=alpha, parametrization="mup")
        training.train(m.apply, m.init(jax.random.key(0)), x, y, lr=0.02, steps=7,
                       progress=False)
    assert training.gd_segment._cache_size() == before


@pytest.mark.parametrize("draw_size", [None, 10_000, 3_000_000])
def test_shared_draw_init_is_model_init(key, draw_size):
    for width, depth in ((8, 1), (64, 3)):
        model = mlp(5, width, depth, 3, parametrization="mup")
        for a, b in zip(jax.tree.leaves(model.init(key)),
                        jax.tree.leaves(init_from_draw(model, key, draw_size=draw_size))):
            assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def test_traced_model_entk_equals_static_route(data, key):
    """mlp_ntk inside jit with a traced model equals mlp_ntk outside (same formula)."""
    x, _ = data
    model = mlp(3, 16, 2, 2, parametrization="mup", alpha=1.7)
    p = model.init(key)
    inside = jax.jit(lambda m, q: mlp_ntk(m)(x, None, q))(model, p)
    np.testing.assert_allclose(inside, mlp_ntk(model)(x, None, p), rtol=1e-12)
