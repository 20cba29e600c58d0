"""Notebook 09's exercise checkers: a reference answer passes, each usual slip gets a message
that names it, and a broken answer is reported (never raised)."""

import numpy as np
import pytest

from ntk_explore import exercises
from ntk_explore.exercises import kernel_motion


def distance(k0, kt):
    return 1.0 - np.sum(k0 * kt) / (np.linalg.norm(k0) * np.linalg.norm(kt))


def alignment(k, y):
    yc = y - y.mean()
    return yc @ k @ yc / (np.linalg.norm(k) * (yc @ yc))


def test_references_pass():
    assert exercises.check("kernel_distance", distance).ok
    assert exercises.check("centred_alignment", alignment).ok
    names = {e.name for e in exercises.exercises_of("09")}
    assert {"kernel_distance", "centred_alignment"} <= names


@pytest.mark.parametrize("answer, words", [
    (lambda a, b: np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)), "cosine"),
    (lambda a, b: 1 - np.sum(a * b) / (np.linalg.norm(a) ** 2 * np.linalg.norm(b) ** 2),
     "not their squares"),
    (lambda a, b: 1 - np.sum(a * b), "divided by ||K0|| ||Kt||"),
    (lambda a, b: np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b)), "sqrt(2 S)"),
    (lambda a, b: 1 - np.sum(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)), "matrix product"),
    (lambda a, b: 1 - np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b) + 0.01, "differs"),
    (lambda a, b: np.zeros(3), "one number"),
    (lambda a, b: float("nan"), "NaN"),
])
def test_distance_slips_are_named(answer, words):
    fb = exercises.check("kernel_distance", answer)
    assert not fb.ok and words in fb.message, fb.message


def test_distance_of_a_rescaled_kernel_must_be_zero():
    def wrong_when_rescaled(a, b):
        return 0.5 if np.allclose(b, 3 * a) else distance(a, b)

    fb = exercises.check("kernel_distance", wrong_when_rescaled)
    assert not fb.ok and "rescaled" in fb.message, fb.message


@pytest.mark.parametrize("answer, words", [
    (lambda k, y: y @ k @ y / (np.linalg.norm(k) * (y @ y)), "centre the target"),
    (lambda k, y: (y - y.mean()) @ k @ (y - y.mean()) / (np.trace(k) * np.sum((y - y.mean()) ** 2)),
     "not by the trace"),
    (lambda k, y: (y - y.mean()) @ k @ (y - y.mean()) / np.linalg.norm(k), "||yc||^2 as well"),
    (lambda k, y: (y - y.mean()) @ k @ (y - y.mean()) / np.sum((y - y.mean()) ** 2),
     "||K||_F as well"),
    (lambda k, y: (y - y.mean()) @ k @ (y - y.mean())
     / (np.linalg.norm(k) * np.linalg.norm(y - y.mean())), "squared norm"),
])
def test_alignment_slips_are_named(answer, words):
    fb = exercises.check("centred_alignment", answer)
    assert not fb.ok and words in fb.message, fb.message


def test_errors_in_the_readers_code_are_feedback():
    def unfinished(k0, kt):
        raise NotImplementedError

    fb = exercises.check("kernel_distance", unfinished)
    assert not fb.ok and "NotImplementedError" in fb.message
    fb = exercises.check("centred_alignment", lambda k, y: k @ y @ "oops")
    assert not fb.ok and "raised" in fb.message


def test_random_kernels_are_symmetric_psd():
    k0, kt, y = kernel_motion.random_kernels(0)
    for k in (k0, kt):
        np.testing.assert_allclose(k, k.T)
        assert np.linalg.eigvalsh(k).min() > -1e-10
    assert abs(y.mean()) > 0.1
