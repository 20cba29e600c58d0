"""Where the kernel loses: tasks on which a trained net beats, and out-scales, its tangent kernels.

The target depends on a few directions of a high-dimensional input
(:mod:`ntk_explore.core.tasks`): a single-index model ``y = g(w . x)``,
``x ~ N(0, I_d)``, or a sparse parity. A net that finds ``w`` needs far fewer
samples than any fixed kernel, which must fit a degree-``p`` function of all ``d``
coordinates.

Every task is drawn once per seed with a fixed input pool of :data:`POOL` rows
(:func:`make_task`): training sets are its first ``n`` rows, pretraining sets start at
row :data:`PRETRAIN_FROM`, and the validation and test sets come after the pool. So
the validation and test sets of a seed are the same whatever ``n``, ``n_pre``,
``width``, ``alpha`` or learning rate is chosen, and curves that a slider switches
between are measured on the same points (:attr:`Curves.eval_sets` records a digest of
them per seed).

Learners, all from one initialisation ``params0`` (every kernel's ridge is chosen
on the validation set, :func:`ntk_explore.core.metrics.ridge_on_validation`):

* ``net``: the MLP trained by full-batch GD on the centred output
  ``f(params, x) - f(params0, x)``, in the **mean-field** scaling (``'mup'`` with
  base width 1: readout ``~ 1/width``; per-layer rates that make GD on the stored
  weights equal mean-field GD with learning rate ``lr_mf * width``, see
  :func:`layer_rates`);
* ``lazy``: the same net with output scale ``alpha`` (``lr / alpha**2``), the
  lazy-training control (Chizat, Oyallon and Bach 2019);
* ``entk_init``: kernel ridge with the eNTK at ``params0``;
* ``ntk``: kernel ridge with the infinite-width NTK;
* ``after``: kernel ridge with the after-kernel (eNTK of the trained ``net``);
* ``pretrained``: kernel ridge with the eNTK after training on ``n_pre`` other samples;
* ``one_step``: one large GD step on the first layer, then ridge on the readout
  features (Ba et al. 2022).

Errors are test MSE / Var(y); exponents are slopes of ``-log error`` against
``log n`` (:func:`ntk_explore.core.metrics.fit_exponent`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import pathlib
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..core import metrics as km
from ..core import tasks as tk
from ..core import validation as V
from ..core.kernels import infinite_kernel_fn, mlp_ntk
from ..core.matfree import matfree_kernel_predict
from ..core.models import MLP, mlp
from ..core.training import DivergenceError, train
from ..core.verdicts import Verdict, judge

__all__ = [
    "DEFAULTS", "SETTINGS", "Settings", "SIZES", "LEARNERS", "POOL", "PRETRAIN_FROM", "N_PRE_MAX",
    "FLOPS_PER_SECOND", "MAX_SECONDS", "make_task", "pretrain_set", "eval_digest",
    "net_model", "layer_rates", "check_cost", "train_net", "blocked_kernel", "BLOCK",
    "centred_predict", "entk_fn", "ntk_fn", "kernel_error", "MATFREE_FROM", "ExtendedCurve",
    "entk_init_extended", "one_step_params", "readout_kernel_fn", "Curves", "data_scaling",
    "KernelPath", "kernel_path", "kernel_paths", "snapshot_steps", "pretrained_curves",
    "parity_experiment", "ParityResult", "TransferResult", "transfer_experiment",
    "TRANSFER_LEARNERS", "USES_PRETRAINED", "TARGET_ONLY", "PRETRAINING", "data_scaling_verdict",
    "lazy_control_verdict", "kernel_moves_verdict", "pretrained_kernel_verdict",
    "validate_settings", "alpha_sweep", "NOTEBOOK_RUN", "FULL_RUN", "scaling_curves",
    "verdict_paths", "benchmark_results",
]

DEFAULTS = dict(d=32, width=256, depth=1, steps=1000, lr=0.5, g="he1_he3", n_val=1000,
                n_test=1000, lazy_alpha=16.0, n_pre=512, one_step_lr=None, r=1,
                parametrization="mup")
"""Default settings (the benchmark's); a ``**settings`` argument overrides some of them."""
SETTINGS = tuple(DEFAULTS)
"""The names a ``**settings`` argument may hold; any other name is refused (a misspelt
setting would otherwise run at its default)."""
SIZES = (64, 128, 256, 512, 1024, 2048)
LEARNERS = ("net", "lazy", "entk_init", "ntk", "after", "pretrained", "one_step")
FLOPS_PER_SECOND = 2e10  # GD on 2 busy CPU cores: 1e11 flops (n = 2048, 1000 steps) took 1.6-2.4 s
MAX_SECONDS = 120.0  # a training run estimated above this raises (the app would hang)
POOL = 1 << 15
"""Rows of every task's input pool (training sets are its first rows)."""
N_PRE_MAX = 8192
"""The most pretraining samples (``n_pre``)."""
PRETRAIN_FROM = POOL - N_PRE_MAX
"""Pretraining sets are rows ``[PRETRAIN_FROM, PRETRAIN_FROM + n_pre)`` of the pool, apart
from every training set of ``n <= PRETRAIN_FROM`` points."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """One run's settings (the fields of :data:`DEFAULTS`); ``s["d"]`` reads a field too."""

    d: int
    width: int
    depth: int
    steps: int
    lr: float
    g: str
    n_val: int
    n_test: int
    lazy_alpha: float
    n_pre: int
    one_step_lr: float | None
    r: int
    parametrization: str

    def __getitem__(self, name: str):
        return getattr(self, name)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _settings(given: dict, where: str, allowed: Sequence[str] = SETTINGS) -> Settings:
    """:data:`DEFAULTS` with ``given`` replacing some of them.

    Raises:
      ValueError: a name ``where`` does not take (a misspelt setting), naming it.
    """
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; the settings are "
                         f"{', '.join(sorted(allowed))}")
    return dataclasses.replace(Settings(**DEFAULTS), **given)


# ---------------------------------------------------------------------------
# the task: one fixed draw per seed


