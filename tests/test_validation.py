"""Each class of bad input ends in a clear error naming the argument, or a correct answer.

Issue 14's examples first, then one test per class; the messages asserted are the ones
a user sees (their start, where the argument is named).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_explore as ne
from ntk_explore.core import kernels, validation

# --- the examples -----------------------------------------------------------


def test_rank_deficient_kernel_gives_the_minimum_norm_answer():
    """A rank-2 3x3 PSD kernel: the answer is phi(x*) . w for the minimum-norm w with
    A w = y (exact when y is in the range), not Cholesky's O(1)-wrong one."""
    rng = np.random.default_rng(0)
    a, b, w = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=2)
    pred = ne.kernel_regression(a @ a.T, a @ w, b @ a.T)
    np.testing.assert_allclose(pred, b @ w, rtol=1e-8, atol=1e-10)


def test_all_zero_kernel_is_refused():
    with pytest.raises(ValueError, match=r"^k_train is all zero \(3 x 3\)"):
        ne.kernel_regression(np.zeros((3, 3)), np.ones(3), np.ones((2, 3)))


def test_integer_inputs_are_promoted_not_zeroed(key):
    model = ne.mlp(3, 16, 1, 2)
    params = model.init(key)
    x_int = jnp.arange(12).reshape(4, 3) % 3
    k_int = ne.mlp_pntk(model)(x_int, None, params)
    k_float = ne.mlp_pntk(model)(x_int.astype(float), None, params)
    assert np.max(np.abs(k_int)) > 0
    np.testing.assert_allclose(k_int, k_float, rtol=1e-12)


def test_infinite_kernel_checks_the_input_dimension():
    with pytest.raises(ValueError, match=r"^x1 must have 3 features \(last axis\), got shape \(5, 4\)"):
        ne.infinite_kernel_fn(ne.mlp(3, 8, 1))(jnp.ones((5, 4)))
    with pytest.raises(ValueError, match=r"^x1 must have 3 features"):
        ne.infinite_kernel_fn(ne.mlp(3, 8, 1, activation="tanh"))(jnp.ones((5, 4)))


def test_train_refuses_a_target_with_the_wrong_number_of_outputs(key):
    model = ne.mlp(2, 8, 1)
    x = jnp.ones((16, 2))
    with pytest.raises(ValueError, match=r"^y must be \(n, k\) with k = the model's 1 outputs, "
                                         r"got y of shape \(16, 3\)"):
        ne.train(model.apply, model.init(key), x, jnp.ones((16, 3)), lr=0.1, steps=1,
                 progress=False)


def test_negative_times_are_refused():
    K = np.eye(3)
    with pytest.raises(ValueError, match=r"^times must be a 1-D sequence of non-negative"):
        ne.mse_dynamics(K, np.ones((3, 1)), np.zeros((3, 1)), times=[-5.0])


def test_unsorted_widths_keep_slider_and_sweep_in_step():
    from ntk_explore.widgets.convergence import EntkWidthApp

    app = EntkWidthApp(n_points=8, seeds=2, depth=1, widths=(128, 32, 64), width=128)
    assert tuple(app.width.options) == (32, 64, 128)
    sweep = app.sweep()
    j = list(sweep.widths).index(128)
    assert app.error == float(sweep.errors[0, j])
    with pytest.raises(ValueError, match=r"^width must be one of widths \[32, 64, 128\], got 16"):
        EntkWidthApp(n_points=8, seeds=2, depth=1, widths=(128, 32, 64), width=16)


# --- one test per class --------------------------------------------------------------


def test_kernel_feature_dimension_and_rank(key):
    model = ne.mlp(3, 8, 1)
    params = model.init(key)
    for fn in (ne.mlp_ntk(model), ne.mlp_pntk(model)):
        with pytest.raises(ValueError, match=r"^x1 must be \(n, 3\) \(2-D\), got shape \(3,\)"):
            fn(jnp.ones(3), None, params)
        with pytest.raises(ValueError, match=r"^x2 must have 3 features"):
            fn(jnp.ones((2, 3)), jnp.ones((2, 5)), params)
    with pytest.raises(ValueError, match=r"^x must have 3 features"):
        model.apply(params, jnp.ones((2, 2)))


