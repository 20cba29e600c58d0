"""Notebook 08's exercise checkers: a right answer passes; each usual slip gets a message naming it."""

import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.exercises import pntk as X


def _pntk(theta):
    return theta.sum(axis=(2, 3)) / theta.shape[-1]


def _lookahead(K, labelled, c, evals, resid):
    both = np.append(labelled, c)
    after = K[np.ix_(evals, both)] @ np.linalg.solve(K[np.ix_(both, both)], resid[both])
    before = K[np.ix_(evals, labelled)] @ np.linalg.solve(K[np.ix_(labelled, labelled)],
                                                          resid[labelled])
    return after - before


def test_both_are_registered_for_notebook_08():
    assert {e.name for e in E.exercises_of("08")} >= {"pntk_from_entk", "lookahead_change"}


def test_pntk_reference_answer_passes():
    fb = E.check("pntk_from_entk", _pntk)
    assert fb.ok, fb.message


def test_pntk_problem_is_the_sum_of_blocks_over_k():
    theta, want = X.pntk_problem(0, 3)
    assert theta.shape == (5, 4, 3, 3) and want.shape == (5, 4)
    np.testing.assert_allclose(_pntk(theta), want, rtol=1e-10)
    # not a trivial identity: the cross blocks are not zero and the diagonal ones differ
    assert np.abs(theta[:, :, 0, 1]).max() > 1e-3
    assert not np.allclose(theta[:, :, 0, 0], theta[:, :, 1, 1])


@pytest.mark.parametrize("wrong, words", [
    (lambda t: t.sum(axis=(2, 3)), "did not divide by k"),
    (lambda t: t.sum(axis=(2, 3)) / np.sqrt(t.shape[-1]), "sqrt(k) once"),
    (lambda t: np.trace(t, axis1=2, axis2=3) / t.shape[-1], "only the diagonal blocks"),
    (lambda t: np.trace(t, axis1=2, axis2=3), "only the diagonal blocks"),
    (lambda t: t[:, :, 0, 0], "first-logit"),
    (lambda t: -_pntk(t), "opposite sign"),
    (lambda t: _pntk(t).T, "transpose"),
    (lambda t: t.mean(axis=3), "shape"),
])
def test_pntk_slips_are_named(wrong, words):
    fb = E.check("pntk_from_entk", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_pntk_unfinished_and_broken_answers():
    def unfinished(theta):
        raise NotImplementedError

    assert "NotImplementedError" in E.check("pntk_from_entk", unfinished).message
    assert "IndexError" in E.check("pntk_from_entk", lambda t: t[:, :, 9, 9]).message


def test_lookahead_reference_answer_passes():
    fb = E.check("lookahead_change", _lookahead)
    assert fb.ok, fb.message


def test_lookahead_reference_equals_full_resolve():
    problem = X.lookahead_problem(3)
    np.testing.assert_allclose(X.reference_lookahead(*problem), _lookahead(*problem),
                               rtol=1e-8, atol=1e-10)


def _after(K, labelled, c, evals, resid):
    both = np.append(labelled, c)
    return K[np.ix_(evals, both)] @ np.linalg.solve(K[np.ix_(both, both)], resid[both])


@pytest.mark.parametrize("wrong, words", [
    (_after, "not their change"),
    (lambda K, L, c, e, r: np.outer(K[e, c], r[c]) / K[c, c], "ignores the labelled points"),
    (lambda K, L, c, e, r: -_lookahead(K, L, c, e, r), "opposite sign"),
    (lambda K, L, c, e, r: _lookahead(K, L, c, e, r)[:, 0], "shape"),
])
def test_lookahead_slips_are_named(wrong, words):
    fb = E.check("lookahead_change", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_problem_kernels_equal_the_library_routes():
    """The checker's NumPy Jacobians give the library's eNTK and pNTK of the same net."""
    import jax
    import jax.numpy as jnp

    from ntk_explore.core.kernels import empirical_ntk, pntk

    def apply(params, x):
        w, v = params
        return jax.nn.relu(x @ w.T / jnp.sqrt(w.shape[1])) @ v.T / jnp.sqrt(w.shape[0])

    theta, want = X.pntk_problem(1, 4)
    rng = np.random.default_rng(1)  # the problem's own draws, in its order
    w, v = rng.standard_normal((16, 3)), rng.standard_normal((4, 16))
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(X.two_layer(w, v, x1), apply((w, v), x1), rtol=1e-5)
    with jax.enable_x64(True):
        params = (jnp.asarray(w), jnp.asarray(v))
        lib_theta = np.asarray(empirical_ntk(apply, batch_size=None)(x1, x2, params))
        lib_p = np.asarray(pntk(apply, 4, batch_size=None)(x1, x2, params))
    np.testing.assert_allclose(theta, lib_theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(want, lib_p, rtol=1e-9, atol=1e-12)
