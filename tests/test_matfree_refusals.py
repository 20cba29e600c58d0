"""The matrix-free solver refuses what it cannot answer, before any solve, and names why.

One test per class of bad input; each asserts the start of the message a user sees.
"""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import threadpoolctl

import ntk_explore as ne
from ntk_explore.core import matfree


@pytest.fixture(scope="module")
def problem():
    model = ne.mlp(3, 8, 1, 2)
    k = jax.random.split(jax.random.key(3), 4)
    params = model.init(k[0])
    x = jax.random.normal(k[1], (10, 3))
    return model, params, x, jax.random.normal(k[2], (10, 2)), jax.random.normal(k[3], (4, 3))


@pytest.mark.parametrize("kw, msg", [
    (dict(tol=2.0), r"^tol must be a number > 0 and < 1, got 2.0"),
    (dict(tol=1.0), r"^tol must be a number > 0 and < 1"),
    (dict(rank=-3), r"^rank must be an integer >= 0, got -3"),
    (dict(ridge=float("inf")), r"^ridge must be finite"),
    (dict(ridge=-1.0), r"^ridge must be a number >= 0"),
    (dict(rank=4), r"^rank > 0 asks for a Nystrom preconditioner, which needs key="),
    (dict(rank=4, key=0), r"^key must be a JAX random key"),
    (dict(kernel="ntk"), r"^unknown kernel 'ntk'"),
    (dict(chunk_size=0), r"^chunk_size must be an integer >= 1"),
])
def test_bad_settings(problem, kw, msg):
    model, params, x, y, xt = problem
    with pytest.raises((ValueError, TypeError), match=msg):
        matfree.matfree_regression(model.apply, params, x, y, xt, ridge=kw.pop("ridge", 0.1), **kw)


def test_bad_inputs_are_named_as_inputs(problem):
    model, params, x, y, xt = problem
    nan_params = jax.tree.map(lambda a: a.at[(0,) * a.ndim].set(jnp.nan), params)
    with pytest.raises(ValueError, match=r"^params \(leaf 0\) contains 1 non-finite"):
        matfree.matfree_regression(model.apply, nan_params, x, y, xt, ridge=0.1)
    with pytest.raises(ValueError, match=r"^x_test must have the shape of one training input per "
                                         r"row, \(t, 3\), got \(4, 5\)"):
        matfree.matfree_regression(model.apply, params, x, y, jnp.ones((4, 5)), ridge=0.1)
    with pytest.raises(ValueError, match=r"^y_train must be \(10, 2\) for the eNTK, got \(10, 3\)"):
        matfree.matfree_regression(model.apply, params, x, jnp.ones((10, 3)), xt, ridge=0.1)
    with pytest.raises(ValueError, match=r"^x_train must have at least 1 row"):
        matfree.matfree_regression(model.apply, params, x[:0], y[:0], xt, ridge=0.1)
    with pytest.raises(ValueError, match=r"^x_test must have 3 features"):
        matfree.mlp_matfree_regression(model, params, x, y, jnp.ones((4, 5)), ridge=0.1)
    other = ne.mlp(3, 16, 1, 2).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"^params do not match the model"):
        matfree.mlp_matfree_regression(model, other, x, y, xt, ridge=0.1)


def test_operator_must_be_built_on_these_inputs(problem):
    model, params, x, y, xt = problem
    op = matfree.tangent_operator(model.apply, params, x[::-1])
    with pytest.raises(ValueError, match=r"^operator was built on other inputs"):
        matfree.matfree_regression(model.apply, params, x, y, xt, operator=op, ridge=0.1)
    op = matfree.tangent_operator(model.apply, jax.tree.map(lambda a: 2 * a, params), x)
    with pytest.raises(ValueError, match=r"^operator was built at other parameters"):
        matfree.matfree_regression(model.apply, params, x, y, xt, operator=op, ridge=0.1)


def test_no_interpolant_stops_at_once():
    """ridge 0 with more equations than parameters: a clear ConvergenceError, no iterations."""
    model = ne.mlp(2, 2, 1, 3)  # P = 2*2+2 + 2*3+3 = 15 parameters, n k = 30 equations
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (10, 2))
    y = jax.random.normal(jax.random.key(2), (10, 3))
    with pytest.raises(ne.ConvergenceError, match=r"^no interpolant: .* 30 equations .* P = 15"):
        matfree.matfree_regression(model.apply, params, x, y, x, ridge=0.0)


def test_legal_inputs_are_accepted(problem):
    model, params, x, y, xt = problem
    a = matfree.matfree_regression(model.apply, params, np.asarray(x).tolist(), y, xt,
                                   ridge=np.float64(0.1), rank=np.int64(4), key=jax.random.key(0),
                                   maxiter=np.int64(200), chunk_size=np.int64(4), tol=1e-8)
    b = matfree.matfree_regression(model.apply, params, x, y, xt, ridge=0.1, tol=1e-8)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=1e-5, atol=1e-8)
    empty = matfree.matfree_regression(model.apply, params, x, y, xt[:0], ridge=0.1)
    assert empty.predictions.shape == (0, 2) and empty.converged


def test_concurrent_preconditioned_solves_leave_the_thread_limit_alone(problem):
    model, params, x, y, xt = problem

    def blas():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    errors = []

    def solve(seed):
        try:
            for _ in range(3):
                matfree.mlp_matfree_regression(model, params, x, y, xt, kernel="entk", ridge=0.1,
                                               rank=6, key=jax.random.key(seed), tol=1e-8)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=solve, args=(s,)) for s in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert blas() == before