def test_lists_and_numpy_integers_are_accepted(key):
    model = ne.mlp(np.int64(2), np.int32(8), np.int64(1))
    params = model.init(key)
    from_list = ne.mlp_ntk(model)([[0.0, 1.0], [1.0, 2.0]], None, params)
    from_array = ne.mlp_ntk(model)(jnp.array([[0.0, 1.0], [1.0, 2.0]]), None, params)
    np.testing.assert_allclose(from_list, from_array, rtol=1e-12)
    assert ne.stable_lr([[2.0, 0.0], [0.0, 1.0]]) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_are_named_as_bad_data(key, bad):
    model = ne.mlp(2, 8, 1)
    params = model.init(key)
    x = np.ones((4, 2))
    x[1, 0] = bad
    with pytest.raises(ValueError, match=r"^x1 contains 1 non-finite value\(s\)"):
        ne.mlp_ntk(model)(x, None, params)
    with pytest.raises(ValueError, match=r"^x contains 1 non-finite value\(s\).*bad data"):
        ne.train(model.apply, params, x, np.ones((4, 1)), lr=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"^y_train contains"):
        ne.kernel_regression(np.eye(4), x[:, 0], np.eye(4))


def test_divergence_error_means_divergence_only(key):
    model = ne.mlp(2, 8, 1)
    x = jax.random.normal(key, (8, 2))
    with pytest.raises(ne.DivergenceError, match="diverged"):
        ne.train(model.apply, model.init(key), x, jnp.ones((8, 1)), lr=1e4, steps=50,
                 progress=False)
    assert not issubclass(ne.DivergenceError, ValueError)


def test_params_that_do_not_match_the_model(key):
    model = ne.mlp(3, 8, 1)
    other = ne.mlp(3, 16, 1).init(key)
    with pytest.raises(ValueError, match=r"^params do not match the model \(in_dim=3, width=8"):
        ne.mlp_ntk(model)(jnp.ones((2, 3)), None, other)
    with pytest.raises(ValueError, match=r"^params do not match the model"):
        model.apply(other, jnp.ones((2, 3)))


@pytest.mark.parametrize("bad", [0, 1.5, "seed", np.array([1, 2, 3], np.uint32)])
def test_keys_are_checked(bad):
    with pytest.raises(TypeError, match=r"^key must be a JAX random key, i\.e\. jax\.random\.key\(seed\)"):
        ne.mlp(2, 8, 1).init(bad)
    with pytest.raises(TypeError, match=r"^key must be a JAX random key"):
        ne.zigzag.make_toy(bad)


def test_legacy_keys_still_work():
    ne.mlp(2, 8, 1).init(jax.random.PRNGKey(0))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"parametrization": 3}, TypeError, r"^parametrization must be a name"),
    ({"parametrization": "NTK"}, ValueError, r"^unknown parametrization 'NTK'"),
    ({"activation": jnp.tanh}, TypeError, r"^activation must be a string"),
    ({"activation": "gelu"}, ValueError, r"^unknown activation 'gelu'"),
    ({"sigma_w": "1"}, TypeError, r"^sigma_w must be a real number"),
    ({"sigma_w": float("nan")}, ValueError, r"^sigma_w must be finite"),
    ({"bias": 1}, TypeError, r"^bias must be True or False"),
])
def test_model_arguments_of_the_wrong_type(kwargs, error, match):
    with pytest.raises(error, match=match):
        ne.mlp(2, 8, 1, **kwargs)


@pytest.mark.parametrize("width,error", [(0, ValueError), (-3, ValueError), (8.0, TypeError),
                                         (True, TypeError), ("8", TypeError)])
def test_sizes_must_be_integers(width, error):
    with pytest.raises(error, match=r"^width must be an integer"):
        ne.mlp(2, width, 1)


