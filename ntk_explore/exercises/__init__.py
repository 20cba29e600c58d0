"""Checkers for the notebooks' coding exercises.

Each exercise asks the reader to write a few lines (a function); its checker calls that
function on fresh inputs, compares the answer with the library's own (independently
tested) route, and returns a :class:`Feedback`: ``ok`` and one message that says what is
right or, if not, what is wrong (a shape, a missing factor, a transpose, a sign) rather
than only "wrong". In a notebook::

    from ntk_explore import exercises
    exercises.check("entk_by_hand", my_entk)      # shows a green or red box

:data:`EXERCISES` lists every exercise by name with the notebook it belongs to;
:func:`check` runs one. Checkers never raise on a wrong answer (an exception inside
the reader's function is reported as feedback too).
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import pkgutil
import traceback
from collections.abc import Callable

import numpy as np

__all__ = ["Feedback", "compare", "run_answer", "check", "register", "EXERCISES", "Exercise",
           "exercises_of"]


@dataclasses.dataclass(frozen=True)
class Feedback:
    """The outcome of a checker: ``ok`` and a message for the reader."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return ("correct: " if self.ok else "not yet: ") + self.message

    def _repr_html_(self) -> str:
        colour, word = ("#1a7f37", "Correct") if self.ok else ("#b42318", "Not yet")
        return (f"<div style='border-left:4px solid {colour};padding:4px 8px'>"
                f"<b style='color:{colour}'>{word}.</b> {html.escape(self.message)}</div>")


def run_answer(fn: Callable, *args) -> tuple[object, Feedback | None]:
    """Call the reader's ``fn(*args)``; ``(result, None)``, or ``(None, Feedback)`` naming
    the exception and the line of the reader's code it came from."""
    if not callable(fn):
        return None, Feedback(False, f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, Feedback(False, "the function still raises NotImplementedError: "
                                     "replace that line with your code")
    except Exception as exc:  # noqa: BLE001 -- any error in the reader's code is feedback
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return None, Feedback(False, f"your function raised {type(exc).__name__}: {exc} "
                                     f"(line {frame.lineno}: {frame.line!r})")


def _ratio_hint(got: np.ndarray, want: np.ndarray) -> str:
    """A hint when ``got`` is ``want`` times a constant (a missing factor or a sign)."""
    denom = float(np.vdot(want, want))
    if denom == 0:
        return ""
    c = float(np.vdot(want, got)) / denom
    if np.allclose(got, c * want, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(want).max())):
        if np.isclose(c, -1.0):
            return " It is the right answer with the opposite sign."
        return f" It is the right answer times {c:.4g}: a constant factor is missing or extra."
    return ""


def compare(name: str, got, want, *, rtol: float = 1e-6, atol: float = 1e-9) -> Feedback:
    """Compare the reader's array ``got`` with the reference ``want``.

    Messages name the first thing that differs: not an array, the shape (and whether the
    transpose or a squeeze would fix it), NaN/inf, a constant factor or sign, else the
    largest relative difference and where it is.
    """
    want = np.asarray(want, np.float64)
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return Feedback(False, f"{name} should be an array of shape {want.shape}, "
                               f"got {type(got).__name__}")
    if got.shape != want.shape:
        hint = ""
        if got.ndim == 2 and got.T.shape == want.shape:
            hint = " (its transpose has the right shape)"
        elif np.squeeze(got).shape == np.squeeze(want).shape:
            hint = " (the same numbers with extra or missing axes of size 1)"
        return Feedback(False, f"{name} has shape {got.shape}, expected {want.shape}{hint}")
    if not np.all(np.isfinite(got)):
        return Feedback(False, f"{name} contains NaN or inf")
    err = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    if np.all(err <= tol):
        return Feedback(True, f"{name} matches the library's value "
                              f"(largest difference {float(err.max()):.2g}).")
    worst = np.unravel_index(int(np.argmax(err - tol)), err.shape)
    return Feedback(False, f"{name} differs from the library's value: at index "
                           f"{tuple(int(i) for i in worst)} you have {float(got[worst]):.6g}, "
                           f"expected {float(want[worst]):.6g}." + _ratio_hint(got, want))


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One coding exercise: the module holding its checker and the notebook that asks it."""

    name: str
    module: str
    notebook: str
    task: str


EXERCISES: dict[str, Exercise] = {}
"""Filled by :func:`register` in each exercise module; see :func:`check`."""

def register(name: str, notebook: str, task: str):
    """Decorator: make ``fn(answer) -> Feedback`` the checker of exercise ``name``."""
    def wrap(fn):
        EXERCISES[name] = Exercise(name, fn.__module__, notebook, task)
        _CHECKERS[name] = fn
        return fn
    return wrap


_CHECKERS: dict[str, Callable] = {}


def _load_all() -> None:
    """Import every module of this package (each registers its checkers)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def check(name: str, answer) -> Feedback:
    """Run the checker of exercise ``name`` on the reader's ``answer`` (usually a function)."""
    _load_all()
    if name not in _CHECKERS:
        raise KeyError(f"no exercise named {name!r}; the exercises are {sorted(_CHECKERS)}")
    return _CHECKERS[name](answer)


def exercises_of(notebook: str) -> list[Exercise]:
    """The coding exercises whose notebook file name starts with ``notebook`` (e.g. ``'03'``)."""
    _load_all()
    return [e for e in EXERCISES.values() if e.notebook.startswith(notebook)]
