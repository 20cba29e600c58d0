"""Exercise of notebook 04: a linearized model trained from a given starting function.

A model linearized around ``theta_0`` and trained by gradient flow on
``L = (1/2n) sum_i (f(x_i) - y_i)**2`` moves its outputs by
``df/dt = -(1/n) K (f - y)`` with its fixed kernel ``K``. From a starting function
``f_start`` (``f_start(X)`` on the ``n`` training inputs, ``f_start(x)`` on test inputs)
the outputs at time ``t`` are

``f_t(x) = f_start(x) - K(x, X) K^{-1} (I - exp(-t K / n)) (f_start(X) - y)``

(``K = K(X, X)``, an ``(n, n)`` matrix; ``exp`` the matrix exponential). Pretraining on
another task can only change ``f_start``; the kernel, and so everything the model can
learn from ``y``, stays the same. The checker compares the reader's function with
:func:`ntk_explore.core.linearized.mse_dynamics` and names the usual slips (the
``1/n``, the ``t -> inf`` limit, the test inputs' own starting values, the sign of the
exponent).
"""

from __future__ import annotations

import numpy as np

from ..core.linearized import mse_dynamics
from . import Feedback, compare, register, run_answer

__all__ = ["problem", "reference_prediction", "check_linearized_prediction"]


def problem(seed: int, n: int = 6, n_test: int = 4, p: int = 20) -> tuple:
    """``(k_train (n, n), k_test_train (T, n), y (n, 1), f0_train (n, 1), f0_test (T, 1), t)``:
    a random kernel ``K = Phi Phi^T / p`` from ``p`` random features, targets, a random
    starting function and a time ``t`` at which the slowest modes are only part-way."""
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((n + n_test, p)) * np.linspace(0.3, 2.0, p)  # uneven spectrum
    k = phi @ phi.T / p
    lam = np.linalg.eigvalsh(k[:n, :n])
    t = float(n / np.sqrt(lam.min() * lam.max()))  # e^{-t lam / n} from ~0 to ~1 across modes
    y, f0 = rng.standard_normal((n, 1)), rng.standard_normal((n + n_test, 1))
    return k[:n, :n], k[n:, :n], y, f0[:n], f0[n:], t


def reference_prediction(k_train, k_test_train, y, f0_train, f0_test, t) -> np.ndarray:
    """The library's closed form (:func:`~ntk_explore.core.linearized.mse_dynamics`): ``(T, 1)``."""
    return mse_dynamics(k_train, y, f0_train, ntk_test_train=k_test_train, f0_test=f0_test,
                        times=[t]).test[-1]


def _slips(k_train, k_test_train, y, f0_train, f0_test, t) -> dict[str, np.ndarray]:
    """Predictions of the usual wrong formulas, each with what is wrong in words."""
    n = y.shape[0]
    solve = np.linalg.solve(k_train, f0_train - y)
    return {
        "the flow runs n times too fast: the loss has a 1/n, so the exponent is -t K / n":
            reference_prediction(k_train, k_test_train, y, f0_train, f0_test, t * n),
        "the flow runs n times too slow: the exponent is -t K / n, not -t K / n^2":
            reference_prediction(k_train, k_test_train, y, f0_train, f0_test, t / n),
        "this is the t -> infinity limit (kernel regression from the start): the factor "
        "(I - exp(-t K / n)) is missing": f0_test - k_test_train @ solve,
        "the test inputs' starting values f_start(x) are missing: the model starts from its "
        "starting function on every input, not from 0":
            reference_prediction(k_train, k_test_train, y, f0_train, 0 * f0_test, t),
        "the prediction does not depend on the starting function at all: start the flow from "
        "f_start, not from 0": reference_prediction(k_train, k_test_train, y, 0 * f0_train,
                                                    0 * f0_test, t),
        "the residual has the wrong sign: it is f_start(X) - y, and the test outputs move "
        "against it": f0_test + (k_test_train @ solve - k_test_train @ np.linalg.solve(
            k_train, _expm(-t * k_train / n) @ (f0_train - y))),
    }


def _expm(a: np.ndarray) -> np.ndarray:
    lam, u = np.linalg.eigh(a)
    return (u * np.exp(lam)) @ u.T


@register("linearized_prediction", "04_transfer_through_a_fixed_kernel.ipynb",
          "Write predict(k_train, k_test_train, y, f0_train, f0_test, t) -> (T, 1): a "
          "linearized model's test outputs after gradient flow for time t from f0.")
def check_linearized_prediction(answer) -> Feedback:
    """Check ``answer(k_train (n, n), k_test_train (T, n), y (n, 1), f0_train (n, 1),
    f0_test (T, 1), t) -> (T, 1)`` on two random problems."""
    for seed, (n, n_test) in enumerate(((6, 4), (9, 3))):
        args = problem(seed, n, n_test)
        got, error = run_answer(answer, *args)
        if error is not None:
            return error
        want = reference_prediction(*args)
        fb = compare("the prediction", got, want, rtol=1e-6, atol=1e-9)
        if fb.ok:
            continue
        try:
            got_arr = np.asarray(got, np.float64).reshape(want.shape)
        except (TypeError, ValueError):
            return fb
        for text, wrong in _slips(*args).items():
            if np.allclose(got_arr, wrong, rtol=1e-6, atol=1e-9):
                return Feedback(False, f"with n = {n} training and {n_test} test inputs: {text}.")
        return Feedback(False, f"with n = {n} training and {n_test} test inputs: {fb.message}")
    return Feedback(True, "your closed form equals the library's mse_dynamics on two random "
                          "problems. Note what it says: the start f_start enters only through "
                          "f_start(x) - K(x, X) K^-1 (I - exp(-tK/n)) f_start(X), which does not "
                          "depend on y, so flipping the target's sign cannot flip what the "
                          "start contributes.")
