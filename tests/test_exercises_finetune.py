"""Notebook 06's exercise checkers: the reference answer passes; each usual slip is named."""

import numpy as np
import pytest

from ntk_explore import exercises as E
from ntk_explore.exercises import finetune as X


def _softmax(logits):
    q = np.exp(logits - logits.max(1, keepdims=True))
    return q / q.sum(1, keepdims=True)


def _energy(logits, y):
    return float(np.mean(np.linalg.norm(y - _softmax(logits), axis=1)))


def _step(theta, direction, energy_vec, eta):
    return eta / theta.shape[0] * np.einsum("abij,bkj,bk->ai", theta, direction, energy_vec)


def test_energy_reference_passes_and_equals_the_library():
    import jax.numpy as jnp

    from ntk_explore import finetune as F

    fb = E.check("head_energy", _energy)
    assert fb.ok, fb.message
    logits, y, want = X.energy_problem(0)
    assert want == pytest.approx(_energy(logits, y), rel=1e-12)
    k = y.shape[1]  # a linear head that passes its input through: logits = z
    hd, identity = F.head("linear", k, k), {"w": jnp.eye(k), "b": jnp.zeros(k)}
    assert F.ft_start(hd, identity, jnp.asarray(logits), jnp.asarray(y)).energy == \
        pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("wrong, words", [
    (lambda l, y: float(np.mean(np.sum((y - _softmax(l)) ** 2, 1))), "squared"),
    (lambda l, y: len(y) * _energy(l, y), "summed over the n"),
    (lambda l, y: float(np.mean(np.linalg.norm(y - l, axis=1))), "softmax"),
    (lambda l, y: float(np.mean(np.abs(y - _softmax(l)).sum(1))), "L1"),
    (lambda l, y: float(np.mean(np.abs(y - _softmax(l)))), "every entry"),
    (lambda l, y: np.linalg.norm(y - _softmax(l), axis=1), "one length per input"),
    (lambda l, y: 0.5 * _energy(l, y), "times 0.5"),
])
def test_energy_slips_are_named(wrong, words):
    fb = E.check("head_energy", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_feature_step_reference_passes_and_is_close_to_the_real_step():
    fb = E.check("feature_step", _step)
    assert fb.ok, fb.message
    p = X.feature_step_problem(0)
    assert p.theta.shape == (6, 6, 16, 16) and p.direction.shape == (6, 3, 16)
    assert np.linalg.norm(p.want - p.real) < 1e-2 * np.linalg.norm(p.real)


def test_feature_step_problem_matches_autodiff_and_the_library():
    """The NumPy problem's closed-form backbone eNTK and hand-written step equal JAX's
    autodiff, and its energy vectors and direction equal the library's ft_start."""
    import jax
    import jax.numpy as jnp

    from ntk_explore import finetune as F
    from ntk_explore.core.kernels import empirical_ntk
    from ntk_explore.core.training import xent

    p = X.FeatureStepProblem(2)
    d = p.w.shape[1]
    feats = lambda w, x: jnp.tanh(x @ w.T / jnp.sqrt(d))  # noqa: E731
    x = jnp.asarray(p.x)
    theta = empirical_ntk(feats, batch_size=None)(x, None, jnp.asarray(p.w))
    np.testing.assert_allclose(theta, p.theta, rtol=1e-10, atol=1e-12)
    loss = lambda w: xent(feats(w, x) @ p.hw.T + p.c[None, :], jnp.asarray(p.y))  # noqa: E731
    w1 = p.w - p.eta * jax.grad(loss)(jnp.asarray(p.w))
    np.testing.assert_allclose(feats(w1, x) - feats(jnp.asarray(p.w), x), p.real, rtol=1e-9,
                               atol=1e-13)
    hd = F.head("linear", p.w.shape[0], p.y.shape[1])
    start = F.ft_start(hd, {"w": jnp.asarray(p.hw), "b": jnp.asarray(p.c)},
                       feats(jnp.asarray(p.w), x), jnp.asarray(p.y))
    np.testing.assert_allclose(start.energy_vec, p.energy_vec, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(start.direction, p.direction, rtol=1e-12)
    half = X.FeatureStepProblem(2, eta=p.eta / 2)
    ratio = np.linalg.norm(p.want - p.real) / np.linalg.norm(half.want - half.real)
    assert 3.5 < ratio < 4.5, ratio


@pytest.mark.parametrize("wrong, words", [
    (lambda t, g, e, eta: t.shape[0] * _step(t, g, e, eta), "without dividing by n"),
    (lambda t, g, e, eta: -_step(t, g, e, eta), "sign is flipped"),
    (lambda t, g, e, eta: _step(t, g, e, 1.0), "step size eta"),
    (lambda t, g, e, eta: _step(t, g, e, eta)[:, :3], "shape"),
])
def test_feature_step_slips_are_named(wrong, words):
    fb = E.check("feature_step", wrong)
    assert not fb.ok and words in fb.message, fb.message


def test_unfinished_answers():
    def stub(*args):
        raise NotImplementedError

    for name in ("head_energy", "feature_step"):
        assert "NotImplementedError" in E.check(name, stub).message


def test_registered_for_notebook_06():
    assert {"head_energy", "feature_step"} <= {e.name for e in E.exercises_of("06")}