def test_non_symmetric_and_indefinite_kernels_are_refused():
    y, f0 = np.ones((2, 1)), np.zeros((2, 1))
    for fn in (lambda K: ne.mse_dynamics(K, y, f0, times=[1.0]), ne.stable_lr):
        with pytest.raises(ValueError, match=r"^ntk_train must be symmetric: max\|K - K\^T\|"):
            fn(np.array([[1.0, 0.5], [0.0, 1.0]]))
        with pytest.raises(ValueError, match=r"^ntk_train must be positive semi-definite"):
            fn(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(kernels.NotPositiveDefiniteError, match="positive semi-definite"):
        ne.kernel_regression(np.array([[1.0, 2.0], [2.0, 1.0]]), np.ones(2), np.eye(2))


def test_zero_modes_of_a_singular_kernel_do_not_move():
    """K = u u^T: the residual along u decays, the one orthogonal to it stays."""
    u = np.array([1.0, 1.0]) / np.sqrt(2)
    K = 3.0 * np.outer(u, u) + 1e-17 * np.eye(2)  # round-off below the zero-mode threshold
    r0 = np.array([[1.0], [-1.0]])  # orthogonal to u
    out = ne.mse_dynamics(K, np.zeros((2, 1)), r0, times=[0.0, 10.0, 1e6])
    np.testing.assert_allclose(out.train[-1], r0, rtol=1e-12)


def test_steps_schedule_is_checked():
    K, y, f0 = np.eye(2), np.ones((2, 1)), np.zeros((2, 1))
    with pytest.raises(ValueError, match=r"^steps must be a 1-D sequence of non-negative integer"):
        ne.mse_dynamics(K, y, f0, steps=[1.5], lr=0.1)
    with pytest.raises(ne.DivergenceError, match="diverges for this kernel"):
        ne.mse_dynamics(K, y, f0, steps=[10], lr=10.0)


def test_memory_guard_counts_jacobian_blocks(key, monkeypatch):
    """4 inputs give a tiny kernel, but the Jacobian blocks of a 250k-parameter net do not fit."""
    model = ne.mlp(2, 512, 2)  # 265k parameters: Jacobian blocks of 4 + 4 inputs take 16 MiB
    params = model.init(key)
    monkeypatch.setenv("NTK_EXPLORE_MAX_KERNEL_BYTES", "1e6")
    with pytest.raises(MemoryError, match=r"^a kernel of shape \(4, 4, 1, 1\) with jacobian blocks"):
        ne.empirical_ntk(model.apply)(jnp.ones((4, 2)), None, params)
    with pytest.raises(MemoryError, match=r"^the parameters of this MLP"):
        ne.mlp(2, 2048, 2).init(key)


def test_memory_guard_counts_kept_sweep_kernels(key, monkeypatch):
    monkeypatch.setenv("NTK_EXPLORE_MAX_KERNEL_BYTES", "2e5")
    x = jnp.ones((40, 2))  # one kernel: 12.5 KiB; 5 seeds x 4 widths kept: 250 KiB
    with pytest.raises(MemoryError, match=r"20 kept eNTKs \(keep_kernels=True\)"):
        ne.entk_convergence(x, (8, 16, 32, 64), key=key, seeds=5, keep_kernels=True)


@pytest.mark.parametrize("value", ["lots", "-1", "0", "nan"])
def test_memory_environment_variable_is_validated(monkeypatch, value):
    monkeypatch.setenv("NTK_EXPLORE_MAX_KERNEL_BYTES", value)
    with pytest.raises(ValueError, match=r"^environment variable NTK_EXPLORE_MAX_KERNEL_BYTES "
                                         r"must be a positive number of bytes"):
        kernels.check_kernel_memory(2, 2)


@pytest.mark.parametrize("widths,match", [((8, 0), r"^widths\[1\] must be an integer of at least 1"),
                                          ("wide", r"^widths must be a sequence of integers"),
                                          ((8, 8, 16), r"^widths must not repeat values")])
def test_width_lists(key, widths, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ne.entk_convergence(jnp.ones((3, 2)), widths, key=key)


def test_topic_functions_check_their_arguments(key):
    with pytest.raises(ValueError, match=r"^lr must be a number > 0, got -1\.0"):
        ne.features.width_lr(-1.0, "ntk", 64)
    with pytest.raises(TypeError, match=r"^n_train must be an integer, got str"):
        ne.equivalence.regression_task("1d", key=key, n_train="16")
    with pytest.raises(ValueError, match=r"^ridge must be >= 0"):
        ne.scaling.regress(np.eye(2), np.ones(2), np.eye(2), ridge=-1.0)


def test_app_settings_outside_a_slider_are_refused():
    from ntk_explore.widgets.equivalence import ThreeLearnersApp

    with pytest.raises(ValueError, match=r"^width must be one of the slider's options"):
        ThreeLearnersApp(width=100)
    with pytest.raises(ValueError, match=r"^depth must be one of the slider's options"):
        ThreeLearnersApp(depth=5)  # an IntSlider would silently clip it to 3


def test_app_warns_before_a_slow_sweep():
    from ntk_explore.widgets import convergence

    assert convergence.sweep_seconds(48, convergence.WIDTHS, 5, 2) < convergence.SLOW_SECONDS
    with pytest.warns(UserWarning, match=r"EntkWidthApp: the sweep .* is estimated at about"):
        convergence._warn_if_slow(48, (16384, 32768), 5, 2)


def test_validation_helpers_name_the_argument():
    with pytest.raises(TypeError, match=r"^xs must be a real numeric array, got complex"):
        validation.as_float_array("xs", np.ones(2, complex))
    with pytest.raises(TypeError, match=r"^xs must be a numeric array"):
        validation.as_float_array("xs", "abc")
    with pytest.raises(ValueError, match=r"^unknown mode 'max'; choose one of"):
        ne.pntk(lambda p, x: x, 1, mode="max")
    with pytest.raises(TypeError, match=r"^apply must be callable"):
        ne.empirical_ntk("model")
