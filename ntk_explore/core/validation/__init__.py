"""Argument checks for every public entry point.

Two layers: :mod:`.basic` holds one function per kind of argument (arrays, keys,
integers, kernel matrices, memory), each raising ``TypeError``/``ValueError`` whose
message names the argument, what was received and what was expected; :mod:`.declared`
lets a function declare its arguments' rules in its signature (``Annotated`` constraints
read by :func:`checked`), so a check is written once, where the function is defined,
and runs before any expensive work.

Arrays that are JAX tracers (inside ``jit``/``vmap``) are checked for shape only.
"""

from . import basic, declared
from .basic import *  # noqa: F403
from .basic import MEMORY_ENV, check_in_range, check_option, format_bytes  # noqa: F401
from .declared import *  # noqa: F403

__all__ = [*basic.__all__, *declared.__all__, "format_bytes", "check_option", "check_in_range",
           "MEMORY_ENV"]
