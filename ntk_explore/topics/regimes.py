"""How the eNTK at init approaches the infinite-width NTK: width sweeps (notebook 01).

The claim (Jacot et al. 2018): in NTK parametrization the eNTK of a net of hidden width
``m`` at its random initialisation converges to a fixed kernel as ``m`` grows, with a
relative error ``||eNTK - NTK (x) I_k||_F / ||NTK (x) I_k||_F`` falling like ``m**-1/2``.
:data:`CONVERGENCE` holds notebook 01's settings; :func:`convergence_sweep` runs them and
:func:`entk_convergence_verdict` judges the fitted slope (claim ``'entk_convergence'`` of
:mod:`ntk_explore.core.verdicts`), for the notebook and the tour alike.

``fit_loglog`` and ``LogLogFit`` live in :mod:`ntk_explore.core.metrics` (re-exported here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core import validation as V
from ..core.datasets import circle
from ..core.kernels import check_kernel_memory, infinite_kernel_fn, mlp_ntk, structured_ntk
from ..core.metrics import LogLogFit, fit_loglog, relative_norm
from ..core.models import mlp
from ..core.verdicts import Verdict, judge

__all__ = ["LogLogFit", "fit_loglog", "ConvergenceSweep", "entk_convergence",
           "entk_convergence_grid", "entk_error", "CONVERGENCE", "convergence_sweep",
           "entk_convergence_verdict", "kernel_scale", "ConvergenceSettings"]

@dataclasses.dataclass(frozen=True)
class ConvergenceSettings:
    """Notebook 01's settings: ``n_points`` on the unit circle, ``depth`` hidden layers,
    ``seeds`` initialisations (``fold_in(key(seed), s)``) per width, ``widths``."""

    n_points: int = 48
    depth: int = 2
    seeds: int = 5
    seed: int = 0
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048)


CONVERGENCE = ConvergenceSettings()
"""Notebook 01's settings (ReLU, NTK parametrization, widths 16-2048: the CPU defaults, as
the random draw for width 4096 alone would push the notebook past 1 GB). The tour and the
notebook judge the claim at these settings."""


@V.checked
def entk_error(model, x: V.FiniteArray, key: V.Key, ntk_inf: jax.Array | None = None):
    """Relative Frobenius error ``||eNTK - NTK (x) I_k|| / ||NTK (x) I_k||`` at one init.

    Returns ``(error, entk (n, n, k, k), ntk_inf (n, n))``.
    """
    if ntk_inf is None:
        ntk_inf = infinite_kernel_fn(model)(x).ntk
    entk = mlp_ntk(model)(x, None, model.init(key, dtype=x.dtype))
    target = ntk_inf[:, :, None, None] * jnp.eye(model.out_dim, dtype=ntk_inf.dtype)[None, None]
    err = float(relative_norm(entk, target))
    return err, entk, ntk_inf


@dataclasses.dataclass(frozen=True)
class ConvergenceSweep:
    """eNTK-to-NTK error over widths: ``errors`` is ``(seeds, widths)``.

    ``kernels``: the eNTKs themselves, ``(seeds, widths, n, n, k, k)``, when the
    sweep was run with ``keep_kernels=True`` (else ``None``).
    """

    widths: np.ndarray
    errors: np.ndarray
    ntk_inf: np.ndarray
    kernels: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        return self.errors.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        return self.errors.std(axis=0, ddof=1) / np.sqrt(self.errors.shape[0])

    @property
    def fit(self) -> LogLogFit:
        """Fit of the seed-averaged error against width (theory: slope -1/2)."""
        return fit_loglog(self.widths, self.mean)


@V.checked
def entk_convergence(x: V.FiniteArray, widths: V.Sizes, *, key: V.Key, seeds: V.PositiveInt = 5,
                     keep_kernels: bool = False, **model_kwargs) -> ConvergenceSweep:
    """Relative error of the eNTK at init against the infinite NTK, per width and seed.

    Args:
      x: ``(n, d)`` inputs.
      widths: hidden widths to try (each ``>= 1``).
      key: PRNG key; seed ``s`` uses ``fold_in(key, s)`` at every width.
      seeds: initialisations per width (``>= 2`` for error bars).
      keep_kernels: also return every eNTK (``n * n * k * k`` floats per width and
        seed), so that a view can show any of them without recomputing.
      **model_kwargs: passed to :func:`~ntk_explore.core.models.mlp` (depth,
        activation, parametrization, ...); ``in_dim`` is taken from ``x``.
    """
    x, widths, seeds = _check_sweep(x, widths, key, seeds)
    k = int(model_kwargs.get("out_dim", 1))
    if keep_kernels:
        _check_kept(x.shape[0], k, seeds * widths.size)
    errors = np.zeros((seeds, widths.size))
    kernels = [[None] * widths.size for _ in range(seeds)]
    ntk_inf = None
    for j, width in enumerate(widths):
        model = mlp(x.shape[1], int(width), **model_kwargs)
        if ntk_inf is None:
            ntk_inf = infinite_kernel_fn(model)(x).ntk
        for s in range(seeds):
            errors[s, j], entk, _ = entk_error(model, x, jax.random.fold_in(key, s), ntk_inf)
            if keep_kernels:
                kernels[s][j] = np.asarray(entk)
    return ConvergenceSweep(widths, errors, np.asarray(ntk_inf),
                            np.asarray(kernels) if keep_kernels else None)


@V.checked
def convergence_sweep(*, activation: str = "relu", parametrization: str = "ntk",
                      **overrides) -> ConvergenceSweep:
    """:func:`entk_convergence` at notebook 01's settings (:data:`CONVERGENCE`; pass any of
    its fields to override one). Equal to the sweep notebook 01's app makes for the same
    activation and parametrization."""
    c = dataclasses.replace(CONVERGENCE, **overrides)  # a misspelt setting is a TypeError
    x, _ = circle(c.n_points)
    pair = (activation, parametrization)
    return entk_convergence_grid(x, c.widths, key=jax.random.key(c.seed), seeds=c.seeds,
                                 depth=c.depth, activations=pair[:1], parametrizations=pair[1:])[pair]


def entk_convergence_verdict(sweep: ConvergenceSweep | None = None) -> Verdict:
    """Judge claim ``'entk_convergence'`` on the fitted slope of the seed-mean relative error
    against width (95% interval of the log-log fit). ``sweep``: a
    :class:`ConvergenceSweep`; ``None`` runs :func:`convergence_sweep` (ReLU, NTK
    parametrization, notebook 01's settings: about 10 s on 2 CPU cores)."""
    sweep = convergence_sweep() if sweep is None else sweep
    fit, mean, w = sweep.fit, sweep.mean, sweep.widths
    return judge("entk_convergence", fit.slope, fit.ci95,
                 measured_what=f"log-log slope of ||eNTK - NTK||_F / ||NTK||_F against width "
                               f"{w[0]}-{w[-1]} ({sweep.errors.shape[0]}-seed means)",
                 interval_what="95% CI of the fit",
                 detail=f"relative error {mean[0]:.3f} at width {w[0]}, {mean[-1]:.4f} at width "
                        f"{w[-1]} (a factor {mean[0] / mean[-1]:.1f} for {w[-1] // w[0]} times the "
                        f"width; width^-1/2 predicts {np.sqrt(w[-1] / w[0]):.1f})")


@V.checked
def kernel_scale(x: V.FiniteArray, widths: V.Sizes, *, key: V.Key,
                 **model_kwargs) -> np.ndarray:
    """Mean diagonal of the eNTK at init, ``(widths,)``, one initialisation per width.

    For ``parametrization='standard'`` it grows in proportion to the width (its tangent
    kernel has no limit); for ``'ntk'`` and ``'mup'`` it settles at the infinite NTK's."""
    x = V.as_float_array("x", x, ndim=2)
    out = []
    for width in V.check_int_list("widths", widths):
        model = mlp(x.shape[1], int(width), **model_kwargs)
        entk = mlp_ntk(model)(x, None, model.init(key, dtype=x.dtype))
        out.append(float(jnp.mean(jnp.diagonal(entk[..., 0, 0]))))
    return np.asarray(out)


def _check_sweep(x, widths, key, seeds):
    """Checked ``(x (n, d) floats, widths sorted (w,), seeds int >= 2)`` of a width sweep."""
    x = V.as_float_array("x", x, ndim=2)
    widths = np.asarray(sorted(V.check_int_list("widths", widths)))
    V.check_key("key", key)
    seeds = V.check_positive_int("seeds", seeds)
    if seeds < 2:
        raise ValueError(f"seeds must be >= 2 to average and give error bars, got {seeds}")
    return x, widths, seeds


def _check_kept(n: int, k: int, count: int) -> None:
    """Refuse ``keep_kernels`` sweeps whose ``count`` stored eNTKs would not fit."""
    check_kernel_memory(n, n, k, extra_bytes=(count - 1) * n * n * k * k * 8,
                        extra_what=f"{count} kept eNTKs (keep_kernels=True)")


def _grid_kernels(models, x, keys):
    """eNTKs ``(seeds, n, n, k, k)`` of every model in ``models`` (same shapes and
    parametrization, e.g. different activations) at each key, all from the one
    parameter draw per key that ``model.init(key)`` would make."""
    proj = jnp.eye(models[0].out_dim, dtype=x.dtype)

    def one_seed(key):
        params = models[0].params_from_normals(
            jax.random.normal(key, (models[0].num_params,), x.dtype))
        return tuple(structured_ntk(m, params, x, None, proj) for m in models)

    return jax.lax.map(one_seed, keys)  # sequential over seeds: one draw in memory at a time


_grid_kernels_jit = jax.jit(_grid_kernels, static_argnums=0)


@V.checked
def entk_convergence_grid(x: V.FiniteArray, widths: V.Sizes, *, key: V.Key, seeds: V.PositiveInt = 5,
                          activations: Sequence[str] = ("relu",),
                          parametrizations: Sequence[str] = ("ntk",),
                          keep_kernels: bool = False, **model_kwargs) -> dict:
    """:func:`entk_convergence` for every (activation, parametrization) pair at once.

    ``x``: ``(n, d)`` inputs. Each returned sweep has ``errors`` ``(seeds, widths)``,
    ``ntk_inf`` ``(n, n)`` and, with ``keep_kernels``, ``kernels``
    ``(seeds, widths, n, n, k, k)``.

    Returns ``{(activation, parametrization): ConvergenceSweep}``, each equal to
    ``entk_convergence(x, widths, key=key, seeds=seeds, activation=a,
    parametrization=p, ...)``. Cheaper than separate sweeps: per width and
    parametrization, one compiled function and one parameter draw per seed serve
    every activation (the activation does not enter the initialisation). Notebook
    01 uses it to sweep every pair up front, so its dropdowns only redraw.
    """
    x, widths, seeds = _check_sweep(x, widths, key, seeds)
    if isinstance(activations, str) or isinstance(parametrizations, str):
        raise TypeError("activations and parametrizations must be sequences of names, e.g. "
                        "('relu',), not a single string")
    pairs = [(a, p) for a in activations for p in parametrizations]
    if not pairs or len(set(pairs)) != len(pairs):
        raise ValueError(f"need distinct activations and parametrizations, got {pairs}")
    check_kernel_memory(x.shape[0], x.shape[0], model_kwargs.get("out_dim", 1))
    if keep_kernels:
        _check_kept(x.shape[0], int(model_kwargs.get("out_dim", 1)), seeds * widths.size * len(pairs))
    keys = jnp.stack([jax.random.fold_in(key, s) for s in range(seeds)])
    errors = {pr: np.zeros((seeds, widths.size)) for pr in pairs}
    kernels = {pr: [] for pr in pairs}
    ntk_inf = {}
    for j, width in enumerate(widths):
        models = {pr: mlp(x.shape[1], int(width), activation=pr[0], parametrization=pr[1],
                          **model_kwargs) for pr in pairs}
        if j == 0:
            ntk_inf = {pr: infinite_kernel_fn(m)(x).ntk for pr, m in models.items()}
        done = []
        for par in parametrizations:  # one call per parametrization keeps memory at one draw
            group = [pr for pr in pairs if pr[1] == par]
            done += zip(group, _grid_kernels_jit(tuple(models[pr] for pr in group), x, keys))
        for pr, entk in done:
            eye = jnp.eye(entk.shape[-1], dtype=entk.dtype)
            target = ntk_inf[pr][:, :, None, None] * eye[None, None]
            diff = (entk - target[None]).reshape(seeds, -1)
            errors[pr][:, j] = np.asarray(jnp.linalg.norm(diff, axis=1) / jnp.linalg.norm(target))
            if keep_kernels:
                kernels[pr].append(np.asarray(entk))
    return {pr: ConvergenceSweep(widths, errors[pr], np.asarray(ntk_inf[pr]),
                                 np.stack(kernels[pr], axis=1) if keep_kernels else None)
            for pr in pairs}
