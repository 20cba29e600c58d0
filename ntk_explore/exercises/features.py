"""Exercise of notebook 03: the kernel distance S(K0, Kt), by hand.

``S(K0, Kt) = 1 - <K0, Kt>_F / (||K0||_F ||Kt||_F)`` (Fort et al. 2020) is one minus the
cosine between two kernel matrices seen as vectors: ``<A, B>_F = sum_ij A_ij B_ij`` and
``||A||_F = sqrt(<A, A>_F)``. It is 0 when ``Kt`` is ``K0`` times a positive number, so
it measures a change of the kernel's *shape* (which inputs it treats as alike), not of
its size; the relative change ``||Kt - K0||_F / ||K0||_F`` sees both.

The checker compares the reader's function with the library's
:func:`ntk_explore.core.metrics.kernel_distance` on random pairs of kernels and names
the usual slips: the cosine instead of one minus it, the relative change, a wrong
normalisation, an answer that changes when ``Kt`` is rescaled.
"""

from __future__ import annotations

import numpy as np

from ..core.metrics import kernel_distance
from . import Feedback, register, run_answer

__all__ = ["kernel_pair", "check_kernel_distance"]


def kernel_pair(seed: int, n: int = 6, change: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two ``(n, n)`` positive semi-definite kernels: ``K0 = A A^T / n`` and ``Kt`` the same
    Gram after its features ``A`` moved by ``change`` (relative) and were rescaled by 1.7."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 2 * n))
    b = a + change * rng.standard_normal((n, 2 * n))
    return a @ a.T / n, 1.7 * (b @ b.T) / n


def _as_number(value) -> float | None:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return None
    return float(arr) if arr.size == 1 else None


def _diagnose(got: float, k0: np.ndarray, kt: np.ndarray) -> str:
    """What a wrong number is, if it is one of the usual slips."""
    inner = float(np.sum(k0 * kt))
    n0, nt = np.linalg.norm(k0), np.linalg.norm(kt)
    slips = {
        "the cosine <K0, Kt>_F / (||K0|| ||Kt||): the distance is one minus it": inner / (n0 * nt),
        "the relative change ||Kt - K0||_F / ||K0||_F, which also counts a change of scale; "
        "the kernel distance compares directions only": np.linalg.norm(kt - k0) / n0,
        "normalised by ||K0||^2 instead of ||K0|| ||Kt||": 1 - inner / n0**2,
        "normalised by the squared norms ||K0||^2 ||Kt||^2 (take square roots: ||A||_F = "
        "sqrt(sum A_ij^2))": 1 - inner / (n0**2 * nt**2),
        "one minus the matrix product's sum, sum(K0 @ Kt): the Frobenius inner product is the "
        "elementwise sum, sum(K0 * Kt)": 1 - float(np.sum(k0 @ kt)) / (n0 * nt),
    }
    for text, value in slips.items():
        if np.isclose(got, value, rtol=1e-6, atol=1e-12):
            return f" Your number is {text}."
    return ""


@register("kernel_distance_S", "03_lazy_vs_feature_learning.ipynb",
          "Write kernel_distance(K0, Kt) -> float, S = 1 - <K0, Kt>_F / (||K0||_F ||Kt||_F).")
def check_kernel_distance(answer) -> Feedback:
    """Check ``answer(K0 (n, n), Kt (n, n)) -> float`` on three random kernel pairs, on a
    kernel against itself, and against a rescaled copy of itself."""
    for seed, (n, change) in enumerate(((6, 0.5), (9, 0.2), (4, 1.5))):
        k0, kt = kernel_pair(seed, n, change)
        result, error = run_answer(answer, k0, kt)
        if error is not None:
            return error
        got = _as_number(result)
        if got is None:
            return Feedback(False, f"kernel_distance should return one number, got "
                                   f"{type(result).__name__} of shape {np.shape(result)}")
        want = kernel_distance(k0, kt)
        if not np.isfinite(got):
            return Feedback(False, "your kernel distance is NaN or inf")
        if not np.isclose(got, want, rtol=1e-8, atol=1e-12):
            return Feedback(False, f"for a pair of {n} x {n} kernels you return {got:.6g}, "
                                   f"expected S = {want:.6g}." + _diagnose(got, k0, kt))
    k0, _ = kernel_pair(7)
    for what, kt in (("K0 against itself", k0), ("K0 against 3 K0", 3.0 * k0)):
        got = _as_number(run_answer(answer, k0, kt)[0])
        if got is None or not np.isclose(got, 0.0, atol=1e-9):
            return Feedback(False, f"for {what} you return {got}, expected 0: the kernel "
                                   "distance ignores the kernel's scale")
    return Feedback(True, "your S(K0, Kt) equals the library's kernel_distance on three random "
                          "kernel pairs, is 0 for a kernel against itself and against a rescaled "
                          "copy of itself: it sees the kernel's shape, not its size.")
