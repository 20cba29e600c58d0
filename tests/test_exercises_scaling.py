"""Notebook 07's exercise: a right answer passes, each typical wrong answer is named."""

import numpy as np
from scipy import stats

from ntk_explore import exercises as E
from ntk_explore.topics.natural import per_seed_difference


def _answer(ns, ea, eb, *, q=None, ddof=1, se=True, sign=1.0, log=np.log):
    x = np.log(ns)
    slopes = np.array([np.polyfit(x, log(a / b), 1)[0] for a, b in zip(ea, eb)]) * sign
    s = slopes.size
    q = stats.t.ppf(0.975, s - 1) if q is None else q
    half = q * slopes.std(ddof=ddof) / (np.sqrt(s) if se else 1.0)
    return slopes.mean(), slopes.mean() - half, slopes.mean() + half


def test_reference_passes_and_matches_the_library():
    assert E.check("paired_slope_difference", _answer).ok
    ns, ea, eb = np.array([50.0, 100, 200, 400]), np.ones((3, 4)), np.ones((3, 4))
    ea = ea * ns**-0.7 * np.array([[1.0], [1.1], [0.9]])
    eb = eb * ns**-0.5
    p = per_seed_difference(ns, ea, eb)
    assert np.isclose(p.mean, -0.2) and np.allclose(p.per_seed, -0.2)


def test_typical_mistakes_are_named():
    check = lambda f: E.check("paired_slope_difference", f).message  # noqa: E731
    assert "opposite sign" in check(lambda n, a, b: _answer(n, b, a))
    assert "1.96" in check(lambda n, a, b: _answer(n, a, b, q=1.96))
    assert "ddof" in check(lambda n, a, b: _answer(n, a, b, ddof=0))
    assert "standard error" in check(lambda n, a, b: _answer(n, a, b, se=False))
    assert "ln 10" in check(lambda n, a, b: _answer(n, a, b, log=np.log10))
    assert "one least-squares slope per seed" in check(lambda n, a, b: (0.3, 0.1, 0.5))
    assert "three numbers" in check(lambda n, a, b: (1.0, 2.0))
    assert "NotImplementedError" in check(lambda n, a, b: (_ for _ in ()).throw(NotImplementedError))


def test_exercise_is_registered_for_notebook_07():
    assert "paired_slope_difference" in {e.name for e in E.exercises_of("07")}