def make_task(key: jax.Array, s: dict, dtype=jnp.float32, *, g: str | None = None) -> tk.IndexTask:
    """The task of one seed: a pool of :data:`POOL` inputs, then ``n_val`` validation and
    ``n_test`` test points (:func:`ntk_explore.core.tasks.index_task` with ``s``'s ``d, r, g,
    n_val, n_test``; ``g`` overrides the link). Two calls with the same key, ``d``, ``n_val``
    and ``n_test`` draw the same inputs, whatever the link.
    """
    V.check_memory((POOL + s["n_val"] + s["n_test"]) * (s["d"] + 1) * jnp.dtype(dtype).itemsize,
                   f"the task's {POOL + s['n_val'] + s['n_test']} inputs in d = {s['d']}",
                   "use a smaller d")
    return tk.index_task(key, POOL, d=s["d"], r=s["r"], g=s["g"] if g is None else g,
                         n_val=s["n_val"], n_test=s["n_test"], dtype=dtype)


def pretrain_set(task: tk.IndexTask, n_pre: int) -> tuple[jax.Array, jax.Array]:
    """The ``n_pre`` pretraining samples ``(n_pre, d)``, ``(n_pre, 1)``: pool rows from
    :data:`PRETRAIN_FROM` (never in a training set of ``n <= PRETRAIN_FROM``; nested in ``n_pre``)."""
    return task.x[PRETRAIN_FROM:PRETRAIN_FROM + n_pre], task.y[PRETRAIN_FROM:PRETRAIN_FROM + n_pre]


def eval_digest(task: tk.IndexTask) -> str:
    """A short digest of the validation and test sets (inputs and targets): equal digests,
    equal sets."""
    h = hashlib.sha1()
    for a in (task.x_val, task.y_val, task.x_test, task.y_test):
        h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    return h.hexdigest()[:16]


def _check_n_pre(n_pre) -> int:
    if not (isinstance(n_pre, (int, np.integer)) and not isinstance(n_pre, bool)
            and 8 <= n_pre <= N_PRE_MAX):
        raise ValueError(f"n_pre must be an integer in [8, {N_PRE_MAX}], got {n_pre!r}")
    return int(n_pre)


# ---------------------------------------------------------------------------
# the net and its learning rates


def net_model(d: int, width: int, depth: int = 1, *, parametrization: str = "mup",
              alpha: float = 1.0) -> MLP:
    """The MLP: ``'mup'`` uses base width 1 (mean-field readout ``~ 1/width``), ``'ntk'`` base 64."""
    base = 1 if parametrization == "mup" else 64
    return mlp(d, width, depth, parametrization=parametrization, alpha=alpha, base_width=base)


def layer_rates(model: MLP) -> list[dict]:
    """Per-layer rate multipliers (same tree as params).

    For ``'mup'`` (base width 1) the first layer's rate is ``d`` times the others:
    then GD with ``lr = 1 / sigma_w**2`` on the stored weights equals mean-field
    GD on ``f = (1/n) sum_j a_j phi(w_j . x)`` with learning rate ``1 x width``
    (effective readout step ``lr sigma_w**2`` per unit of ``dL/dW``, first layer
    ``lr sigma_w**2 rho / d``). Other parametrizations use :meth:`MLP.lr_scales`.
    """
    scales = model.lr_scales()
    if model.parametrization.name == "mup":
        first = float(model.in_dim * model.base_width)
        scales[0] = {k: v * first for k, v in scales[0].items()}
    return scales


def check_cost(model: MLP, n: int, steps: int, *, max_seconds: float = MAX_SECONDS) -> float:
    """Estimated seconds of ``steps`` full-batch GD steps on ``n`` points (``6 n P`` flops each).

    Raises:
      ValueError: above ``max_seconds``, naming width, steps and n.
    """
    seconds = 6.0 * n * model.num_params * steps / FLOPS_PER_SECOND
    if seconds > max_seconds:
        raise ValueError(
            f"this run would take about {seconds:.0f} s (width={model.width}, depth={model.depth}, "
            f"steps={steps}, n={n}); lower width or steps (limit {max_seconds:.0f} s)")
    return seconds


def train_net(model: MLP, params0, x, y, *, lr: float, steps: int, keep_params: bool = False,
              record_every: int | None = None, rates=None, batch_size: int | None = None,
              key=None):
    """GD on the centred output ``f(p, x) - f(params0, x)``; ``x (n, d)``, ``y (n, 1)``.

    Trains ``f`` on ``y + f(params0, x)`` (the same loss and gradients), so the
    compiled loop is shared by every init. The rate is ``lr / alpha**2``.
    Returns :class:`ntk_explore.core.training.TrainResult`.
    """
    check_cost(model, x.shape[0] if batch_size is None else batch_size, steps)
    f0 = model.apply(params0, x)
    rates = layer_rates(model) if rates is None else rates
    return train(model.apply, params0, x, y + f0, lr=lr / model.alpha**2, steps=steps,
                 lr_scales=rates, keep_params=keep_params, record_every=record_every,
                 progress=False, batch_size=batch_size, key=key)


def centred_predict(model: MLP, params, params0, x) -> jax.Array:
    """``f(params, x) - f(params0, x)``: ``x (t, d) -> (t, 1)``."""
    return model.apply(params, x) - model.apply(params0, x)


# ---------------------------------------------------------------------------
# kernels and ridge on validation


def entk_fn(model: MLP, params):
    """``k(x1, x2) -> (n1, n2)``: the eNTK at ``params`` (one output)."""
    ntk = mlp_ntk(model)
    return lambda x1, x2: ntk(x1, x2, params)[:, :, 0, 0]


def ntk_fn(model: MLP):
    """``k(x1, x2) -> (n1, n2)``: the infinite-width NTK."""
    return functools.partial(_ntk_matrix, model)


@functools.partial(jax.jit, static_argnums=0)
def _ntk_matrix(model: MLP, x1, x2):
    """The NTK only (no NNGP), compiled by JAX once per model and tile shape."""
    return infinite_kernel_fn(model)(x1, x2).ntk


def readout_kernel_fn(model: MLP, params):
    """``k(x1, x2) = phi(x1) phi(x2)^T + 1``: the kernel of ridge on the last hidden layer (and a bias)."""
    def k(x1, x2):
        a, b = model.features(params, x1)[1][-1], model.features(params, x2)[1][-1]
        return a @ b.T / a.shape[1] + 1.0
    return k


BLOCK = 256  # kernel tiles are BLOCK x BLOCK (bounds memory; one compiled shape per kernel)


def _pad_rows(x, block: int):
    """``x`` padded to a multiple of ``block`` rows with copies of its first row (no zero inputs)."""
    extra = -x.shape[0] % block
    return jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)]) if extra else x


