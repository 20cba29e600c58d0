"""Property-based checks of the core entry points (hypothesis, bounded examples).

Shapes, symmetry and positive semi-definiteness of kernels, agreement between
independent routes, and invalid inputs raising errors that name the argument.
Widths and point counts stay small and few distinct shapes are drawn, so that
compiled programs are reused across examples (the file runs in well under a minute).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntk_explore as ne

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True)

arch = st.tuples(st.sampled_from(["relu", "erf", "tanh"]), st.sampled_from(["ntk", "mup", "standard"]),
                 st.sampled_from([1, 2]), st.sampled_from([1, 3]))


def _inputs(seed: int, n: int, d: int, norm: float) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return norm * x / np.linalg.norm(x, axis=1, keepdims=True)


@SETTINGS
@given(arch, st.integers(0, 2**16), st.floats(0.1, 10.0))
def test_entk_shapes_symmetry_psd_and_routes_agree(arch, seed, norm):
    activation, par, depth, k = arch
    model = ne.mlp(3, 8, depth, k, activation=activation, parametrization=par)
    params = model.init(jax.random.key(seed))
    x1, x2 = _inputs(seed, 4, 3, norm), _inputs(seed + 1, 2, 3, norm)
    structured = ne.mlp_ntk(model)(x1, x2, params)
    assert structured.shape == (4, 2, k, k)
    generic = ne.empirical_ntk(model.apply, lr_scales=model.lr_scales())(x1, x2, params)
    np.testing.assert_allclose(structured, generic, rtol=1e-9, atol=1e-12)
    K = np.asarray(ne.flatten_blocks(ne.mlp_ntk(model)(x1, None, params)))
    assert np.max(np.abs(K - K.T)) <= 1e-12 * np.max(np.abs(K))
    assert np.linalg.eigvalsh(K)[0] >= -1e-10 * np.linalg.eigvalsh(K)[-1]
    pntk = ne.mlp_pntk(model)(x1, x2, params)
    assert pntk.shape == (4, 2)


@SETTINGS
@given(st.sampled_from(["relu", "erf", "tanh"]), st.sampled_from(["ntk", "mup"]),
       st.sampled_from([1, 2]), st.integers(0, 2**16), st.floats(0.1, 10.0))
def test_infinite_kernels_symmetric_psd(activation, par, depth, seed, norm):
    model = ne.mlp(3, 64, depth, activation=activation, parametrization=par)
    x = _inputs(seed, 5, 3, norm)
    k = ne.infinite_kernel_fn(model)(x)
    for K in (np.asarray(k.nngp), np.asarray(k.ntk)):
        assert K.shape == (5, 5)
        assert np.max(np.abs(K - K.T)) <= 1e-12 * np.max(np.abs(K))
        assert np.linalg.eigvalsh(K)[0] >= -1e-10 * np.linalg.eigvalsh(K)[-1]
    cross = ne.infinite_kernel_fn(model)(x[:2], x)
    np.testing.assert_allclose(cross.ntk, np.asarray(k.ntk)[:2], rtol=1e-10)


@SETTINGS
@given(st.integers(2, 8), st.integers(1, 8), st.integers(0, 2**16))
def test_kernel_regression_is_the_minimum_norm_interpolant(n, r, seed):
    """K = A A^T of rank min(r, n): predictions equal B w for the minimum-norm w with
    A w = y, the same as the pseudo-inverse (an independent route)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, r)), rng.normal(size=(3, r))
    y = a @ rng.normal(size=r)
    pred = ne.kernel_regression(a @ a.T, y, b @ a.T)
    w = np.linalg.pinv(a) @ y
    np.testing.assert_allclose(pred, b @ w, rtol=1e-6, atol=1e-8 * np.abs(b @ w).max())
    ridge = ne.kernel_regression(a @ a.T, y, b @ a.T, ridge=0.3)
    np.testing.assert_allclose(ridge, b @ a.T @ np.linalg.solve(a @ a.T + 0.3 * np.eye(n), y),
                               rtol=1e-9, atol=1e-12)


@SETTINGS
@given(st.integers(2, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_mse_dynamics_matches_gd_and_its_limit(n, r, seed):
    """Closed-form GD = explicit GD on the kernel model; flow at long times = the
    minimum-norm interpolant on the kernel's range, the rest of the residual unmoved."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, r))
    K = a @ a.T
    y, f0 = rng.normal(size=(n, 1)), rng.normal(size=(n, 1))
    lr = 0.9 * ne.stable_lr(K)
    out = ne.mse_dynamics(K, y, f0, steps=[5], lr=lr)
    f = f0.copy()
    for _ in range(5):
        f = f - lr / n * K @ (f - y)
    np.testing.assert_allclose(out.train[0], f, rtol=1e-8, atol=1e-10)
    late = ne.mse_dynamics(K, y, f0, times=[1e9]).train[0]
    proj = a @ np.linalg.pinv(a)  # projector onto the range of K
    np.testing.assert_allclose(late - y, (np.eye(n) - proj) @ (f0 - y), atol=1e-6)


@SETTINGS
@given(st.integers(1, 5).filter(lambda d: d != 3), st.integers(1, 4))
def test_wrong_feature_dimension_is_named(d, n):
    model = ne.mlp(3, 8, 1)
    params = model.init(jax.random.key(0))
    x = jnp.ones((n, d))
    with pytest.raises(ValueError, match=rf"^x1 must have 3 features \(last axis\), got shape \({n}, {d}\)"):
        ne.mlp_ntk(model)(x, None, params)
    with pytest.raises(ValueError, match=r"^x1 must have 3 features"):
        ne.infinite_kernel_fn(model)(x)
    with pytest.raises(ValueError, match=r"apply\(params, x\[:1\]\) failed .*x must have shape \(n, 3\)"):
        ne.train(model.apply, params, x, jnp.ones((n, 1)), lr=0.1, steps=1, progress=False)


@SETTINGS
@given(st.lists(st.floats(-1e3, -1e-6), min_size=1, max_size=3))
def test_any_negative_time_is_refused(times):
    with pytest.raises(ValueError, match=r"^times must be a 1-D sequence of non-negative"):
        ne.mse_dynamics(np.eye(2), np.ones((2, 1)), np.zeros((2, 1)), times=[1.0] + times)


@SETTINGS
@given(st.floats(1e-5, 1.0), st.integers(0, 2**16))
def test_asymmetric_kernels_are_refused(eps, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(4, 4))
    K = a @ a.T
    K[0, 1] += eps * np.max(np.abs(K))
    with pytest.raises(ValueError, match=r"^ntk_train must be symmetric"):
        ne.stable_lr(K)
