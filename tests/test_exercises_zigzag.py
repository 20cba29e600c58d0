"""Notebook 05's exercise checkers: the reference answer passes; each usual slip is named."""

import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.exercises import zigzag as X


def _one_step(ntk, q_tilde, q_batch, p_tar, eta):
    b = q_batch.shape[0]
    df = eta / b * np.einsum("mbce,be->mc", ntk, p_tar - q_batch)
    a = np.einsum("mc,cd->mcd", q_tilde, np.eye(q_tilde.shape[1])) \
        - q_tilde[:, :, None] * q_tilde[:, None, :]
    return np.einsum("mcd,md->mc", a, df)


def _filtered(paths, rate):
    m = np.zeros(paths.shape[1:])
    for q in paths:
        m = rate * m + (1 - rate) * q
    return m / (1 - rate ** len(paths))


def test_one_step_reference_passes_and_is_close_to_the_real_step():
    fb = E.check("one_step_change", _one_step)
    assert fb.ok, fb.message
    assert "real change" in fb.message
    p = X.one_step_problem()
    # first order in eta: at eta = 1e-3 the prediction is within 1% of the real step
    assert np.linalg.norm(p.want - p.real) < 1e-2 * np.linalg.norm(p.real)


def test_one_step_problem_matches_autodiff_and_the_library_formula():
    """The NumPy problem's closed-form eNTK and hand-written step equal JAX's autodiff; its
    prediction equals the library's one-step formula applied to that eNTK."""
    import jax
    import jax.numpy as jnp

    from ntk_explore.core.kernels import empirical_ntk
    from ntk_explore.core.training import xent

    p = X.OneStepProblem(3)
    h, d = p.w.shape

    def apply(params, x):
        w, v = params
        return jax.nn.relu(x @ w.T / jnp.sqrt(d)) @ v.T / jnp.sqrt(h)

    params = (jnp.asarray(p.w), jnp.asarray(p.v))
    ntk = empirical_ntk(apply, batch_size=None)(jnp.asarray(p.x_tilde), jnp.asarray(p.x), params)
    np.testing.assert_allclose(ntk, p.ntk, rtol=1e-10, atol=1e-12)
    grads = jax.grad(lambda q: xent(apply(q, jnp.asarray(p.x)), jnp.asarray(p.p_tar)))(params)
    w1, v1 = p.step()
    np.testing.assert_allclose(w1, p.w - p.eta * grads[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(v1, p.v - p.eta * grads[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(_one_step(*p.args), p.want, rtol=1e-12)
    # halving eta quarters the gap to the real step (second order)
    half = X.OneStepProblem(3, eta=p.eta / 2)
    ratio = np.linalg.norm(p.want - p.real) / np.linalg.norm(half.want - half.real)
    assert 3.5 < ratio < 4.5, ratio


@pytest.mark.parametrize("wrong, words", [
    (lambda n, qt, qb, p, eta: eta / qb.shape[0] * np.einsum("mbce,be->mc", n, p - qb),
     "change of the logits"),
    (lambda n, qt, qb, p, eta: qb.shape[0] * _one_step(n, qt, qb, p, eta), "without dividing by b"),
    (lambda n, qt, qb, p, eta: -_one_step(n, qt, qb, p, eta), "sign is flipped"),
    (lambda n, qt, qb, p, eta: _one_step(n, qt, qb, p, 1.0), "step size eta"),
    (lambda n, qt, qb, p, eta: 3 * _one_step(n, qt, qb, p, eta), "times 3"),
    (lambda n, qt, qb, p, eta: _one_step(n, qt, qb, p, eta).T, "transpose"),
    (lambda n, qt, qb, p, eta: qt * eta / qb.shape[0] * np.einsum("mbce,be->mc", n, p - qb), "diag(q)"),
])
def test_one_step_slips_are_named(wrong, words):
    fb = E.check("one_step_change", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_filtered_reference_passes():
    fb = E.check("filtered_targets", _filtered)
    assert fb.ok, fb.message


def _swapped(paths, rate):
    m = np.zeros(paths.shape[1:])
    for q in paths:
        m = (1 - rate) * m + rate * q
    return m


@pytest.mark.parametrize("wrong, words", [
    (lambda p, r: _filtered(p, r) * (1 - r ** len(p)), "bias correction"),
    (_swapped, "weight rate on the newest"),
    (lambda p, r: p.mean(0), "plain average"),
    (lambda p, r: p[-1], "last record"),
    (lambda p, r: _filtered(p[1:], r), "skipped the first record"),
])
def test_filtered_slips_are_named(wrong, words):
    fb = E.check("filtered_targets", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_unfinished_and_crashing_answers():
    def stub(*args):
        raise NotImplementedError

    for name in ("one_step_change", "filtered_targets"):
        assert "NotImplementedError" in E.check(name, stub).message
    assert "IndexError" in E.check("filtered_targets", lambda p, r: p[99]).message


def test_registered_for_notebook_05():
    names = {e.name for e in E.exercises_of("05")}
    assert {"one_step_change", "filtered_targets"} <= names
