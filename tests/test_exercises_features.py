"""Notebook 03's exercise: the kernel distance S(K0, Kt). A right answer passes; each usual
slip gets a message naming it."""

import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.core.metrics import kernel_distance
from ntk_explore.exercises import features as X


def _norm(a):
    return np.sqrt(np.sum(a * a))


def reference(k0, kt):
    return 1.0 - np.sum(k0 * kt) / (_norm(k0) * _norm(kt))


def test_reference_answer_passes_and_library_agrees():
    fb = E.check("kernel_distance_S", reference)
    assert fb.ok, fb.message
    k0, kt = X.kernel_pair(3)
    assert reference(k0, kt) == pytest.approx(kernel_distance(k0, kt), rel=1e-12)
    assert 0 < kernel_distance(k0, kt) < 1


@pytest.mark.parametrize("wrong, words", [
    (lambda a, b: np.sum(a * b) / (_norm(a) * _norm(b)), "one minus it"),
    (lambda a, b: _norm(b - a) / _norm(a), "relative change"),
    (lambda a, b: 1 - np.sum(a * b) / _norm(a) ** 2, "||K0||^2 instead"),
    (lambda a, b: 1 - np.sum(a * b) / (_norm(a) ** 2 * _norm(b) ** 2), "square roots"),
    (lambda a, b: 1 - np.sum(a @ b) / (_norm(a) * _norm(b)), "elementwise sum"),
    (lambda a, b: np.full(2, reference(a, b)), "one number"),
    (lambda a, b: reference(a, b) + 0.1, "expected S"),
    (lambda a, b: np.nan, "NaN"),
])
def test_wrong_answers_get_named(wrong, words):
    fb = E.check("kernel_distance_S", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_an_answer_that_sees_scale_is_caught():
    """Right on the random pairs (which all differ in shape) but not 0 for K0 against 3 K0."""
    def sees_scale(a, b):
        s = reference(a, b)
        return s if s > 1e-6 else abs(_norm(b) / _norm(a) - 1)

    fb = E.check("kernel_distance_S", sees_scale)
    assert not fb.ok and "3 K0" in fb.message and "scale" in fb.message, fb.message


def test_unfinished_and_broken_answers():
    def unfinished(k0, kt):
        raise NotImplementedError

    assert "NotImplementedError" in E.check("kernel_distance_S", unfinished).message
    assert "ZeroDivisionError" in E.check("kernel_distance_S", lambda a, b: 1 / 0).message


def test_registered_for_notebook_03():
    assert "kernel_distance_S" in {e.name for e in E.exercises_of("03")}
