import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntk_explore.core import models
from ntk_explore.core.models import mlp


def test_shapes_and_param_count(key):
    m = mlp(5, 32, 3, out_dim=4)
    p = m.init(key)
    assert [q["w"].shape for q in p] == [(32, 5), (32, 32), (32, 32), (4, 32)]
    assert m.apply(p, jnp.ones((7, 5))).shape == (7, 4)
    assert m.num_params == sum(x.size for x in jax.tree.leaves(p))
    assert "b" not in mlp(5, 32, 1, bias=False).init(key)[0]


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_parametrizations_coincide_at_base_width(key, activation):
    x = jax.random.normal(key, (6, 3))
    outs = [mlp(3, 64, 2, 2, activation=activation, parametrization=p, base_width=64)
            for p in ("standard", "ntk", "mup")]
    f = [m.apply(m.init(jax.random.key(1)), x) for m in outs]
    np.testing.assert_allclose(f[0], f[1], rtol=1e-12)
    np.testing.assert_allclose(f[0], f[2], rtol=1e-12)


def test_standard_and_ntk_share_the_forward_pass_at_every_width(key):
    x = jax.random.normal(key, (6, 3))
    a, b = (mlp(3, 1024, 2, parametrization=p) for p in ("standard", "ntk"))
    np.testing.assert_allclose(a.apply(a.init(key), x), b.apply(b.init(key), x), rtol=1e-10)


def test_mup_output_layer_shrinks_like_base_over_width(key):
    """Effective output weights: sigma^2 / n (ntk) vs sigma^2 n0 / n^2 (mup), exactly."""
    for width in (64, 256, 2048):
        ntk, mup = (mlp(3, width, 2, parametrization=p, base_width=64) for p in ("ntk", "mup"))
        lo, lm = ntk.layers()[-1], mup.layers()[-1]
        ratio = (lm.w_mult * lm.w_std) ** 2 / (lo.w_mult * lo.w_std) ** 2
        assert ratio == pytest.approx(64 / width, rel=1e-12)
        # hidden and input layers: same effective variance as ntk
        for a, b in zip(ntk.layers()[:-1], mup.layers()[:-1]):
            assert (a.w_mult * a.w_std) == pytest.approx(b.w_mult * b.w_std, rel=1e-12)
            assert (a.b_mult * a.b_std) == pytest.approx(b.b_mult * b.b_std, rel=1e-12)


def test_effective_weight_variance_is_sigma2_over_fan_in():
    """Monte Carlo over 2048x2048 entries: var(W) = sigma_w^2 / fan_in within 5 s.e."""
    m = mlp(8, 2048, 2, sigma_w=1.7, parametrization="standard")
    p = m.init(jax.random.key(3))
    layer = m.layers()[1]
    w = np.asarray(layer.w_mult * p[1]["w"]).ravel()
    target = 1.7**2 / 2048
    se = target * math.sqrt(2 / w.size)
    assert abs(w.var() - target) < 5 * se


def test_alpha_scales_outputs(key):
    x = jax.random.normal(key, (4, 3))
    a, b = mlp(3, 16, 1), mlp(3, 16, 1, alpha=7.5)
    np.testing.assert_allclose(b.apply(b.init(key), x), 7.5 * a.apply(a.init(key), x), rtol=1e-12)


def test_lr_scales_follow_c_exponents():
    p = models.Parametrization("custom", a=(0, 0.5, 0.5), b=(0, 0, 0), c=(1.0, 0.0, -1.0))
    m = mlp(3, 256, 2, parametrization=p, base_width=64)
    s = m.lr_scales()
    assert s[0]["w"] == pytest.approx(0.25) and s[1]["w"] == 1.0 and s[2]["w"] == pytest.approx(4)
    assert s[0]["b"] == pytest.approx(0.25) and s[2]["b"] == 1.0  # output bias is O(1)


# --- bad input: every message names the bad value -------------------------------------


@given(st.integers(max_value=0))
@settings(max_examples=25, deadline=None)
def test_non_positive_sizes_raise(bad):
    for kwargs in ({"width": bad}, {"depth": bad}, {"in_dim": bad}, {"out_dim": bad}):
        args = {"in_dim": 3, "width": 8, "depth": 1, "out_dim": 1} | kwargs
        with pytest.raises(ValueError, match=str(bad)):
            mlp(**args)


@given(st.text(min_size=1, max_size=12).filter(lambda s: s not in models.ACTIVATIONS))
@settings(max_examples=25, deadline=None)
def test_unknown_activation_raises(name):
    with pytest.raises(ValueError, match="unknown activation"):
        mlp(3, 8, 1, activation=name)


@given(st.text(min_size=1, max_size=12).filter(lambda s: s not in models.PARAMETRIZATIONS))
@settings(max_examples=25, deadline=None)
def test_unknown_parametrization_raises(name):
    with pytest.raises(ValueError, match="unknown parametrization"):
        mlp(3, 8, 1, parametrization=name)


@given(st.integers(1, 9).filter(lambda d: d != 4), st.integers(1, 5))
@settings(max_examples=20, deadline=None)
def test_mismatched_input_shape_raises(d, n):
    m = mlp(4, 8, 1)
    with pytest.raises(ValueError, match=rf"^x must have 4 features \(last axis\), got shape \({n}, {d}\)"):
        m.apply(m.init(jax.random.key(0)), jnp.ones((n, d)))


@pytest.mark.parametrize("name,value", [("sigma_w", 0.0), ("sigma_w", float("nan")),
                                        ("alpha", -1.0), ("sigma_b", -0.1)])
def test_bad_scales_raise(name, value):
    with pytest.raises(ValueError, match=name):
        mlp(3, 8, 1, **{name: value})
