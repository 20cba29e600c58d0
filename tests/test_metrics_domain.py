"""Metrics on their whole domain: shapes must match exactly, ties are rank-averaged,
degenerate inputs raise a clear error, scale never overflows; properties by hypothesis."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from ntk_explore.core import metrics as km

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def test_no_silent_broadcasting():
    y = np.arange(6.0)
    with pytest.raises(ValueError, match=r"^pred and y must have the same shape, got \(6,\) and \(6, 1\)"):
        km.rmse(y, y[:, None])
    with pytest.raises(ValueError, match=r"^f and y must have the same shape"):
        km.relative_error(y, y[:, None])
    assert km.unexplained_variance(y, y[:, None]) == 0.0  # (t,) against (t, 1) is one column
    with pytest.raises(ValueError, match=r"^pred and y must have the same shape"):
        km.unexplained_variance(np.ones((3, 2)), np.ones(6))
    with pytest.raises(ValueError, match=r"^pred must have at least 1 row"):
        km.rmse([], [])


def test_spearman_ties_and_constants():
    a, b = [1, 2, 2, 3, 4], [1, 3, 2, 4, 5]
    assert km.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert km.spearman(a, b) < 1.0
    with pytest.raises(ValueError, match=r"^a is constant"):
        km.spearman([2, 2, 2], [1, 2, 3])
    assert np.isnan(km.spearman([1.0, np.nan, 2.0], [1, 2, 3]))  # documented: a diverged run


def test_degenerate_kernels_and_targets():
    k = np.eye(3)
    with pytest.raises(ValueError, match=r"^k0 is all zero"):
        km.kernel_distance(np.zeros((3, 3)), k)
    with pytest.raises(ValueError, match=r"^kt contains 1 non-finite"):
        km.kernel_distance(k, np.diag([np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"^y is constant"):
        km.target_alignment(k, np.ones(3))
    with pytest.raises(ValueError, match=r"^y is constant"):
        km.unexplained_variance(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match=r"constant representation"):
        km.linear_cka(np.ones((4, 3)), np.random.default_rng(0).normal(size=(4, 2)))


@given(arrays(np.float64, (5, 5), elements=st.floats(-1, 1)), st.floats(1e-300, 1e300))
@settings(max_examples=60, deadline=None)
def test_kernel_distance_is_scale_free_and_bounded(a, c):
    k = a @ a.T + 1e-3 * np.eye(5)
    assert km.kernel_distance(k, c * k) == pytest.approx(0.0, abs=1e-12)
    other = np.eye(5)
    d = km.kernel_distance(k, other)
    assert 0.0 <= d <= 2.0
    assert km.kernel_distance(c * k, other) == pytest.approx(d, abs=1e-12)


@given(arrays(np.float64, (6,), elements=finite), arrays(np.float64, (6,), elements=finite))
@settings(max_examples=80, deadline=None)
def test_spearman_matches_scipy(a, b):
    if np.all(a == a[0]) or np.all(b == b[0]):
        with pytest.raises(ValueError, match="constant"):
            km.spearman(a, b)
        return
    assert km.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-9)


@given(arrays(np.float64, (7,), elements=finite), arrays(np.float64, (7,), elements=finite))
@settings(max_examples=80, deadline=None)
def test_rmse_is_a_distance(a, b):
    assert km.rmse(a, a) == 0.0
    assert km.rmse(a, b) == pytest.approx(km.rmse(b, a))
    assert km.rmse(a, b) >= 0


@given(arrays(np.float64, (6,), elements=st.floats(-1e3, 1e3)), st.floats(1e-200, 1e200))
@settings(max_examples=60, deadline=None)
def test_alignment_is_scale_free_in_k(y, c):
    if np.ptp(y) == 0:
        return
    k = np.outer(y - y.mean(), y - y.mean()) + np.eye(6)
    a = km.target_alignment(k, y)
    assert km.target_alignment(c * k, y) == pytest.approx(a, rel=1e-9)
    assert -1.0 - 1e-12 <= a <= 1.0 + 1e-12
