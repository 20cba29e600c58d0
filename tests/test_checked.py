"""Declared argument checks: the rule is carried by the annotation, so it follows a renamed
parameter; relations between arguments; tracers get shape checks only."""

from __future__ import annotations

from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_explore as ne
from ntk_explore.core import validation as V
from ntk_explore.core.models import MLP


def test_the_check_follows_a_renamed_parameter():
    @V.checked
    def before(steps: V.PositiveInt = 1):
        return steps

    @V.checked
    def after(n_iterations: V.PositiveInt = 1):  # the same function, parameter renamed
        return n_iterations

    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got 0"):
        before(0)
    with pytest.raises(ValueError, match=r"^n_iterations must be an integer >= 1, got 0"):
        after(0)
    assert after(np.int64(3)) == 3  # NumPy integers are legal


def test_ranges_open_and_closed_ends():
    @V.checked
    def f(tol: V.OpenUnitInterval = 0.5, frac: V.UnitInterval = 0.5,
          lr: V.PositiveFloat = 1.0, ridge: V.NonNegativeFloat = 0.0):
        return tol, frac, lr, ridge

    for kw, msg in ((dict(tol=2.0), r"tol must be a number > 0 and < 1, got 2.0"),
                    (dict(tol=0.0), r"tol must be a number > 0"),
                    (dict(frac=1.5), r"frac must be a number >= 0 and <= 1"),
                    (dict(lr=0.0), r"lr must be a number > 0, got 0.0"),
                    (dict(ridge=-1e-9), r"ridge must be a number >= 0"),
                    (dict(lr=float("nan")), r"lr must be finite")):
        with pytest.raises(ValueError, match=msg):
            f(**kw)
    with pytest.raises(TypeError, match=r"lr must be a real number, got str"):
        f(lr="0.1")
    assert f(frac=1.0, ridge=0.0) == (0.5, 1.0, 1.0, 0.0)


def test_keys_choices_and_relations():
    @V.checked
    def fit(key: V.Key, model: Annotated[MLP, V.InstanceOf(MLP, "from ntk_explore.mlp(...)")],
            x: Annotated[jax.Array, V.Inputs(model="model")],
            y: Annotated[jax.Array, V.Inputs(None, rows_of="x")],
            kind: Annotated[str, V.OneOf("entk", "pntk")] = "entk", seed: int | None = None):
        return x.shape

    model = ne.mlp(3, 8, 1)
    x, y = jnp.ones((5, 3)), jnp.ones((5, 1))
    assert fit(jax.random.key(0), model, x, y) == (5, 3)
    with pytest.raises(TypeError, match=r"^key must be a JAX random key"):
        fit(0, model, x, y)
    with pytest.raises(ValueError, match=r"^x must have 3 features"):
        fit(jax.random.key(0), model, jnp.ones((5, 4)), y)
    with pytest.raises(ValueError, match=r"^x and y must have the same number of rows"):
        fit(jax.random.key(0), model, x, y[:4])
    with pytest.raises(ValueError, match=r"unknown kind 'ntk'"):
        fit(jax.random.key(0), model, x, y, kind="ntk")
    with pytest.raises(TypeError, match=r"^model must be a MLP from ntk_explore.mlp"):
        fit(jax.random.key(0), "mlp", x, y)
    with pytest.raises(TypeError, match=r"^seed must be an integer"):
        fit(jax.random.key(0), model, x, y, seed=1.5)


def test_tracers_get_shape_checks_only():
    @V.checked
    def g(x: Annotated[jax.Array, V.Inputs(2)]):
        return x.sum()

    assert float(jax.jit(g)(jnp.ones((2, 2)))) == 4.0
    with pytest.raises(ValueError, match=r"x must be"):
        jax.jit(g)(jnp.ones(3))


def test_every_declared_function_resolves_its_annotations():
    """Each checked public function's annotations evaluate (a missing import would only
    surface at the first call otherwise)."""
    import importlib
    import pkgutil

    import ntk_explore

    seen = 0
    for info in pkgutil.walk_packages(ntk_explore.__path__, "ntk_explore."):
        if ".widgets" in info.name:
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if callable(obj) and hasattr(obj, "declarations") and obj.__module__ == info.name:
                obj.declarations()
                seen += 1
    assert seen > 50, seen
