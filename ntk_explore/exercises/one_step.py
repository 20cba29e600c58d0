"""Exercise of notebook 02: one gradient-descent step, predicted through the eNTK.

For the squared loss ``L = 1/(2n) sum_i (f(x_i) - y_i)**2`` over ``n`` training points,
one gradient-descent step of rate ``eta`` changes the prediction at any input ``x`` by

``delta f(x) = -eta * sum_i Theta(x, x_i) * (f(x_i) - y_i) / n``,

with ``Theta`` the eNTK at the current parameters: exactly for the linearized network,
up to ``O(eta**2)`` for the network itself. In matrix form, with ``K_xX`` ``(m, n)`` the
eNTK between ``m`` query inputs and the training inputs,
``delta = -(eta / n) K_xX (f_X - y_X)``.

The checker compares the reader's function with the library's closed-form dynamics of the
linearized model (:func:`ntk_explore.core.linearized.mse_dynamics` after one step, an
eigendecomposition route that shares no code with the formula above), on random kernels
(Gram matrices of random "gradients", as an eNTK is), and names the usual slips: the
sign, the ``1/n`` of the mean, the ``1/2`` of the loss, the learning rate, the kernel's
orientation. ``tests/test_exercises_one_step.py`` checks that the reference is the first-
order change of a real gradient step of an MLP.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.linearized import mse_dynamics
from . import Feedback, compare, register, run_answer

__all__ = ["OneStepProblem", "one_step_problem", "reference_change", "check_one_step_prediction"]


class OneStepProblem(NamedTuple):
    """A small regression problem at a random MLP's initialisation (float64 NumPy arrays).

    ``k_xX`` ``(m, n)``: eNTK between query and training inputs; ``k_XX`` ``(n, n)``;
    ``f_X``, ``y_X`` ``(n,)``: outputs and targets on the training inputs; ``f_x``
    ``(m,)``: outputs on the queries; ``lr``: the step.
    """

    k_xX: np.ndarray
    k_XX: np.ndarray
    f_X: np.ndarray
    y_X: np.ndarray
    f_x: np.ndarray
    lr: float


def one_step_problem(seed: int, n: int = 6, m: int = 4, features: int = 12,
                     lr: float = 0.3) -> OneStepProblem:
    """A random problem (float64): a positive semi-definite kernel over ``n`` training and
    ``m`` query inputs from ``features`` random features (an eNTK is such a Gram matrix of
    parameter gradients), outputs, targets and a step ``lr``. NumPy only: checking an
    answer compiles nothing."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n + m, features))  # one row of "gradients" per input
    k = g @ g.T / features
    f = rng.standard_normal(n + m)
    y = rng.standard_normal(n)
    return OneStepProblem(k[n:, :n], k[:n, :n], f[:n], y, f[n:], lr)


def reference_change(p: OneStepProblem) -> np.ndarray:
    """The change ``(m,)`` of the linearized model's predictions at the queries after one GD
    step, from the library's closed-form dynamics."""
    dyn = mse_dynamics(p.k_XX, p.y_X[:, None], p.f_X[:, None], ntk_test_train=p.k_xX,
                       f0_test=p.f_x[:, None], steps=[1], lr=p.lr)
    return np.asarray(dyn.test[0, :, 0]) - p.f_x


def _diagnose(got: np.ndarray, p: OneStepProblem) -> str:
    """Name the slip when ``got`` is one of the usual wrong answers."""
    n = p.f_X.size
    r = p.f_X - p.y_X
    slips = {
        "the sign is flipped: gradient descent moves against the gradient, so the change is "
        "-eta K (f - y) / n (or use the residual y - f with a plus sign)": p.lr / n * p.k_xX @ r,
        f"n = {n} times too large: the loss is a mean over the n training points, so its "
        "gradient with respect to f(x_i) is (f(x_i) - y_i) / n": -p.lr * p.k_xX @ r,
        "twice too large: the loss has a 1/2 in front, so the gradient of (f - y)^2 / 2 is "
        "(f - y), not 2 (f - y)": -2 * p.lr / n * p.k_xX @ r,
        "missing the learning rate eta": -p.k_xX @ r / n,
        "the new predictions, not their change (or the change added to the training "
        "outputs)": p.f_x - p.lr / n * p.k_xX @ r,
    }
    for text, value in slips.items():
        if np.shape(value) == got.shape and np.allclose(got, value, rtol=1e-6, atol=1e-12):
            return text
    return ""


@register("one_step_prediction", "02_is_a_trained_net_its_ntk.ipynb",
          "Write one_step(k_xX, f_X, y_X, lr) -> (m,): the change of the predictions at m query "
          "inputs after one gradient-descent step on L = 1/(2n) sum (f - y)^2, through the eNTK.")
def check_one_step_prediction(answer) -> Feedback:
    """Check ``answer(k_xX (m, n), f_X (n,), y_X (n,), lr) -> (m,)`` on two random problems
    (``m != n``, so a transposed kernel shows up as a shape error)."""
    for seed, (n, m) in enumerate(((6, 4), (9, 5))):
        p = one_step_problem(seed, n=n, m=m)
        got, error = run_answer(answer, p.k_xX.copy(), p.f_X.copy(), p.y_X.copy(), p.lr)
        if error is not None:
            return error
        want = reference_change(p)
        try:
            arr = np.asarray(got, np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.shape == want.shape:
            slip = _diagnose(arr, p)
            if slip:
                return Feedback(False, f"with n = {n} training and m = {m} query points your change "
                                       f"is {slip}.")
        if arr is not None and arr.shape == (n,):
            return Feedback(False, f"your answer has one value per training point ({n}); the "
                                   f"change is wanted at the {m} query inputs: contract the "
                                   f"kernel k_xX (m, n) with the residual on the training points")
        fb = compare("the change of the predictions", got, want)
        if not fb.ok:
            return Feedback(False, f"with n = {n} training and m = {m} query points: {fb.message}")
    return Feedback(True, "your one-step change equals the library's closed-form dynamics of the "
                          "linearized network after one step, on two random problems (to 1e-6 relative).")