def blocked_kernel(kernel, x1, x2, block: int = BLOCK) -> np.ndarray:
    """``kernel(x1, x2)`` as a float64 ``(n1, n2)`` array, in ``block x block`` tiles.

    Inputs are padded to whole tiles (small inputs too), so every call has the same
    shapes and the kernel compiles once for all ``n`` and every evaluation set (not once
    per training-set size); the padding rows are dropped from the result.
    """
    n1, n2 = x1.shape[0], x2.shape[0]
    p1, p2 = _pad_rows(x1, block), _pad_rows(x2, block)
    out = np.empty((n1, n2), np.float64)
    for i in range(0, n1, block):
        for j in range(0, n2, block):
            tile = np.asarray(kernel(p1[i:i + block], p2[j:j + block]), np.float64)
            out[i:i + block, j:j + block] = tile[:min(block, n1 - i), :min(block, n2 - j)]
    return out


def kernel_error(kernel, task: tk.IndexTask, n: int, *, metric: str = "mse") -> float:
    """Ridge (chosen on ``task``'s validation set) with ``kernel`` on the first ``n`` pool points.

    Returns test MSE / Var(y) (``metric='mse'``) or test accuracy (``'accuracy'``).
    """
    return _kernel_fit(kernel, task, n, metric)[0]


def _kernel_fit(kernel, task: tk.IndexTask, n: int, metric: str = "mse"):
    """``(score, RidgeFit)`` of :func:`kernel_error`."""
    x, y = task.train_set(n)
    ev = jnp.concatenate([task.x_val, task.x_test])
    k_tr, k_ev = blocked_kernel(kernel, x, x), blocked_kernel(kernel, ev, x)
    v = task.x_val.shape[0]
    fit = km.ridge_on_validation(k_tr, y, k_ev[:v], task.y_val, k_ev[v:])
    score = km.unexplained_variance if metric == "mse" else km.sign_accuracy
    return score(fit.predictions[0], task.y_test), fit


def one_step_params(model: MLP, params0, x, y, *, lr: float | None = None):
    """One GD step on the first layer only (rate ``lr``, default ``width``), readout untouched."""
    lr = float(model.width) if lr is None else lr
    rates = jax.tree.map(lambda _: 0.0, model.lr_scales())
    rates[0] = {k: 1.0 for k in rates[0]}
    f0 = model.apply(params0, x)
    return train(model.apply, params0, x, y + f0, lr=lr, steps=1, lr_scales=rates,
                 progress=False).params


# ---------------------------------------------------------------------------
# data scaling


@dataclasses.dataclass(frozen=True)
class Curves:
    """Errors ``errors[name]`` of shape ``(seeds, S)`` at sizes ``ns`` ``(S,)``, the settings,
    and ``eval_sets``: one :func:`eval_digest` per seed (the validation and test sets used)."""

    ns: np.ndarray
    errors: dict
    settings: dict
    eval_sets: tuple = ()

    def exponent(self, name: str) -> km.Exponent:
        return km.fit_exponent(self.ns, self.errors[name])

    def exponents(self) -> dict:
        return {name: self.exponent(name) for name in self.errors}

    def mean(self, name: str) -> np.ndarray:
        return self.errors[name].mean(axis=0)


def _check_sizes(ns: Sequence[int], n_pre: int, limit: int = PRETRAIN_FROM) -> np.ndarray:
    ns = np.asarray(sorted(int(n) for n in ns))
    if np.unique(ns).size < 3 or ns[0] < 2 or ns[-1] > limit:
        raise ValueError(f"sizes must hold at least 3 distinct sizes in [2, {limit}], "
                         f"got {ns.tolist()}")
    _check_n_pre(n_pre)
    return ns


@V.checked
def data_scaling(key: V.Key, sizes: Sequence[int] = SIZES, *, seeds: V.PositiveInt = 3,
                 learners: Sequence[str] = LEARNERS, dtype=jnp.float32, **settings) -> Curves:
    """Every learner's test error at every size, ``seeds`` inits/tasks (same ``w`` per seed).

    ``settings`` override :data:`DEFAULTS` (``d, width, depth, steps, lr, g, n_val,
    n_test, lazy_alpha, n_pre, one_step_lr``) plus ``r`` (directions) and
    ``parametrization`` of the rich net; any other name raises ``ValueError``.
    Seed ``i`` uses ``jax.random.split(key, seeds)[i]``: its task (:func:`make_task`) and
    init do not depend on ``sizes``, ``n_pre``, ``width`` or any rate.
    """
    s = _settings(settings, "data_scaling")
    ns = _check_sizes(sizes, s["n_pre"])
    bad = set(learners) - set(LEARNERS)
    if bad:
        raise ValueError(f"unknown learners {sorted(bad)}; choose from {LEARNERS}")
    errors = {name: np.zeros((seeds, ns.size)) for name in learners}
    digests = []
    for i, k in enumerate(jax.random.split(key, seeds)):
        row, digest = _one_seed(k, ns, learners, s, dtype)
        digests.append(digest)
        for name in learners:
            errors[name][i] = row[name]
    return Curves(ns, errors, s.as_dict(), tuple(digests))


def _one_seed(key, ns, learners, s, dtype) -> tuple[dict, str]:
    k_task, k_init = jax.random.split(key)
    task = make_task(k_task, s, dtype)
    model = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"])
    lazy = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"],
                     alpha=s["lazy_alpha"])
    p0 = model.init(k_init, dtype=dtype)
    out = {name: [] for name in learners}
    k_init_fn = entk_fn(model, p0) if "entk_init" in learners else None
    k_inf = ntk_fn(model) if "ntk" in learners else None
    k_pre = None
    if "pretrained" in learners:
        xp, yp = pretrain_set(task, s["n_pre"])
        k_pre = entk_fn(model, train_net(model, p0, xp, yp, lr=s["lr"], steps=s["steps"]).params)
    for n in ns:
        x, y = task.train_set(int(n))
        if "net" in learners or "after" in learners:
            p = train_net(model, p0, x, y, lr=s["lr"], steps=s["steps"]).params
            if "net" in learners:
                out["net"].append(km.unexplained_variance(centred_predict(model, p, p0, task.x_test),
                                                          task.y_test))
            if "after" in learners:
                out["after"].append(kernel_error(entk_fn(model, p), task, int(n)))
        if "lazy" in learners:
            p = train_net(lazy, p0, x, y, lr=s["lr"], steps=s["steps"]).params
            out["lazy"].append(km.unexplained_variance(centred_predict(lazy, p, p0, task.x_test),
                                                       task.y_test))
        for name, kern in (("entk_init", k_init_fn), ("ntk", k_inf), ("pretrained", k_pre)):
            if name in learners:
                out[name].append(kernel_error(kern, task, int(n)))
        if "one_step" in learners:
            p1 = one_step_params(model, p0, x, y, lr=s["one_step_lr"])
            out["one_step"].append(kernel_error(readout_kernel_fn(model, p1), task, int(n)))
    return {name: np.asarray(v) for name, v in out.items()}, eval_digest(task)


