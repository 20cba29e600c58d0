"""Notebook 02's exercise: the one-step prediction change through the eNTK.

A right answer passes; each typical wrong answer gets a message naming what is wrong; the
reference route (closed-form linearized dynamics) agrees with an actual gradient step of
the network to first order in the step.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.core.kernels import mlp_ntk
from ntk_explore.core.models import mlp
from ntk_explore.core.training import full_loss
from ntk_explore.exercises import one_step


def right(k_xX, f_X, y_X, lr):
    return -lr / f_X.size * k_xX @ (f_X - y_X)


@pytest.mark.parametrize("wrong, words", [
    (lambda k, f, y, lr: lr / f.size * k @ (f - y), "sign"),
    (lambda k, f, y, lr: -lr * k @ (f - y), "mean over the n training points"),
    (lambda k, f, y, lr: -2 * lr / f.size * k @ (f - y), "1/2 in front"),
    (lambda k, f, y, lr: -k @ (f - y) / f.size, "learning rate"),
    (lambda k, f, y, lr: -lr / f.size * k.T, "shape"),
    (lambda k, f, y, lr: -lr / f.size * (k.T @ k) @ (f - y), "one value per training point"),
    (lambda k, f, y, lr: -lr / f.size * k @ (f - y) + 1e-3, "differs from the library"),
])
def test_wrong_answers_are_named(wrong, words):
    fb = E.check("one_step_prediction", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_right_answer_and_broken_functions():
    assert E.check("one_step_prediction", right).ok
    assert E.check("one_step_prediction", jax.jit(right, static_argnums=3)).ok  # JAX arrays too

    def unfinished(k_xX, f_X, y_X, lr):
        raise NotImplementedError

    assert "NotImplementedError" in E.check("one_step_prediction", unfinished).message
    assert "expected a function" in E.check("one_step_prediction", None).message
    assert "02_is_a_trained_net_its_ntk" in E.EXERCISES["one_step_prediction"].notebook


def test_reference_is_the_first_order_change_of_a_real_gradient_step():
    """Independent route: one GD step on an MLP itself changes the query outputs by the
    reference (closed-form linearized dynamics with the MLP's eNTK) plus O(lr^2)."""
    n, m, d, width = 6, 4, 3, 32
    kx, kq, ky, kp = jax.random.split(jax.random.key(3), 4)
    x = jax.random.normal(kx, (n, d), jnp.float64)
    q = jax.random.normal(kq, (m, d), jnp.float64)
    y = jax.random.normal(ky, (n,), jnp.float64)
    model = mlp(d, width, 1)
    params = model.init(kp, dtype=jnp.float64)
    ntk = mlp_ntk(model)
    f_X, f_x = (np.asarray(model.apply(params, z))[:, 0] for z in (x, q))
    k_XX = np.asarray(ntk(x, None, params)[:, :, 0, 0])
    p = one_step.OneStepProblem(np.asarray(ntk(q, x, params)[:, :, 0, 0]), 0.5 * (k_XX + k_XX.T),
                                f_X, np.asarray(y), f_x, 0.0)
    grads = jax.grad(lambda th: full_loss(model, th, x, y[:, None]))(params)
    errs = []
    for lr in (0.1, 0.05):
        new = jax.tree.map(lambda a, g, s: a - lr * s * g, params, grads, model.lr_scales())
        actual = np.asarray(model.apply(new, q)[:, 0]) - f_x
        predicted = one_step.reference_change(p._replace(lr=lr))
        errs.append(np.max(np.abs(actual - predicted)))
        np.testing.assert_allclose(predicted, right(p.k_xX, p.f_X, p.y_X, lr), rtol=1e-10)
        assert errs[-1] < 0.05 * np.max(np.abs(actual))  # first order: close already
    assert errs[1] < 0.3 * errs[0]  # the gap shrinks like lr^2 (a quarter, with slack)


def test_problems_are_valid_kernels():
    p = one_step.one_step_problem(0, n=7, m=3)
    assert p.k_xX.shape == (3, 7) and p.k_XX.shape == (7, 7)
    assert np.min(np.linalg.eigvalsh(p.k_XX)) > -1e-12
