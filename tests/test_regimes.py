import jax
import numpy as np
import pytest

from ntk_explore import datasets, regimes


def test_fit_loglog_recovers_exponent_and_covers_it():
    """Noisy power laws: the 95% interval covers the true slope about 95% of the time."""
    rng = np.random.default_rng(0)
    x = np.geomspace(16, 4096, 9)
    covered, slopes = 0, []
    for _ in range(400):
        y = 3.0 * x**-0.5 * np.exp(0.05 * rng.normal(size=x.size))
        fit = regimes.fit_loglog(x, y)
        slopes.append(fit.slope)
        covered += fit.ci95[0] <= -0.5 <= fit.ci95[1]
    assert abs(np.mean(slopes) + 0.5) < 0.005
    assert 0.92 <= covered / 400 <= 0.98
    np.testing.assert_allclose(regimes.fit_loglog(x, 2 * x**1.5).predict(x), 2 * x**1.5,
                               rtol=1e-10)


@pytest.mark.parametrize("x,y", [([1, 2], [1, 2]), ([1, 2, 3], [1, -2, 3]), ([0, 1, 2], [1, 2, 3])])
def test_fit_loglog_rejects_bad_input(x, y):
    with pytest.raises(ValueError):
        regimes.fit_loglog(x, y)


def test_convergence_sweep_shapes_and_error_bars():
    x, _ = datasets.circle(8)
    sweep = regimes.entk_convergence(x, [64, 16, 32], key=jax.random.key(0), seeds=3, depth=1)
    assert list(sweep.widths) == [16, 32, 64]
    assert sweep.errors.shape == (3, 3) and sweep.ntk_inf.shape == (8, 8)
    assert np.all(sweep.sem > 0) and np.all(np.isfinite(sweep.mean))
    with pytest.raises(ValueError, match="seeds must be >= 2"):
        regimes.entk_convergence(x, [16], key=jax.random.key(0), seeds=1)


def test_datasets():
    x, theta = datasets.circle(12)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    assert theta.shape == (12,)
    s = datasets.sphere(jax.random.key(0), 5, 7)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        datasets.circle(0)


def test_kept_kernels_are_the_ones_the_errors_were_measured_on():
    from ntk_explore.core.models import mlp

    x, _ = datasets.circle(10)
    key = jax.random.key(3)
    sweep = regimes.entk_convergence(x, (8, 32, 64), key=key, seeds=2, keep_kernels=True, depth=2,
                                     activation="erf")
    assert sweep.kernels.shape == (2, 3, 10, 10, 1, 1)
    assert regimes.entk_convergence(x, (8, 32, 64), key=key, seeds=2, depth=1).kernels is None
    err, entk, _ = regimes.entk_error(mlp(2, 32, 2, activation="erf"), x, jax.random.fold_in(key, 1))
    np.testing.assert_allclose(sweep.kernels[1, 1], entk, rtol=1e-12)
    assert sweep.errors[1, 1] == pytest.approx(err, rel=1e-12)


def test_grid_sweep_equals_one_sweep_per_pair():
    x, _ = datasets.circle(9)
    key = jax.random.key(5)
    grid = regimes.entk_convergence_grid(x, (16, 48, 8), key=key, seeds=3, depth=2,
                                         activations=("relu", "erf"),
                                         parametrizations=("ntk", "mup"), keep_kernels=True)
    assert set(grid) == {("relu", "ntk"), ("relu", "mup"), ("erf", "ntk"), ("erf", "mup")}
    one = regimes.entk_convergence(x, (16, 48, 8), key=key, seeds=3, depth=2, activation="erf",
                                   parametrization="mup", keep_kernels=True)
    sweep = grid[("erf", "mup")]
    np.testing.assert_array_equal(sweep.widths, one.widths)
    np.testing.assert_allclose(sweep.errors, one.errors, rtol=1e-10)
    np.testing.assert_allclose(sweep.kernels, one.kernels, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sweep.ntk_inf, one.ntk_inf, rtol=1e-12)
    from ntk_explore.core.models import mlp

    for (act, par), sweep in grid.items():  # every pair at one width and seed
        err, entk, _ = regimes.entk_error(mlp(2, 16, 2, activation=act, parametrization=par), x,
                                          jax.random.fold_in(key, 2))
        assert sweep.errors[2, 1] == pytest.approx(err, rel=1e-10)
        np.testing.assert_allclose(sweep.kernels[2, 1], entk, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="distinct"):
        regimes.entk_convergence_grid(x, (8, 16, 32), key=key, activations=("relu", "relu"))


def test_entk_convergence_verdict_three_outcomes():
    """The verdict is judge('entk_convergence') on the fitted slope: a -1/2 law holds, a
    -1 law does not, a noisy short sweep is inconclusive."""
    w = np.array([16, 32, 64, 128, 256, 512])
    rng = np.random.default_rng(0)

    def sweep(p, noise):
        errors = 2.0 * w**p * np.exp(noise * rng.normal(size=(4, w.size)))
        return regimes.ConvergenceSweep(w, errors, np.eye(3))

    assert regimes.entk_convergence_verdict(sweep(-0.5, 0.01)).status == "holds"
    assert regimes.entk_convergence_verdict(sweep(-1.0, 0.01)).status == "does not hold"
    v = regimes.entk_convergence_verdict(sweep(-0.45, 0.6))
    assert v.status == "inconclusive", v.summary
    assert v.key == "entk_convergence" and v.notebook == "01_entk_vs_width.ipynb" and v.why


def test_standard_parametrization_kernel_grows_with_width():
    x, _ = datasets.circle(8)
    std = regimes.kernel_scale(x, (64, 256, 1024), key=jax.random.key(0), depth=1,
                               parametrization="standard")
    ntk = regimes.kernel_scale(x, (64, 256, 1024), key=jax.random.key(0), depth=1)
    assert std[0] == pytest.approx(ntk[0], rel=1e-9)  # equal at the base width 64
    ratio = std / ntk  # the layers with fan-in m grow like m / 64; the input layer does not
    assert np.all(np.diff(ratio) > 0) and ratio[-1] > 0.4 * 16, ratio
