"""Notebook 05's exercise checkers: the reference answer passes; each usual slip is named."""

import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.exercises import zigzag as X


def _one_step(ntk, q_tilde, q_batch, p_tar, eta):
    b = q_batch.shape[0]
    df = eta / b * np.einsum("mbce,be->mc", ntk, p_tar - q_batch)
    a = np.einsum("mc,cd->mcd", q_tilde, np.eye(q_tilde.shape[1])) \
        - q_tilde[:, :, None] * q_tilde[:, None, :]
    return np.einsum("mcd,md->mc", a, df)


def _filtered(paths, rate):
    m = np.zeros(paths.shape[1:])
    for q in paths:
        m = rate * m + (1 - rate) * q
    return m / (1 - rate ** len(paths))


def test_one_step_reference_passes_and_is_close_to_the_real_step():
    fb = E.check("one_step_change", _one_step)
    assert fb.ok, fb.message
    assert "real change" in fb.message
    p = X.one_step_problem()
    # first order in eta: at eta = 1e-3 the prediction is within 1% of the real step
    assert np.linalg.norm(p.want - p.real) < 1e-2 * np.linalg.norm(p.real)


@pytest.mark.parametrize("wrong, words", [
    (lambda n, qt, qb, p, eta: eta / qb.shape[0] * np.einsum("mbce,be->mc", n, p - qb),
     "change of the logits"),
    (lambda n, qt, qb, p, eta: qb.shape[0] * _one_step(n, qt, qb, p, eta), "without dividing by b"),
    (lambda n, qt, qb, p, eta: -_one_step(n, qt, qb, p, eta), "sign is flipped"),
    (lambda n, qt, qb, p, eta: _one_step(n, qt, qb, p, 1.0), "step size eta"),
    (lambda n, qt, qb, p, eta: 3 * _one_step(n, qt, qb, p, eta), "times 3"),
    (lambda n, qt, qb, p, eta: _one_step(n, qt, qb, p, eta).T, "transpose"),
])
def test_one_step_slips_are_named(wrong, words):
    fb = E.check("one_step_change", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_one_step_transposed_blocks_are_named():
    fb = E.check("one_step_change",
                 lambda n, qt, qb, p, eta: _one_step(np.swapaxes(n, 2, 3), qt, qb, p, eta))
    assert not fb.ok and "transposed" in fb.message, fb.message


def test_filtered_reference_passes():
    fb = E.check("filtered_targets", _filtered)
    assert fb.ok, fb.message


def _swapped(paths, rate):
    m = np.zeros(paths.shape[1:])
    for q in paths:
        m = (1 - rate) * m + rate * q
    return m


@pytest.mark.parametrize("wrong, words", [
    (lambda p, r: _filtered(p, r) * (1 - r ** len(p)), "bias correction"),
    (_swapped, "weight rate on the newest"),
    (lambda p, r: p.mean(0), "plain average"),
    (lambda p, r: p[-1], "last record"),
    (lambda p, r: _filtered(p[1:], r), "skipped the first record"),
])
def test_filtered_slips_are_named(wrong, words):
    fb = E.check("filtered_targets", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_unfinished_and_crashing_answers():
    def stub(*args):
        raise NotImplementedError

    for name in ("one_step_change", "filtered_targets"):
        assert "NotImplementedError" in E.check(name, stub).message
    assert "IndexError" in E.check("filtered_targets", lambda p, r: p[99]).message


def test_registered_for_notebook_05():
    names = {e.name for e in E.exercises_of("05")}
    assert {"one_step_change", "filtered_targets"} <= names
