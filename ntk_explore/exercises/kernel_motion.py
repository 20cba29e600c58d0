"""Exercises of notebook 09: measuring how a kernel moves.

* ``kernel_distance``: the kernel distance of Fort et al. (2020),
  ``S(K0, Kt) = 1 - <K0, Kt>_F / (||K0||_F ||Kt||_F)``, the cosine distance between two
  kernel matrices seen as vectors: 0 when ``Kt`` is ``K0`` times a positive number, up to
  1 when they are orthogonal.
* ``centred_alignment``: the centred-target alignment of Baratin et al. (2021),
  ``A(K, y) = yc^T K yc / (||K||_F ||yc||^2)`` with ``yc = y - mean(y)``: how much of the
  kernel lies along the (centred) target.

The checkers call the reader's function on fresh random kernels and compare with
:func:`ntk_explore.core.metrics.kernel_distance` and
:func:`ntk_explore.core.metrics.target_alignment`; a wrong answer is matched against the
usual slips (the cosine instead of the distance, squared norms, no normalisation, an
uncentred target, the trace instead of the Frobenius norm) and the message names it.
"""

from __future__ import annotations

import numpy as np

from ..core import metrics as km
from . import Feedback, register, run_answer

__all__ = ["random_kernels", "check_kernel_distance", "check_centred_alignment"]


def random_kernels(seed: int, n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two symmetric positive semi-definite ``(n, n)`` kernels (the second a perturbed copy of
    the first) and a target ``y`` ``(n,)`` with a non-zero mean."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n + 2))
    k0 = a @ a.T
    b = a + 0.5 * rng.standard_normal(a.shape)
    kt = 1.7 * b @ b.T
    y = rng.standard_normal(n) + 0.8
    return k0, kt, y


def _scalar(name: str, got) -> tuple[float | None, Feedback | None]:
    try:
        arr = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return None, Feedback(False, f"{name} should be one number, got {type(got).__name__}")
    if arr.size != 1:
        return None, Feedback(False, f"{name} should be one number, got an array of shape "
                                     f"{arr.shape}")
    value = float(arr.reshape(()))
    if not np.isfinite(value):
        return None, Feedback(False, f"{name} is {value}: NaN or inf")
    return value, None


def _slip(got: float, slips: dict) -> str:
    for message, value in slips.items():
        if np.isclose(got, value, rtol=1e-6, atol=1e-12):
            return message
    return ""


def _frob(a, b) -> float:
    return float(np.sum(a * b))


@register("kernel_distance", "09_where_the_kernel_loses.ipynb",
          "Write kernel_distance(k0, kt) -> float, S(K0, Kt) = 1 - <K0, Kt>_F / "
          "(||K0||_F ||Kt||_F).")
def check_kernel_distance(answer) -> Feedback:
    """Check ``answer(k0 (n, n), kt (n, n)) -> float`` on random kernels, a rescaled copy
    (distance 0) and the kernel against itself."""
    cases = [random_kernels(seed)[:2] for seed in (0, 1)]
    k = cases[0][0]
    cases += [(k, 3.0 * k), (k, k)]
    for k0, kt in cases:
        raw, error = run_answer(answer, k0.copy(), kt.copy())
        if error is not None:
            return error
        got, error = _scalar("S", raw)
        if error is not None:
            return error
        want = km.kernel_distance(k0, kt)
        if np.isclose(got, want, rtol=1e-6, atol=1e-10):
            continue
        n0, nt, inner = np.linalg.norm(k0), np.linalg.norm(kt), _frob(k0, kt)
        slips = {
            "you returned the cosine <K0, Kt> / (||K0|| ||Kt||); the distance is 1 minus it":
                inner / (n0 * nt),
            "the norms in the denominator should be Frobenius norms, not their squares":
                1.0 - inner / (n0**2 * nt**2),
            "the inner product must be divided by ||K0|| ||Kt|| (without it S depends on the "
            "kernels' scale)": 1.0 - inner,
            "you computed ||K0/||K0|| - Kt/||Kt||||, which is sqrt(2 S); S itself is 1 - the "
            "cosine": float(np.linalg.norm(k0 / n0 - kt / nt)),
            "<K0, Kt>_F is the sum of the elementwise products, not the sum of the entries of "
            "the matrix product K0 @ Kt": 1.0 - float(np.sum(k0 @ kt)) / (n0 * nt),
        }
        hint = _slip(got, slips)
        if hint:
            return Feedback(False, hint)
        if np.allclose(kt, 3.0 * k0) and not np.isclose(got, 0.0, atol=1e-10):
            return Feedback(False, f"S(K, 3 K) should be 0 (a rescaled kernel has not moved), "
                                   f"you have {got:.6g}: normalise by both norms")
        return Feedback(False, f"S differs from the library's value: you have {got:.6g}, "
                               f"expected {want:.6g}")
    return Feedback(True, "your S(K0, Kt) equals ntk_explore.core.metrics.kernel_distance on "
                          "random kernels, and a rescaled kernel has distance 0.")


@register("centred_alignment", "09_where_the_kernel_loses.ipynb",
          "Write centred_alignment(k, y) -> float, yc^T K yc / (||K||_F ||yc||^2) with "
          "yc = y - mean(y).")
def check_centred_alignment(answer) -> Feedback:
    """Check ``answer(k (n, n), y (n,)) -> float`` on random kernels and targets whose mean
    is not zero."""
    for seed in (2, 3):
        k, _, y = random_kernels(seed)
        raw, error = run_answer(answer, k.copy(), y.copy())
        if error is not None:
            return error
        got, error = _scalar("A", raw)
        if error is not None:
            return error
        want = km.target_alignment(k, y)
        if np.isclose(got, want, rtol=1e-6, atol=1e-10):
            continue
        yc = y - y.mean()
        nk = np.linalg.norm(k)
        slips = {
            "centre the target first: yc = y - mean(y) (an uncentred y rewards a kernel for "
            "fitting a constant)": float(y @ k @ y / (nk * (y @ y))),
            "divide by the Frobenius norm ||K||_F, not by the trace of K":
                float(yc @ k @ yc / (np.trace(k) * (yc @ yc))),
            "divide by ||yc||^2 as well (without it A grows with the target's scale)":
                float(yc @ k @ yc / nk),
            "divide by ||K||_F as well (without it A grows with the kernel's scale)":
                float(yc @ k @ yc / (yc @ yc)),
            "||yc||^2 is the squared norm: you divided by ||yc||":
                float(yc @ k @ yc / (nk * np.linalg.norm(yc))),
        }
        hint = _slip(got, slips)
        if hint:
            return Feedback(False, hint)
        return Feedback(False, f"A differs from the library's value: you have {got:.6g}, "
                               f"expected {want:.6g}")
    return Feedback(True, "your alignment equals ntk_explore.core.metrics.target_alignment on "
                          "random kernels with an uncentred target.")
