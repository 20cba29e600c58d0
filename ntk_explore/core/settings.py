"""Typed settings: one frozen dataclass per experiment, and one way to build it from keywords.

A topic declares its settings once::

    @dataclasses.dataclass(frozen=True)
    class ScalingSettings(Settings):
        width: int = 256
        steps: int = 1000
        lr: float = 0.1

        def check(self):                      # optional: rules beyond the field types
            require(self.width >= 1, "width", self.width, "an integer >= 1")

and its functions take ``**settings`` and call ``ScalingSettings.make(**settings)``
(or ``base.replace(**settings)``): a misspelt key is refused with the closest valid
name, a value of the wrong type is refused naming the field, and results carry the
settings object (attributes, not string keys).
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers

import numpy as np

__all__ = ["Settings", "require", "unknown_keys_error"]


def unknown_keys_error(unknown, valid, what: str = "settings") -> ValueError:
    """``ValueError`` naming each unknown key, the closest valid one, and every valid key."""
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ValueError(f"unknown {what} {', '.join(hints)}; the valid keys are {sorted(valid)}")


def require(ok: bool, name: str, value, expected: str) -> None:
    """Raise ``ValueError('<name> must be <expected>, got <value>')`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def _type_ok(value, kind) -> bool:
    if kind in (int, "int"):
        return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if kind in (float, "float"):
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if kind in (bool, "bool"):
        return isinstance(value, (bool, np.bool_))
    if kind in (str, "str"):
        return isinstance(value, str)
    return True


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every topic's settings dataclass (subclasses are frozen dataclasses)."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _type_ok(value, f.type):
                kind = getattr(f.type, "__name__", f.type)
                raise TypeError(f"{type(self).__name__}.{f.name} must be {kind}, got "
                                f"{type(value).__name__} {value!r}")
            if f.type in (float, "float") and isinstance(value, numbers.Real):
                object.__setattr__(self, f.name, float(value))
            if f.type in (int, "int") and isinstance(value, numbers.Integral):
                object.__setattr__(self, f.name, int(value))
        self.check()

    def check(self) -> None:
        """Rules beyond the field types (override; raise ``ValueError`` naming the field)."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def make(cls, **settings):
        """The defaults with ``settings`` replaced; unknown keys are refused."""
        unknown = [k for k in settings if k not in cls.keys()]
        if unknown:
            raise unknown_keys_error(unknown, cls.keys(), f"{cls.__name__} key(s)")
        return cls(**settings)

    def replace(self, **settings):
        """A copy with ``settings`` replaced; unknown keys are refused."""
        unknown = [k for k in settings if k not in self.keys()]
        if unknown:
            raise unknown_keys_error(unknown, self.keys(), f"{type(self).__name__} key(s)")
        return dataclasses.replace(self, **settings)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
