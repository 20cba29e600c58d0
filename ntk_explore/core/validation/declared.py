"""Declared argument checks: constraints carried by a parameter's annotation."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated

import jax
import numpy as np

from .basic import (
    as_float_array,
    as_real,
    check_callable,
    check_choice,
    check_int_list,
    check_key,
    check_params_match,
    check_positive_int,
    check_same_rows,
    is_int_like,
    is_tracer,
)

__all__ = ["checked", "Constraint", "Range", "IsKey", "IntList", "OneOf", "InstanceOf",
           "IsCallable", "Inputs", "MatchesModel", "PositiveInt", "NonNegativeInt",
           "PositiveFloat", "NonNegativeFloat", "UnitInterval", "OpenUnitInterval", "Key", "Sizes",
           "NonNegativeInts", "FiniteArray"]


# ---------------------------------------------------------------------------
# declared checks: constraints carried by a parameter's annotation
#
# A public function declares what each argument accepts in its signature, with
# ``typing.Annotated``; :func:`checked` reads the declarations once and applies them on
# every call, before the body runs. The rule travels with the parameter: rename it and
# the check follows; a parameter without a declaration gets only its base type checked.
#
#     @checked
#     def sweep(key: Key, widths: Sizes, *, lr: PositiveFloat = 0.1, seeds: PositiveInt = 2,
#               tol: Annotated[float, Range(0, 1, lo_open=True, hi_open=True)] = 1e-6): ...
#
# Why not a library: pydantic's ``validate_call`` and beartype check types but neither
# knows a JAX key, a tracer (shape-only checks under ``jit``) or relations between
# arguments (``x`` has ``model.in_dim`` features, ``y`` as many rows as ``x``), and each
# would add a dependency to a package that must start within Binder's 1 GB. The
# constraint vocabulary follows ``annotated-types`` (Ge/Gt/Le/Lt as one ``Range``).


class Constraint:
    """One declared rule. ``check(name, value, args)`` raises with a message naming
    ``name`` and returns the value to pass on (unchanged unless the rule converts it)."""

    def check(self, name: str, value, args: dict):  # pragma: no cover - interface
        raise NotImplementedError


class Range(Constraint):
    """A real number (``integer=False``) or integer in ``[lo, hi]``; ``lo_open``/``hi_open``
    make an end exclusive; ``None`` is unbounded. NumPy scalars are accepted."""

    def __init__(self, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False,
                 integer: bool | None = None):
        self.lo, self.hi, self.lo_open, self.hi_open, self.integer = lo, hi, lo_open, hi_open, integer

    def _text(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return " and ".join(parts)

    def check(self, name, value, args):
        if self.integer:
            value = check_positive_int(name, value, minimum=-(2**62))
        else:
            value = as_real(name, value)
        bad = ((self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo))
               or (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)))
        if bad:
            kind = "an integer" if self.integer else "a number"
            raise ValueError(f"{name} must be {kind} {self._text()}, got {value!r}")
        return value


class IsKey(Constraint):
    """One JAX PRNG key (``jax.random.key(seed)`` or the legacy ``PRNGKey``)."""

    def check(self, name, value, args):
        return check_key(name, value)


class IntList(Constraint):
    """A non-empty sequence of integers ``>= minimum`` (a single integer is accepted)."""

    def __init__(self, minimum: int = 1, *, min_len: int = 1, distinct: bool = False):
        self.minimum, self.min_len, self.distinct = minimum, min_len, distinct

    def check(self, name, value, args):
        check_int_list(name, value, minimum=self.minimum, min_len=self.min_len,
                       distinct=self.distinct)
        return value


class OneOf(Constraint):
    """One of a fixed set of strings."""

    def __init__(self, *choices: str):
        self.choices = choices

    def check(self, name, value, args):
        return check_choice(name, value, self.choices)


class InstanceOf(Constraint):
    """An instance of ``cls``; ``hint`` says how to make one."""

    def __init__(self, cls, hint: str = ""):
        self.cls, self.hint = cls, hint

    def check(self, name, value, args):
        if not isinstance(value, self.cls):
            raise TypeError(f"{name} must be a {self.cls.__name__}{' ' + self.hint if self.hint else ''}, "
                            f"got {type(value).__name__}")
        return value


class IsCallable(Constraint):
    """A callable (a model's ``apply``, a kernel function)."""

    def check(self, name, value, args):
        check_callable(name, value)
        return value


class Inputs(Constraint):
    """A finite numeric array; ``ndim`` dimensions; with ``model``, the name of the argument
    holding the model, its last axis must have ``model.in_dim`` features; with
    ``rows_of``, as many rows as that argument. Tracers are checked for shape only."""

    def __init__(self, ndim: int | None = 2, *, model: str | None = None,
                 rows_of: str | None = None, finite: bool = True, min_rows: int = 1):
        self.ndim, self.model, self.rows_of = ndim, model, rows_of
        self.finite, self.min_rows = finite, min_rows

    def check(self, name, value, args):
        dim = getattr(args.get(self.model), "in_dim", None) if self.model else None
        as_float_array(name, value, ndim=self.ndim, dim=dim, finite=self.finite,
                       min_rows=self.min_rows)
        if self.rows_of is not None and args.get(self.rows_of) is not None:
            check_same_rows(self.rows_of, args[self.rows_of], name, value)
        return value


class MatchesModel(Constraint):
    """Parameters with the tree and shapes that ``args[model].init`` makes (finite unless
    ``finite=False``: a diverged run's parameters are reported by the callee)."""

    def __init__(self, model: str = "model", *, finite: bool = True):
        self.model, self.finite = model, finite

    def check(self, name, value, args):
        if args.get(self.model) is not None:
            check_params_match(args[self.model], value, name, finite=self.finite)
        return value


PositiveInt = Annotated[int, Range(1, integer=True)]
"""An integer >= 1 (widths, sizes, seeds, steps, ...)."""
NonNegativeInt = Annotated[int, Range(0, integer=True)]
PositiveFloat = Annotated[float, Range(0, lo_open=True)]
"""A finite real > 0 (learning rates, scales)."""
NonNegativeFloat = Annotated[float, Range(0)]
"""A finite real >= 0 (ridges, noise levels)."""
UnitInterval = Annotated[float, Range(0, 1)]
"""A real in [0, 1] (fractions, thresholds)."""
OpenUnitInterval = Annotated[float, Range(0, 1, lo_open=True, hi_open=True)]
"""A real in (0, 1) (tolerances, fractions that must leave something on both sides)."""
Key = Annotated[jax.Array, IsKey()]
"""One JAX PRNG key."""
Sizes = Annotated[Sequence[int], IntList(1)]
"""A non-empty list of integers >= 1 (widths, training-set sizes)."""
NonNegativeInts = Annotated[Sequence[int], IntList(0, min_len=0)]
"""A list of integers >= 0 (step counts, class labels, indices)."""
FiniteArray = Annotated[jax.Array, Inputs(None)]
"""A finite numeric array of any shape."""


def _base_check(name: str, value, base) -> None:
    """What an undeclared parameter gets: its base type only (no rule chosen by name)."""
    if base is bool and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    if base is int and not is_int_like(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if base is float:
        as_real(name, value)
    if base is str and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__} {value!r}")


def _declarations(fn) -> dict:
    """``{parameter: (base type or None, [constraints])}`` from ``fn``'s annotations."""
    hints = typing.get_type_hints(fn, include_extras=True)
    out = {}
    for name, hint in hints.items():
        if name == "return":
            continue
        constraints, base = [], hint
        args = typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
            inner = [a for a in args if a is not type(None)]
            base = inner[0] if len(inner) == 1 else None
        if typing.get_origin(base) is Annotated:
            constraints = [c for c in base.__metadata__ if isinstance(c, Constraint)]
            base = typing.get_args(base)[0]
        out[name] = (base if base in (int, float, bool, str) else None, constraints)
    return out


def checked(fn):
    """Decorator: apply the constraints each parameter declares in its annotation
    (``Annotated[T, Range(...)]``, :data:`PositiveInt`, :data:`Key`, :class:`Inputs`, ...)
    before the body runs; undeclared parameters get their base type checked (``int``,
    ``float``, ``bool``, ``str``). ``None`` passes where the annotation allows it, tracers
    get shape checks only. Values are passed on unchanged."""
    import functools
    import inspect

    sig = inspect.signature(fn)
    decl: dict | None = None

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        nonlocal decl
        if decl is None:
            decl = _declarations(fn)
        try:
            bound = sig.bind(*args, **kwargs).arguments
        except TypeError as err:
            raise TypeError(f"{fn.__name__}(): {err}") from None
        for name, value in bound.items():
            if value is None or name not in decl:
                continue
            base, constraints = decl[name]
            if is_tracer(value):
                if any(isinstance(c, Inputs) for c in constraints):
                    next(c for c in constraints if isinstance(c, Inputs)).check(name, value, bound)
                continue
            if not constraints:
                _base_check(name, value, base)
            for c in constraints:
                c.check(name, value, bound)
        return fn(*args, **kwargs)

    wrapper.declarations = lambda: dict(decl or _declarations(fn))
    return wrapper