@V.checked
def pretrained_curves(key: V.Key, n_pres: Sequence[int], sizes: Sequence[int] = SIZES, *,
                      seeds: V.PositiveInt = 3, dtype=jnp.float32, **settings) -> dict:
    """``{n_pre: Curves}`` of the pretrained eNTK alone; the same seeds, tasks, inits,
    validation and test sets for every ``n_pre`` (and as :func:`data_scaling` with the
    same ``key``); the pretraining sets are nested (:func:`pretrain_set`)."""
    _settings(settings, "pretrained_curves")
    out = {}
    for n_pre in n_pres:
        out[int(n_pre)] = data_scaling(key, sizes, seeds=seeds, learners=("pretrained",),
                                       dtype=dtype, **{**settings, "n_pre": _check_n_pre(n_pre)})
    return out


MATFREE_FROM = 4096  # entk_init_extended: sizes from here on are solved matrix-free


@dataclasses.dataclass(frozen=True)
class ExtendedCurve:
    """The eNTK-at-init learner past the kernel matrix (:func:`entk_init_extended`).

    ``ns (S,)``; ``errors (S,)`` test MSE / Var(y); ``rel_ridge (S,)`` the relative
    ridge used at each size (chosen on validation up to ``matfree_from``, then held
    at the last chosen value); ``matfree_from``; ``num_params`` of the net (the
    eNTK's rank is at most this); ``seconds (S,)`` per size; ``iterations (S,)``
    CG iterations (0 on the dense sizes); ``settings``.
    """

    ns: np.ndarray
    errors: np.ndarray
    rel_ridge: np.ndarray
    matfree_from: int
    num_params: int
    seconds: np.ndarray
    iterations: np.ndarray
    settings: dict

    def exponent(self, name: str = "entk_init", *, n_min: int = 0) -> km.Exponent:
        """Exponent of the curve (sizes ``>= n_min``); ``name`` is for the figure code."""
        keep = self.ns >= n_min
        return km.fit_exponent(self.ns[keep], self.errors[None, keep])

    @property
    def matfree(self) -> np.ndarray:
        return self.ns >= self.matfree_from


def entk_init_extended(key: jax.Array, sizes: Sequence[int] = (256, 512, 1024, 2048, 4096,
                                                                  8192, 16384), *,
                       matfree_from: int = MATFREE_FROM, rank: int = 1000, tol: float = 1e-6,
                       progress: bool = False, **settings) -> ExtendedCurve:
    """The ``entk_init`` learner of :func:`data_scaling` on one seed, to ``n`` far past the
    kernel matrix.

    ``key`` is one seed's key: the task (with its validation and test sets), net and init
    are those of :func:`data_scaling` for a seed with that key (e.g.
    ``jax.random.split(key, seeds)[0]``), so with the same ``width``, ``n_val`` and
    ``n_test`` the errors at the dense sizes equal that seed's ``entk_init`` errors.
    Sizes must be at most :data:`POOL`.
    Sizes below ``matfree_from`` use the dense kernel and choose the ridge on the
    validation set (:func:`kernel_error`); from ``matfree_from`` on, kernel ridge
    runs matrix-free
    (:func:`ntk_explore.core.matfree.matfree_kernel_predict`: CG on Jacobian
    products in float64, a Nystrom preconditioner of ``rank`` columns, relative
    residual ``tol``; no ``n x n`` matrix) at the relative ridge chosen at the
    largest dense size: choosing it again would take one solve per grid value.
    ``settings``: ``d, width, depth, g, r, n_val, n_test`` as in :data:`DEFAULTS`, and
    ``parametrization``.

    The eNTK at init of a net with ``P`` parameters has rank at most ``P``: past
    ``n ~ P`` it is ridge regression on the net's ``P`` gradient features at init,
    and its error can only approach the best linear model in those features.
    """
    s = _settings(settings, "entk_init_extended",
                  ("d", "width", "depth", "g", "r", "n_val", "n_test", "parametrization"))
    ns = _check_sizes(sizes, s["n_pre"], limit=POOL)
    matfree_from = int(matfree_from)
    if not (ns < matfree_from).any():
        raise ValueError(f"at least one size must be below matfree_from={matfree_from} (the "
                         f"ridge is chosen there on the validation set), got {ns.tolist()}")
    k_task, k_init = jax.random.split(key)
    task = make_task(k_task, s, jnp.float32)
    model = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"])
    p0 = model.init(k_init, dtype=jnp.float32)
    kernel = entk_fn(model, p0)
    errors, rels, seconds, iters = [], [], [], []
    bar = _bar(progress, len(ns))
    for n in ns:
        t0 = time.perf_counter()
        if n < matfree_from:
            err, fit = _kernel_fit(kernel, task, int(n))
            rel, it = fit.rel, 0
        else:
            x, y = task.train_set(int(n))
            with jax.enable_x64(True):
                cast = [np.asarray(a, np.float64) for a in (x, y, task.x_test)]
                p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), p0)
                pred, it = _matfree_fit(model, p64, cast, rel, rank, tol, int(n))
            err = km.unexplained_variance(pred, task.y_test)
        errors.append(err)
        rels.append(rel)
        seconds.append(time.perf_counter() - t0)
        iters.append(it)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return ExtendedCurve(ns, np.asarray(errors, np.float64), np.asarray(rels, np.float64),
                         matfree_from, int(model.num_params), np.asarray(seconds),
                         np.asarray(iters), s.as_dict())


