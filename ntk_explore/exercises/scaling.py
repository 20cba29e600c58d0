"""Exercise of notebook 07: the paired data-scaling exponent difference of two learners.

Given test errors of learners ``a`` and ``b`` measured on the same seeds (split and init) at
sizes ``ns``, the paired comparison fits, **for each seed**, the slope of
``log(err_a / err_b)`` against ``log n`` (least squares), then reports the mean of those
slopes and a 95% t-interval over seeds: ``mean +- t_{0.975, seeds-1} * sd / sqrt(seeds)``
with the sample standard deviation (``ddof = 1``). A negative difference means ``a``'s
error falls faster with ``n``. The checker compares the reader's function with
:func:`ntk_explore.topics.natural.per_seed_difference`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..topics.natural import per_seed_difference
from . import Feedback, register, run_answer

__all__ = ["check_paired_slope_difference", "problem"]


def problem(seed: int, seeds: int = 4, sizes: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ns (S,), err_a (seeds, S), err_b (seeds, S))``: noisy power laws with a shared
    per-seed factor (which the pairing cancels)."""
    rng = np.random.default_rng(seed)
    ns = np.round(np.geomspace(50, 1200, sizes)).astype(float)
    common = np.exp(0.3 * rng.standard_normal((seeds, 1)) + 0.05 * rng.standard_normal((seeds, sizes)))
    err_a = 2.0 * ns**-0.65 * common * np.exp(0.04 * rng.standard_normal((seeds, sizes)))
    err_b = 1.5 * ns**-0.5 * common * np.exp(0.04 * rng.standard_normal((seeds, sizes)))
    return ns, err_a, err_b


def _diagnose(got, want, ns, ea, eb) -> str:
    """What a typical wrong answer did, or ``''``."""
    m, lo, hi = got
    w = per_seed_difference(ns, ea, eb)
    close = lambda a, b: math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)  # noqa: E731
    if close(m, -w.mean) and close(lo, -w.ci95[1]):
        return ("the right numbers with the opposite sign: the slope is of log(err_a / err_b) "
                "against log n (a minus b), and a slope is minus the exponent alpha")
    if close(m, w.mean / math.log(10)) or close(m, w.mean * math.log(10)):
        return "the mean is off by a factor ln 10: take the same logarithm of n and of the errors"
    if not close(m, w.mean):
        return (f"the mean slope should be {w.mean:.4f}, you have {m:.4f}: fit one least-squares "
                "slope per seed (row) of log(err_a / err_b) against log n, then average")
    half, got_half = w.ci95[1] - w.mean, (hi - lo) / 2
    s = ea.shape[0]
    ratios = {
        "you used 1.96 (the normal quantile) instead of the t quantile with seeds - 1 degrees "
        "of freedom": 1.96 / stats.t.ppf(0.975, s - 1),
        "you used the standard deviation with ddof = 0; use the sample one (ddof = 1)":
            math.sqrt((s - 1) / s),
        "you used the standard deviation of the slopes, not their standard error "
        "(divide by sqrt(seeds))": math.sqrt(s),
    }
    for why, r in ratios.items():
        if math.isclose(got_half, r * half, rel_tol=1e-4):
            return f"the mean is right but the interval is not: {why}"
    return (f"the mean is right but the interval should be [{w.ci95[0]:.4f}, {w.ci95[1]:.4f}], "
            f"you have [{lo:.4f}, {hi:.4f}]: mean +- t_(0.975, seeds-1) * sd(ddof=1) / sqrt(seeds)")


@register("paired_slope_difference", "07_data_scaling_beyond_the_kernel.ipynb",
          "Write paired_slope_difference(ns, err_a, err_b) -> (mean, lo, hi): per-seed slopes of "
          "log(err_a / err_b) against log n, their mean and 95% t-interval over seeds.")
def check_paired_slope_difference(answer) -> Feedback:
    """Check ``answer(ns (S,), err_a (seeds, S), err_b (seeds, S)) -> (mean, lo, hi)``."""
    for seed, (seeds, sizes) in enumerate(((4, 6), (3, 7))):
        ns, ea, eb = problem(seed, seeds, sizes)
        got, error = run_answer(answer, ns.copy(), ea.copy(), eb.copy())
        if error is not None:
            return error
        try:
            got = tuple(float(v) for v in np.asarray(got, np.float64).reshape(-1))
        except (TypeError, ValueError):
            got = ()
        if len(got) != 3:
            return Feedback(False, "return three numbers: (mean, lo, hi)")
        if not all(math.isfinite(v) for v in got):
            return Feedback(False, "your answer contains NaN or inf")
        w = per_seed_difference(ns, ea, eb)
        want = (w.mean, *w.ci95)
        if not all(math.isclose(g, v, rel_tol=1e-6, abs_tol=1e-9) for g, v in zip(got, want)):
            return Feedback(False, f"with {seeds} seeds and {sizes} sizes: "
                                   + _diagnose(got, want, ns, ea, eb))
    return Feedback(True, "your paired slope difference and its t-interval equal the library's "
                          "(ntk_explore.topics.natural.per_seed_difference) on two problems.")
