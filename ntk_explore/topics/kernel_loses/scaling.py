"""Data scaling: learning curves of the trained net and its kernels, their exponents and verdicts."""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Sequence
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from ...core import metrics as km
from ...core import validation as V
from ...core.learners import (
    LEARNERS,
    NOTEBOOK_RUN,
    POOL,
    PRETRAIN_FROM,
    SIZES,
    centred_predict,
    check_cost,
    check_n_pre,
    entk_fn,
    eval_digest,
    kernel_error,
    kernel_fit,
    make_task,
    net_model,
    ntk_fn,
    one_step_params,
    pretrain_set,
    readout_kernel_fn,
    runsettings_from,
    settings_from,
    train_net,
)
from ...core.matfree import matfree_kernel_predict
from ...core.verdicts import Verdict, judge

__all__ = ["Curves", "ExtendedCurve", "MATFREE_FROM", "alpha_sweep", "benchmark_results", "data_scaling",
    "data_scaling_verdict", "entk_init_extended", "lazy_control_verdict", "pretrained_curves",
    "pretrained_kernel_verdict", "progress_bar", "scaling_curves", "validate_settings"]


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
    check_n_pre(n_pre)
    return ns


@V.checked
def data_scaling(key: V.Key, sizes: V.Sizes = SIZES, *, seeds: V.PositiveInt = 3,
                 learners: Sequence[str] = LEARNERS, dtype=jnp.float32, **settings) -> Curves:
    """Every learner's test error at every size, ``seeds`` inits/tasks (same ``w`` per seed).

    ``settings`` override :data:`DEFAULTS` (``d, width, depth, steps, lr, g, n_val,
    n_test, lazy_alpha, n_pre, one_step_lr``) plus ``r`` (directions) and
    ``parametrization`` of the rich net; any other name raises ``ValueError``.
    Seed ``i`` uses ``jax.random.split(key, seeds)[i]``: its task (:func:`make_task`) and
    init do not depend on ``sizes``, ``n_pre``, ``width`` or any rate.
    """
    s = settings_from(settings, "data_scaling")
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
def pretrained_curves(key: V.Key, n_pres: Annotated[Sequence[int], V.IntList(8, min_len=0)],
                      sizes: V.Sizes = SIZES, *, seeds: V.PositiveInt = 3, dtype=jnp.float32,
                      **settings) -> dict:
    """``{n_pre: Curves}`` of the pretrained eNTK alone; the same seeds, tasks, inits,
    validation and test sets for every ``n_pre`` (and as :func:`data_scaling` with the
    same ``key``); the pretraining sets are nested (:func:`pretrain_set`)."""
    settings_from(settings, "pretrained_curves")
    out = {}
    for n_pre in n_pres:
        out[int(n_pre)] = data_scaling(key, sizes, seeds=seeds, learners=("pretrained",),
                                       dtype=dtype, **{**settings, "n_pre": check_n_pre(n_pre)})
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
    s = settings_from(settings, "entk_init_extended",
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
    bar = progress_bar(progress, len(ns))
    for n in ns:
        t0 = time.perf_counter()
        if n < matfree_from:
            err, fit = kernel_fit(kernel, task, int(n))
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


def progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sizes", leave=False)

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
    check_n_pre(n_pre)
    model = net_model(d, width, depth, parametrization=parametrization, alpha=alpha)
    return check_cost(model, max(n_max, n_pre), steps)


@V.checked
def alpha_sweep(key: V.Key, alphas: Sequence[float], sizes: V.Sizes = SIZES, *,
                seeds: V.PositiveInt = 2, dtype=jnp.float32, **settings) -> dict:
    """``{alpha: Curves}`` with the trained net at output scale ``alpha`` (under ``'lazy'``;
    ``alpha = 1`` is the rich net) and, once, the two fixed kernels under ``alphas[0]``.
    Same tasks and inits (``key``) for every ``alpha``."""
    settings_from(settings, "alpha_sweep")
    out = {}
    for i, a in enumerate(alphas):
        learners = ("lazy", "entk_init", "ntk") if i == 0 else ("lazy",)
        out[float(a)] = data_scaling(key, sizes, seeds=seeds, learners=learners, dtype=dtype,
                                     **{**settings, "lazy_alpha": float(a)})
    return out

def scaling_curves(key: jax.Array, run: dict = NOTEBOOK_RUN,
                   learners: Sequence[str] | None = None) -> tuple[Curves, dict]:
    """:func:`data_scaling` at ``run``'s settings (``n_pre`` its largest ``n_pres``) and
    ``{n_pre: Curves}`` for every ``n_pres`` when ``'pretrained'`` is among the learners."""
    learners = tuple(run["learners"] if learners is None else learners)
    curves = data_scaling(key, run["sizes"], seeds=run["seeds"], learners=learners,
                          n_pre=run["n_pres"][-1], **runsettings_from(run))
    if "pretrained" not in learners:
        return curves, {}
    pre = pretrained_curves(key, run["n_pres"][:-1], run["sizes"], seeds=run["seeds"],
                            **runsettings_from(run))
    return curves, {**pre, int(run["n_pres"][-1]): curves}



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
