"""Import neural-tangents 0.6.5 on current JAX.

neural-tangents 0.6.5 (its last release, Dec 2023) imports a few names that
JAX has since moved or removed:

* ``jax.core.{Jaxpr, JaxprEqn, Literal, Var, Primitive}`` now live in
  ``jax.extend.core``;
* the module ``jax.util`` (``safe_map``, ``safe_zip``) is gone;
* ``jax.interpreters.ad.zeros_like_p`` is gone (neural-tangents only uses it as
  a dictionary key for its structured-derivative rules).

One call is deprecated on current JAX: ``_std_basis`` in ``neural_tangents/_src/empirical.py``
(line 2321 in 0.6.5) passes ``jax.ShapeDtypeStruct`` leaves to ``jnp.size``, which warns
"In a future JAX release this will be an error". :func:`load` replaces that helper
with one that reads the sizes from the leaves' shapes (same result, no warning).

Its ``experimental`` subpackage is the only one that imports TensorFlow; we
never use it, so an empty module stands in for it and TensorFlow is not needed.

:func:`load` provides each missing name **only where it is missing** (a JAX that
still has it is left untouched), then imports and returns ``neural_tangents``.
Everything here is idempotent.
"""

from __future__ import annotations

import importlib
import sys
import types

_MOVED_CORE_NAMES = ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive",
                     "ShapedArray", "Value", "AbstractValue")

INSTALL_HINT = (
    "neural-tangents is not installed. ntk_explore uses it without TensorFlow: "
    "run `pip install --no-deps neural-tangents==0.6.5 frozendict` "
    "(or the README's set-up command, which does this for you)."
)


def _patch_jax_core() -> list[str]:
    import jax.core
    import jax.extend.core as ext_core
    from jax._src import core as src_core

    added = []
    for name in _MOVED_CORE_NAMES:
        if hasattr(jax.core, name):
            continue
        value = getattr(ext_core, name, None) or getattr(src_core, name, None)
        if value is None:
            raise ImportError(f"cannot find jax.core.{name} in this JAX ({jax.__version__})")
        setattr(jax.core, name, value)
        added.append(f"jax.core.{name}")
    return added


def _patch_jax_util() -> list[str]:
    try:
        importlib.import_module("jax.util")
        return []
    except ImportError:
        pass
    import jax
    from jax._src import util as src_util

    module = types.ModuleType("jax.util")
    module.safe_map = src_util.safe_map
    module.safe_zip = src_util.safe_zip
    sys.modules["jax.util"] = module
    jax.util = module
    return ["jax.util.safe_map", "jax.util.safe_zip"]


def _patch_zeros_like_p() -> list[str]:
    from jax.interpreters import ad

    if hasattr(ad, "zeros_like_p"):
        return []
    import jax.extend.core as ext_core

    # Only used as a key in neural-tangents' rule tables; a fresh primitive never
    # appears in a traced program, so its rules are simply never looked up.
    ad.zeros_like_p = ext_core.Primitive("zeros_like")
    return ["jax.interpreters.ad.zeros_like_p"]


def _stub_experimental() -> list[str]:
    name = "neural_tangents.experimental"
    if name in sys.modules:
        return []
    stub = types.ModuleType(name)
    stub.__doc__ = "Stub installed by ntk_explore: the TensorFlow bridge is not used."
    sys.modules[name] = stub
    return [name]


def _fix_std_basis(nt_empirical) -> list[str]:
    """Replace ``_std_basis`` (a ``jnp.eye`` over the flattened pytree) by the same
    computation without ``jnp.size`` on ``ShapeDtypeStruct`` leaves."""
    if getattr(nt_empirical._std_basis, "_ntk_explore_fixed", False):
        return []
    import math

    import jax
    import jax.numpy as jnp

    unravel = nt_empirical._unravel_array_into_pytree

    def _std_basis(pytree):
        leaves = jax.tree_util.tree_leaves(pytree)
        ndim = sum(math.prod(getattr(leaf, "shape", jnp.shape(leaf))) for leaf in leaves)
        dtype = jax.dtypes.result_type(*leaves)
        return unravel(pytree, 1, jnp.eye(ndim, dtype=dtype))

    _std_basis._ntk_explore_fixed = True
    nt_empirical._std_basis = _std_basis
    return ["neural_tangents._src.empirical._std_basis"]


PATCHED: list[str] = []


def load():
    """Return the ``neural_tangents`` module, importable on the installed JAX.

    Raises:
      ImportError: neural-tangents is not installed (the message says how to
        install it without TensorFlow).
    """
    if "neural_tangents" in sys.modules and hasattr(sys.modules["neural_tangents"], "stax"):
        return sys.modules["neural_tangents"]
    if importlib.util.find_spec("neural_tangents") is None:
        raise ImportError(INSTALL_HINT)
    for patch in (_patch_jax_core, _patch_jax_util, _patch_zeros_like_p, _stub_experimental):
        PATCHED.extend(patch())
    nt = importlib.import_module("neural_tangents")
    PATCHED.extend(_fix_std_basis(importlib.import_module("neural_tangents._src.empirical")))
    return nt