def _matfree_fit(model, params, arrays, rel, rank, tol, n):
    """Predictions and CG iterations of one matrix-free ridge solve."""
    x, y, x_test = arrays
    res = matfree_kernel_predict(model, params, x, y, x_test, kernel="entk", ridge=rel,
                                 rank=min(rank, n // 2), tol=tol, return_result=True)
    return np.asarray(res.predictions, np.float64), res.iterations


def _bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sizes", leave=False)


# ---------------------------------------------------------------------------
# the kernel through training


@dataclasses.dataclass(frozen=True)
class KernelPath:
    """The eNTK of one net through training, at snapshot steps ``steps`` ``(T,)``.

    ``loss (T,)``: training loss at the snapshots; ``loss_curve (steps + 1,)``: the
    training loss at every GD step (spikes included); ``distance (T,)``: the kernel
    distance ``S(K0, Kt)``; ``velocity (T,)``: ``S(K_prev, K_t) / (t - prev)`` per step
    between consecutive snapshots (``velocity[0] = 0``); ``alignment (T,)``: centred-target
    alignment of ``Kt`` on the kernel's training points; ``after_error (T,)``: test error of
    ridge (chosen on validation) with ``Kt``, the after-kernel at that step; ``kernels``
    ``(T, n_kernel, n_kernel)``: the snapshots; ``loss_step``: the first step whose
    loss is at most ``fraction`` of the initial loss (``-1`` if none), always a snapshot.
    """

    steps: np.ndarray
    loss: np.ndarray
    distance: np.ndarray
    velocity: np.ndarray
    alignment: np.ndarray
    after_error: np.ndarray
    alpha: float
    kernels: np.ndarray
    loss_curve: np.ndarray
    loss_step: int
    fraction: float = 0.05

    @property
    def loss_index(self) -> int | None:
        """Index in ``steps`` of :attr:`loss_step` (``None`` if the loss never got there)."""
        return int(np.searchsorted(self.steps, self.loss_step)) if self.loss_step >= 0 else None

    def distance_at_loss_fraction(self) -> float:
        """``S(K0, Kt)`` at :attr:`loss_step` (NaN if the loss never got there)."""
        i = self.loss_index
        return math.nan if i is None else float(self.distance[i])

    def after_error_at_loss_fraction(self) -> float:
        """The after-kernel's test error at :attr:`loss_step` (NaN if never reached)."""
        i = self.loss_index
        return math.nan if i is None else float(self.after_error[i])

    def distance_from(self, i: int) -> np.ndarray:
        """``S(K_i, K_t)`` for every snapshot ``t``: ``(T,)``."""
        return np.array([km.kernel_distance(self.kernels[i], k) for k in self.kernels])


def snapshot_steps(steps: int, count: int = 16) -> np.ndarray:
    """``0``, about ``count`` log-spaced steps up to ``steps``, and ``steps``: ``(T,)`` ints."""
    pts = np.unique(np.round(np.geomspace(1, steps, count)).astype(int)) if count > 0 else []
    return np.unique(np.concatenate([[0], pts, [steps]]).astype(int))


@V.checked
def kernel_path(key: V.Key, *, n: V.PositiveInt = 2048, alpha: V.PositiveFloat = 1.0,
                n_kernel: int | None = None, n_after: int | None = None,
                snapshots: V.NonNegativeInt = 16, fraction: V.OpenUnitInterval = 0.05,
                dtype=jnp.float32, **settings) -> KernelPath:
    """Train one net on ``n`` points (``alpha = 1`` rich, large ``alpha`` lazy) and measure its
    eNTK at step 0, about ``snapshots`` log-spaced steps, the first step whose loss is at
    most ``fraction`` of the start, and the last step (``snapshots=0``: those three only).

    Distance, velocity and alignment use the kernel on the first ``n_kernel``
    training points (default ``min(n, 256)``); the after-kernel error is ridge
    (validation-chosen) with the snapshot's kernel on the first ``n_after`` training
    points (default ``min(n, 512)``). ``settings`` as :func:`data_scaling`.
    """
    n_kernel = min(n, 256) if n_kernel is None else n_kernel
    n_after = min(n, 512) if n_after is None else n_after
    s = _settings(settings, "kernel_path")
    for name, value in (("n", n), ("n_kernel", n_kernel), ("n_after", n_after)):
        if not 2 <= value <= min(n, PRETRAIN_FROM):
            raise ValueError(f"{name} must be in [2, {min(n, PRETRAIN_FROM)}], got {value}")
    k_task, k_init = jax.random.split(key)
    task = make_task(k_task, s, dtype)
    model = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"],
                      alpha=alpha)
    p0 = model.init(k_init, dtype=dtype)
    x, y = task.train_set(n)
    res = train_net(model, p0, x, y, lr=s["lr"], steps=s["steps"], keep_params=True, record_every=1)
    want = set(snapshot_steps(int(res.steps[-1]), snapshots).tolist())
    hit = np.nonzero(res.loss <= fraction * res.loss[0])[0]
    loss_step = int(res.steps[hit[0]]) if hit.size else -1
    if hit.size:
        want.add(loss_step)
    idx = sorted(int(np.searchsorted(res.steps, t)) for t in want)
    xk, yk = x[:n_kernel], y[:n_kernel]
    kernels = np.stack([np.asarray(entk_fn(model, res.param_history[i])(xk, xk), np.float64)
                        for i in idx])
    dist = np.array([km.kernel_distance(kernels[0], k) for k in kernels])
    steps = np.asarray(res.steps[idx])
    vel = np.concatenate([[0.0], km.kernel_velocity(kernels, steps)])
    align = np.array([km.target_alignment(k, yk) for k in kernels])
    after = np.array([kernel_error(entk_fn(model, res.param_history[i]), task, n_after)
                      for i in idx])
    return KernelPath(steps, np.asarray(res.loss)[idx], dist, vel, align, after, float(alpha),
                      kernels, np.asarray(res.loss), loss_step, float(fraction))


@V.checked
def kernel_paths(key: V.Key, seeds: V.PositiveInt, *, snapshots: V.NonNegativeInt = 16,
                 **kwargs) -> list[KernelPath]:
    """:func:`kernel_path` for ``jax.random.split(key, seeds)``: the first with ``snapshots``
    snapshots (for a figure), the others with the three the verdict needs (step 0, the
    ``fraction`` step, the last). ``kwargs`` as :func:`kernel_path`."""
    return [kernel_path(k, snapshots=snapshots if i == 0 else 0, **kwargs)
            for i, k in enumerate(jax.random.split(key, seeds))]


# ---------------------------------------------------------------------------
# sparse parity


@dataclasses.dataclass(frozen=True)
class ParityResult:
    """Test accuracies ``net``, ``ntk`` of shape ``(seeds, S)`` at sizes ``ns``."""

    ns: np.ndarray
    net: np.ndarray
    ntk: np.ndarray
    d: int
    k: int


@V.checked
def parity_experiment(key: V.Key, sizes: Sequence[int] = (1000,), *, d: int = 20, k: int = 3,
                      width: int = 1000, steps: int = 1000, lr: float = 0.5, batch_size: int = 128,
                      seeds: int = 1, dtype=jnp.float32) -> ParityResult:
    """``k``-sparse parity on ``d`` bits: mean-field MLP trained by minibatch SGD vs NTK ridge."""
    ns = np.asarray(sorted(int(n) for n in sizes))
    net, ntk = np.zeros((seeds, ns.size)), np.zeros((seeds, ns.size))
    for i, kk in enumerate(jax.random.split(key, seeds)):
        k_task, k_init, k_sgd = jax.random.split(kk, 3)
        task = tk.parity_task(k_task, int(ns[-1]), d=d, k=k, dtype=dtype)
        model = net_model(d, width, 1)
        p0 = model.init(k_init, dtype=dtype)
        for j, n in enumerate(ns):
            x, y = task.train_set(int(n))
            bs = min(batch_size, int(n))
            p = train_net(model, p0, x, y, lr=lr, steps=steps, batch_size=bs, key=k_sgd).params
            net[i, j] = km.sign_accuracy(centred_predict(model, p, p0, task.x_test), task.y_test)
            ntk[i, j] = kernel_error(ntk_fn(model), task, int(n), metric="accuracy")
    return ParityResult(ns, net, ntk, d, k)


# ---------------------------------------------------------------------------
# transfer with a shared feature

TRANSFER_LEARNERS = ("probe", "finetune", "target_only", "target_one_step", "linearized_init",
                     "ntk")
"""``probe``: ridge on the pretrained net's hidden features (frozen) and a constant;
``finetune``: the pretrained net with a fresh zero readout, trained by GD on the target;
``target_only``: the net from its init trained by GD on the target alone (same steps, and
its rate chosen on validation from the same grid as ``finetune``'s); ``target_one_step``:
one big first-layer step on the target's own samples, then the probe (the pretraining
recipe without the source task);
``linearized_init``: eNTK ridge at init; ``ntk``: infinite-width NTK ridge."""
USES_PRETRAINED = ("probe", "finetune")
"""The learners that use the pretrained net."""
TARGET_ONLY = ("target_only", "target_one_step")
"""The learners that see the target's samples only (no source task)."""
PRETRAINING = ("one_step", "gd")
"""How the source task is learned: one big GD step on the first layer (Ba et al. 2022), or
``steps`` full-batch GD steps at the data-scaling rate ``lr``."""


@dataclasses.dataclass(frozen=True)
class TransferResult:
    """Target test error ``errors[name]`` ``(seeds, M)`` at target sizes ``ms`` ``(M,)``; the
    source and target links, ``n_pre``, the pretraining recipe, the nets' rate grid
    ``rates`` and the rate each net chose on validation, ``chosen[name]`` ``(seeds, M)``
    (``finetune``, ``target_only``); one :func:`eval_digest` per seed."""

    ms: np.ndarray
    errors: dict
    g1: str
    g2: str
    n_pre: int
    pretraining: str
    rates: tuple
    chosen: dict
    eval_sets: tuple = ()

    def mean(self, name: str) -> np.ndarray:
        return self.errors[name].mean(axis=0)

    def best(self, names: Sequence[str], at: int = 0) -> str:
        """Of ``names`` (those present), the learner with the lowest seed-mean error at ``ms[at]``."""
        present = [k for k in names if k in self.errors]
        if not present:
            raise ValueError(f"none of {list(names)} was run; this result has {list(self.errors)}")
        return min(present, key=lambda k: self.mean(k)[at])

    def ratios(self, at: int = 0) -> dict:
        """Per-seed error ratios ``(seeds,)`` at ``ms[at]`` of the best learner that uses the
        pretrained net: over the eNTK at init (``'to_entk_init'``) and over the best
        target-only learner (``'to_target_only'``)."""
        pre, tgt = self.best(USES_PRETRAINED, at), self.best(TARGET_ONLY, at)
        e = self.errors
        return {"to_entk_init": e[pre][:, at] / e["linearized_init"][:, at],
                "to_target_only": e[pre][:, at] / e[tgt][:, at]}


def _zero_readout(params):
    last = {k: jnp.zeros_like(v) for k, v in params[-1].items()}
    return list(params[:-1]) + [last]


def _net_on_target(model, start, x, y, task, rates, steps):
    """GD from ``start`` on ``(x, y)`` at each rate of ``rates``; the run with the lowest
    validation error (diverged runs skipped): ``(test error, rate)``."""
    best, failure = None, None
    for lr in rates:
        try:
            p = train_net(model, start, x, y, lr=lr, steps=steps).params
        except DivergenceError as err:
            failure = err
            continue
        val = km.unexplained_variance(centred_predict(model, p, start, task.x_val), task.y_val)
        if best is None or val < best[0]:
            best = (val, lr, p)
    if best is None:
        failure.add_note(f"every rate in {tuple(rates)} diverged; add a smaller one")
        raise failure
    return km.unexplained_variance(centred_predict(model, best[2], start, task.x_test),
                                   task.y_test), best[1]


def _pretrain(model, p0, x, y, s, how):
    if how == "one_step":
        return one_step_params(model, p0, x, y, lr=s["one_step_lr"])
    return train_net(model, p0, x, y, lr=s["lr"], steps=s["steps"]).params


@V.checked
def transfer_experiment(key: V.Key, ms: Sequence[int] = (16, 32, 64, 128, 256), *,
                        g1: str = "he1_he3", g2: str = "relu", n_pre: int = 2048,
                        seeds: V.PositiveInt = 3, pretraining: str = "one_step",
                        rates: Sequence[float] = (0.1, 0.01),
                        learners: Sequence[str] = TRANSFER_LEARNERS, dtype=jnp.float32,
                        **settings) -> TransferResult:
    """Learn ``g1(w . x)`` from ``n_pre`` samples, then ``g2(w . x)`` (same ``w``) from ``m``.

    The source samples are :func:`pretrain_set` rows with ``g1`` targets, the target's
    training samples the first ``m`` pool rows with ``g2`` targets, and validation and
    test sets (``g2``) are fixed per seed (:func:`make_task`). ``pretraining``: one of
    :data:`PRETRAINING`. Both nets (``finetune``, ``target_only``) train ``steps`` GD
    steps at each of ``rates`` and keep the run with the lowest validation error (the
    kernels' ridge is chosen the same way); diverged runs are skipped. The data-scaling
    rate ``lr = 0.5`` makes fine-tuning from one-big-step features diverge.
    ``settings``: as :func:`data_scaling`.

    Raises:
      ValueError: ``m`` outside ``[2, 4096]``, ``n_pre`` outside ``[8, 8192]``, an
        unknown learner, pretraining or setting (named).
    """
    s = _settings(settings, "transfer_experiment")
    ms = np.asarray(sorted(int(m) for m in ms))
    if ms.size == 0 or ms[0] < 2 or ms[-1] > 4096:
        raise ValueError(f"every m must be in [2, 4096], got {ms.tolist()}")
    n_pre = _check_n_pre(n_pre)
    V.check_choice("pretraining", pretraining, PRETRAINING)
    rates = tuple(float(V.check_positive_float("rates", r)) for r in rates)
    if not rates:
        raise ValueError("rates must hold at least one learning rate")
    bad = set(learners) - set(TRANSFER_LEARNERS)
    if bad:
        raise ValueError(f"unknown learners {sorted(bad)}; choose from {TRANSFER_LEARNERS}")
    errors = {name: np.zeros((seeds, ms.size)) for name in learners}
    chosen = {name: np.zeros((seeds, ms.size)) for name in ("finetune", "target_only")
              if name in learners}
    digests = []
    for i, kk in enumerate(jax.random.split(key, seeds)):
        k_task, k_init = jax.random.split(kk)
        src = make_task(k_task, s, dtype, g=g1)
        tgt = make_task(k_task, s, dtype, g=g2)  # same key and sizes: the same inputs and w
        digests.append(eval_digest(tgt))
        model = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"])
        p0 = model.init(k_init, dtype=dtype)
        pre = _zero_readout(_pretrain(model, p0, *pretrain_set(src, n_pre), s, pretraining))
        kernels = {"probe": readout_kernel_fn(model, pre), "linearized_init": entk_fn(model, p0),
                   "ntk": ntk_fn(model)}
        for j, m in enumerate(ms):
            x, y = tgt.train_set(int(m))
            for name in learners:
                if name in kernels:
                    errors[name][i, j] = kernel_error(kernels[name], tgt, int(m))
            if "target_one_step" in learners:
                p1 = one_step_params(model, p0, x, y, lr=s["one_step_lr"])
                errors["target_one_step"][i, j] = kernel_error(readout_kernel_fn(model, p1), tgt,
                                                               int(m))
            for name, start in (("finetune", pre), ("target_only", p0)):
                if name in learners:
                    errors[name][i, j], chosen[name][i, j] = _net_on_target(
                        model, start, x, y, tgt, rates, s["steps"])
    return TransferResult(ms, errors, g1, g2, n_pre, pretraining, rates, chosen, tuple(digests))


# ---------------------------------------------------------------------------
# verdicts (notebook 09 and the tour call these)


def _difference(curves: Curves, a: str, b: str, against: Curves | None = None) -> km.Exponent:
    """Paired exponent difference ``alpha_a - alpha_b`` (same seeds and sizes)."""
    other = curves if against is None else against
    return km.exponent_difference(curves.ns, curves.errors[a], other.errors[b])


def _ex(e: km.Exponent) -> str:
    return f"{e.slope:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]"


def data_scaling_verdict(curves: Curves, net: str = "net",
                         kernels: Sequence[str] = ("entk_init", "ntk")) -> Verdict:
    """Net exponent minus the best kernel's (of ``kernels`` present), paired over seeds and
    sizes (claim ``index_scaling``: > 0)."""
    e = curves.exponents()
    present = [k for k in kernels if k in curves.errors]
    if not present:
        raise ValueError(f"curves hold none of the kernels {list(kernels)}")
    best = max(present, key=lambda k: e[k].slope)
    diff = _difference(curves, net, best)
    return judge("index_scaling", diff.slope, diff.ci95,
                 measured_what=f"exponent of the trained net minus that of {best} (paired)",
                 interval_what="95% CI of the paired difference",
                 detail=f"exponent net {_ex(e[net])} vs {best} {_ex(e[best])}, "
                        f"n = {curves.ns[0]}..{curves.ns[-1]}, {curves.errors[net].shape[0]} seeds")


def lazy_control_verdict(curves: Curves, kernel: str = "entk_init") -> Verdict:
    """Lazy net's exponent minus that of the eNTK at init (the kernel a lazy net trains with),
    paired (claim ``lazy_control``: below 0.15, a quarter of the rich net's gain)."""
    lz, k = curves.exponent("lazy"), curves.exponent(kernel)
    diff = _difference(curves, "lazy", kernel)
    return judge("lazy_control", diff.slope, diff.ci95,
                 measured_what=f"exponent of the lazy net minus that of {kernel} (paired)",
                 interval_what="95% CI of the paired difference",
                 detail=f"exponent lazy {_ex(lz)} vs {kernel} {_ex(k)}, "
                        f"{curves.errors['lazy'].shape[0]} seeds")


def kernel_moves_verdict(paths: Sequence[KernelPath]) -> Verdict:
    """The after-kernel's test error at the step where the loss first reached ``fraction`` of
    its start, over its final value; geometric mean over the runs ``paths`` (one per seed)
    with a 95% t-interval of the mean log ratio (claim ``kernel_keeps_moving``: > 1).

    A ratio of 1 is what a kernel that had stopped changing at that step would give: ridge
    with the same kernel gives the same predictions.
    """
    paths = list(paths)
    at = np.array([p.after_error_at_loss_fraction() for p in paths])
    final = np.array([p.after_error[-1] for p in paths])
    logs = np.log(at / final)
    mean = float(np.mean(logs))
    if len(paths) >= 2 and np.all(np.isfinite(logs)):
        half = float(stats.t.ppf(0.975, len(paths) - 1) * np.std(logs, ddof=1)
                     / math.sqrt(len(paths)))
        interval, what = (math.exp(mean - half), math.exp(mean + half)), \
            f"95% CI over {len(paths)} seeds (t interval of the mean log ratio)"
    else:
        interval, what = (math.exp(mean), math.exp(mean)), "one run (no interval)"
    s_at = np.array([p.distance_at_loss_fraction() for p in paths])
    s_end = np.array([p.distance[-1] for p in paths])
    steps = [p.loss_step for p in paths]
    return judge("kernel_keeps_moving", math.exp(mean), interval,
                 measured_what=f"after-kernel test error when the loss first reached "
                               f"{paths[0].fraction:.0%} of its start / at the end "
                               f"(geometric mean)",
                 interval_what=what,
                 detail=f"per seed: ratio {np.round(at / final, 3).tolist()} at steps {steps} of "
                        f"{int(paths[0].steps[-1])}; S(K0, Kt) there / at the end "
                        f"{np.round(s_at / s_end, 2).tolist()}")


def pretrained_kernel_verdict(pre: Curves, net: Curves) -> Verdict:
    """Net exponent minus the pretrained eNTK's, paired (claim: > 0, it does not catch up)."""
    p, e = pre.exponent("pretrained"), net.exponent("net")
    diff = _difference(net, "net", "pretrained", against=pre)
    return judge("pretrained_catch_up", diff.slope, diff.ci95,
                 measured_what=f"exponent of the net minus that of the eNTK pretrained on "
                               f"{pre.settings['n_pre']} samples (paired)",
                 interval_what="95% CI of the paired difference",
                 detail=f"pretrained eNTK {_ex(p)} vs net {_ex(e)}")


# ---------------------------------------------------------------------------
# the app's checks and sweeps


def validate_settings(*, d: int = 32, r: int = 1, n_pre: int = 512, width: int = 256,
                      depth: int = 1, steps: int = 1000, n_max: int = 2048,
                      alpha: float = 1.0, parametrization: str = "mup") -> float:
    """Check a setting before running it; returns the estimated seconds of its largest GD run.

    Raises:
      ValueError: ``r > d``, ``n_pre`` outside ``[8, 8192]``, a bad model, or a run
        estimated above :data:`MAX_SECONDS` (the message names the argument).
    """
    if not (isinstance(r, (int, np.integer)) and 1 <= r <= d):
        raise ValueError(f"r (the number of directions) must be in [1, d = {d}], got r = {r}")
    _check_n_pre(n_pre)
    model = net_model(d, width, depth, parametrization=parametrization, alpha=alpha)
    return check_cost(model, max(n_max, n_pre), steps)


@V.checked
def alpha_sweep(key: V.Key, alphas: Sequence[float], sizes: Sequence[int] = SIZES, *,
                seeds: V.PositiveInt = 2, dtype=jnp.float32, **settings) -> dict:
    """``{alpha: Curves}`` with the trained net at output scale ``alpha`` (under ``'lazy'``;
    ``alpha = 1`` is the rich net) and, once, the two fixed kernels under ``alphas[0]``.
    Same tasks and inits (``key``) for every ``alpha``."""
    _settings(settings, "alpha_sweep")
    out = {}
    for i, a in enumerate(alphas):
        learners = ("lazy", "entk_init", "ntk") if i == 0 else ("lazy",)
        out[float(a)] = data_scaling(key, sizes, seeds=seeds, learners=learners, dtype=dtype,
                                     **{**settings, "lazy_alpha": float(a)})
    return out


# ---------------------------------------------------------------------------
# notebook 09's two scales (the tour uses the notebook's)

NOTEBOOK_RUN = dict(sizes=(128, 256, 512, 1024, 2048), seeds=2, width=128, n_val=500, n_test=500,
                    learners=("net", "lazy", "entk_init", "pretrained"), n_pres=(512,),
                    path_n=1024, path_snapshots=10, path_seeds=4, parity_n=1000,
                    parity_width=256, transfer_ms=(16, 128, 256), transfer_seeds=3,
                    transfer_n_pre=2048)
"""What notebook 09 computes by default (about a minute on 2 cores), and the tour too."""
FULL_RUN = dict(sizes=SIZES, seeds=3, width=256, n_val=1000, n_test=1000,
                learners=("net", "lazy", "entk_init", "ntk", "pretrained"), n_pres=(128, 256, 512),
                path_n=2048, path_snapshots=16, path_seeds=6, parity_n=1000, parity_width=1000,
                transfer_ms=(16, 32, 64, 128, 256), transfer_seeds=3, transfer_n_pre=2048)
"""The benchmark's settings (``benchmarks/bench_kernel_loses.py``)."""


def _run_settings(run: dict) -> dict:
    return dict(width=run["width"], n_val=run["n_val"], n_test=run["n_test"])


def scaling_curves(key: jax.Array, run: dict = NOTEBOOK_RUN,
                   learners: Sequence[str] | None = None) -> tuple[Curves, dict]:
    """:func:`data_scaling` at ``run``'s settings (``n_pre`` its largest ``n_pres``) and
    ``{n_pre: Curves}`` for every ``n_pres`` when ``'pretrained'`` is among the learners."""
    learners = tuple(run["learners"] if learners is None else learners)
    curves = data_scaling(key, run["sizes"], seeds=run["seeds"], learners=learners,
                          n_pre=run["n_pres"][-1], **_run_settings(run))
    if "pretrained" not in learners:
        return curves, {}
    pre = pretrained_curves(key, run["n_pres"][:-1], run["sizes"], seeds=run["seeds"],
                            **_run_settings(run))
    return curves, {**pre, int(run["n_pres"][-1]): curves}


def verdict_paths(key: jax.Array, run: dict = NOTEBOOK_RUN) -> list[KernelPath]:
    """:func:`kernel_paths` at ``run``'s settings (``path_seeds`` rich nets on ``path_n``
    points; the first with ``path_snapshots`` snapshots)."""
    return kernel_paths(key, run["path_seeds"], n=run["path_n"], snapshots=run["path_snapshots"],
                        **_run_settings(run))


# ---------------------------------------------------------------------------
# saved benchmark readings (the caller names the file; the package reads no repository path)


def benchmark_results(path) -> tuple[str, dict]:
    """A saved benchmark run: ``(header, {key: float})`` from its first line and its
    ``key=value`` lines. Returns ``("", {})`` when the file is absent."""
    path = pathlib.Path(path)
    if not path.is_file():
        return "", {}
    lines = path.read_text().splitlines()
    values = {}
    for line in lines:
        k, sep, v = line.partition("=")
        if sep and k.isidentifier():
            try:
                values[k] = float(v)
            except ValueError:
                pass
    return (lines[0].lstrip("# ") if lines else ""), values
