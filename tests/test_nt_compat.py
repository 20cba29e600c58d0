"""The compatibility shim: names provided only where missing, and every
neural-tangents function the package calls works on the installed JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore.core import _nt_compat, kernels, models


def test_load_provides_working_module():
    nt = _nt_compat.load()
    assert hasattr(nt, "stax") and hasattr(nt, "empirical_ntk_fn")
    import jax.core
    import jax.extend.core as ext

    for name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive"):
        assert getattr(jax.core, name) is getattr(ext, name)


def test_patches_are_idempotent_and_leave_existing_names(monkeypatch):
    import jax.core

    _nt_compat.load()
    sentinel = object()
    monkeypatch.setattr(jax.core, "Literal", sentinel)
    assert _nt_compat._patch_jax_core() == []  # everything present: nothing replaced
    assert jax.core.Literal is sentinel
    assert _nt_compat._patch_jax_util() == []
    assert _nt_compat._patch_zeros_like_p() == []
    assert _nt_compat._stub_experimental() == []


def test_missing_package_gives_install_hint(monkeypatch):
    import importlib.util
    import sys

    monkeypatch.delitem(sys.modules, "neural_tangents", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="--no-deps neural-tangents"):
        _nt_compat.load()


def test_tensorflow_is_not_imported():
    import sys

    _nt_compat.load()
    assert "tensorflow" not in sys.modules


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_stax_layers_we_use(activation):
    """Dense/Relu/Erf/ElementwiseNumerical/serial through our description = hand-built stax.

    tanh is ours (an exact scale-mixture identity), not neural-tangents' 64-node
    Gauss-Hermite rule, whose error grows with the input norm: at norm 0.3 the two
    agree to the Hermite rule's own error (measured 1e-13 against 2000 nodes)."""
    nt = _nt_compat.load()
    stax = nt.stax
    model = models.mlp(3, 128, 2, activation=activation, sigma_w=1.3, sigma_b=0.2)
    x = jax.random.normal(jax.random.key(0), (6, 3))
    if activation == "tanh":
        x = 0.3 * x / jnp.linalg.norm(x, axis=1, keepdims=True)
    act = {"relu": stax.Relu(), "erf": stax.Erf(),
           "tanh": stax.ElementwiseNumerical(jnp.tanh, deg=64)}[activation]
    _, _, kfn = stax.serial(stax.Dense(128, W_std=1.3, b_std=0.2), act,
                            stax.Dense(128, W_std=1.3, b_std=0.2), act,
                            stax.Dense(1, W_std=1.3, b_std=0.2))
    ours = kernels.infinite_kernel_fn(model)(x)
    ref = kfn(x, None, ("nngp", "ntk"))
    np.testing.assert_allclose(ours.nngp, ref.nngp, rtol=1e-12)
    np.testing.assert_allclose(ours.ntk, ref.ntk, rtol=1e-12)


@pytest.mark.parametrize("impl", ["JACOBIAN_CONTRACTION", "NTK_VECTOR_PRODUCTS"])
def test_empirical_ntk_fn_runs(impl):
    nt = _nt_compat.load()
    model = models.mlp(3, 32, 1, out_dim=2)
    params = model.init(jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (4, 3))
    fn = nt.empirical_ntk_fn(model.apply, trace_axes=(), vmap_axes=0,
                             implementation=getattr(nt.NtkImplementation, impl))
    np.testing.assert_allclose(fn(x, None, params), kernels.mlp_ntk(model)(x, None, params),
                               rtol=1e-10)


def test_ntk_vector_products_raise_no_deprecation_warning():
    """neural-tangents' ``_std_basis`` called ``jnp.size`` on ShapeDtypeStruct leaves, which
    current JAX deprecates ("will be an error in a future JAX release"); the compat layer
    replaces it, so the NTK-vector-product route runs clean and agrees with the Jacobian one."""
    import warnings

    import jax.numpy as jnp

    from ntk_explore.core import _nt_compat

    nt = _nt_compat.load()
    params = {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.ones(2)}
    x = jnp.arange(12.0).reshape(4, 3)

    def f(p, x):
        return x @ p["w"] + p["b"][None, :]

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        k1, k2 = (nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0, implementation=i)(x, None, params)
                  for i in (1, 2))
    assert k1.shape == (4, 4, 2, 2)
    assert float(jnp.max(jnp.abs(k1 - k2))) <= 1e-10 * float(jnp.max(jnp.abs(k1)))
