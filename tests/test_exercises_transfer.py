"""Notebook 04's exercise: a linearized model's closed-form prediction from a starting
function. A right answer passes; each usual slip gets a message naming it."""

import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.exercises import transfer as X


def reference(k, ks, y, f0, f0s, t):
    n = y.shape[0]
    lam, u = np.linalg.eigh(k)
    decay = (u * np.exp(-t * lam / n)) @ u.T
    return f0s - ks @ np.linalg.solve(k, (np.eye(n) - decay) @ (f0 - y))


def test_reference_answer_passes():
    fb = E.check("linearized_prediction", reference)
    assert fb.ok, fb.message
    np.testing.assert_allclose(reference(*X.problem(5)), X.reference_prediction(*X.problem(5)),
                               rtol=1e-10)


def test_problem_is_neither_converged_nor_untrained():
    k, ks, y, f0, f0s, t = X.problem(0)
    lam = np.linalg.eigvalsh(k)
    decay = np.exp(-t * lam / y.shape[0])
    assert decay.min() < 0.05 and decay.max() > 0.5  # fast modes done, slow ones not


@pytest.mark.parametrize("wrong, words", [
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, f0, f0s, t * y.shape[0]), "1/n"),
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, f0, f0s, t / y.shape[0]), "too slow"),
    (lambda k, ks, y, f0, f0s, t: f0s - ks @ np.linalg.solve(k, f0 - y), "infinity"),
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, f0, 0 * f0s, t), "f_start(x) are missing"),
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, 0 * f0, 0 * f0s, t),
     "does not depend on the starting function"),
    (lambda k, ks, y, f0, f0s, t: 2 * f0s - reference(k, ks, y, f0, f0s, t), "wrong sign"),
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, f0, f0s, t).ravel(), "axes of size 1"),
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, f0, f0s, t).T, "transpose"),
    (lambda k, ks, y, f0, f0s, t: reference(k, ks, y, f0, f0s, t) + 0.01, "differs"),
])
def test_wrong_answers_get_named(wrong, words):
    fb = E.check("linearized_prediction", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_unfinished_answer():
    def unfinished(*args):
        raise NotImplementedError

    assert "NotImplementedError" in E.check("linearized_prediction", unfinished).message


def test_registered_for_notebook_04():
    assert "linearized_prediction" in {e.name for e in E.exercises_of("04")}
