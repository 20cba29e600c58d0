"""Exercise checkers: a right answer passes; each kind of wrong answer gets a message naming it."""

import numpy as np
import pytest

from ntk_explore import exercises as E


def _entk(w, a, x):
    m, d = w.shape
    h = x @ w.T / np.sqrt(d)
    r, s = np.maximum(h, 0), (h > 0).astype(float)
    return (r @ r.T + (s * a**2) @ s.T * (x @ x.T) / d) / m


def test_compare_messages():
    want = np.arange(6.0).reshape(2, 3) + 1
    assert E.compare("K", want + 1e-12, want).ok
    assert "transpose" in E.compare("K", want.T, want).message
    assert "times 2" in E.compare("K", 2 * want, want).message
    assert "opposite sign" in E.compare("K", -want, want).message
    assert "NaN" in E.compare("K", want * np.nan, want).message
    assert "expected (2, 3)" in E.compare("K", want[:1], want).message
    off = want.copy()
    off[1, 2] += 1
    fb = E.compare("K", off, want)
    assert not fb.ok and "(1, 2)" in fb.message


def test_entk_by_hand():
    assert E.check("entk_by_hand", _entk).ok
    assert "times 2" in E.check("entk_by_hand", lambda w, a, x: 2 * _entk(w, a, x)).message
    readout_only = lambda w, a, x: np.maximum(x @ w.T / np.sqrt(w.shape[1]), 0) @ \
        np.maximum(x @ w.T / np.sqrt(w.shape[1]), 0).T / w.shape[0]  # noqa: E731
    assert "readout" in E.check("entk_by_hand", readout_only).message

    def unfinished(w, a, x):
        raise NotImplementedError

    assert "NotImplementedError" in E.check("entk_by_hand", unfinished).message
    assert "ZeroDivisionError" in E.check("entk_by_hand", lambda w, a, x: 1 / 0).message
    assert "expected a function" in E.check("entk_by_hand", 3).message


def test_check_unknown_name_lists_the_exercises():
    with pytest.raises(KeyError, match="entk_by_hand"):
        E.check("no_such_exercise", _entk)


def test_every_exercise_names_an_existing_notebook():
    from pathlib import Path

    notebooks = {p.name for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")}
    E.exercises_of("")
    for ex in E.EXERCISES.values():
        assert ex.notebook in notebooks, ex
        assert ex.task, ex
