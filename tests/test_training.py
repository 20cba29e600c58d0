import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_explore.core import kernels, training
from ntk_explore.core.models import mlp


@pytest.fixture
def setup():
    model = mlp(2, 64, 2, 1)
    x = jax.random.normal(jax.random.key(1), (32, 2))
    y = jnp.sin(3 * x[:, :1])
    return model, model.init(jax.random.key(0)), x, y


def test_gd_reduces_loss_and_records(setup):
    model, p0, x, y = setup
    r = training.train(model.apply, p0, x, y, lr=0.5, steps=200, record_every=50,
                       record_x=x[:5], ntk_fn=kernels.mlp_ntk(model), ntk_x=x[:4],
                       ntk_steps=(0, 200), keep_params=True, progress=False)
    assert list(r.steps) == [0, 50, 100, 150, 200]
    assert r.loss[-1] < 0.5 * r.loss[0]
    assert r.outputs.shape == (5, 5, 1)
    assert r.ntks.shape == (2, 4, 4, 1, 1) and list(r.ntk_steps) == [0, 200]
    np.testing.assert_allclose(r.outputs[-1], model.apply(r.params, x[:5]))
    assert len(r.param_history) == 5 and r.diverged_at is None


def test_loss_values_match_definition(setup):
    model, p0, x, y = setup
    r = training.train(model.apply, p0, x, y, lr=0.1, steps=0, progress=False)
    f = model.apply(p0, x)
    assert r.loss[0] == pytest.approx(0.5 * float(jnp.sum((f - y) ** 2)) / 32, rel=1e-12)
    logits = jnp.concatenate([f, -f], axis=1)
    assert training.loss_fn("xent")(logits, jnp.eye(2)[jnp.zeros(32, int)]) == pytest.approx(
        float(jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0])), rel=1e-12)


def test_sgd_is_reproducible_from_its_key_and_differs_across_keys(setup):
    model, p0, x, y = setup
    run = lambda k: training.train(model.apply, p0, x, y, lr=0.2, steps=30, batch_size=8,  # noqa
                                   key=jax.random.key(k), progress=False).loss[-1]
    assert run(1) == run(1)
    assert run(1) != run(2)


def test_divergence_stops_with_message(setup):
    model, p0, x, y = setup
    with pytest.raises(training.DivergenceError, match=r"diverged at step \d+ \(lr=1000\)"):
        training.train(model.apply, p0, x, y, lr=1000.0, steps=100, progress=False)
    r = training.train(model.apply, p0, x, y, lr=1000.0, steps=100, record_every=1,
                       raise_on_divergence=False, progress=False)
    assert r.diverged_at is not None and np.all(np.isfinite(r.loss))


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -1.0}, "lr must be positive"), ({"lr": float("nan")}, "lr must be finite, got nan"),
    ({"steps": -3}, "steps must be"), ({"batch_size": 0, "key": jax.random.key(0)}, "batch_size"),
    ({"batch_size": 4}, "needs key"), ({"loss": "hinge"}, "unknown loss"),
    ({"ntk_steps": (5,)}, "needs ntk_fn"),
])
def test_bad_arguments(setup, kwargs, match):
    model, p0, x, y = setup
    args = {"lr": 0.1, "steps": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        training.train(model.apply, p0, x, y, progress=False, **args)


def test_mismatched_data_shapes(setup):
    model, p0, x, y = setup
    with pytest.raises(ValueError, match="same n"):
        training.train(model.apply, p0, x, y[:10], lr=0.1, steps=1, progress=False)


def test_train_is_quiet_by_default(capsys):
    """Library calls print nothing: the progress bar is opt-in (``progress=True``)."""
    model = mlp(2, 8, 1)
    p0 = model.init(jax.random.key(0))
    x = jnp.linspace(-1, 1, 8).reshape(4, 2)
    training.train(model.apply, p0, x, x[:, :1], lr=0.1, steps=5)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
