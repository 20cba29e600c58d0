"""Real images, both halves: on ``load_digits``, nets against their tangent kernels by data scaling.

Data: the 1797 8x8 digits of scikit-learn (pixels standardised), shuffled by the seed
and split into a training pool (``n_pool``, nested training sets are its first ``n``
rows), a validation set (``n_val``: early stopping and every kernel's ridge) and a test
set (the rest). Targets are one-hot minus 0.1, loss and test metric the MSE
(:func:`~ntk_explore.core.metrics.test_loss`: mean over test images of half the squared
error summed over the 10 outputs); the test *error* is the fraction of test images whose
largest output is not their class.

Learners (one initialisation ``theta0`` per seed, shared by every net and eNTK):

* ``rich``: a ReLU MLP in the NTK parametrization with the centred output
  ``f = (h(theta) - h(theta0)) / gamma`` and ``gamma = sqrt(width)`` (a mean-field
  readout), trained by full-batch GD at rate ``lr * gamma**2`` with early stopping on
  the validation loss;
* ``lazy``: the same net with ``gamma = 1`` (the lazy control);
* ``entk``: kernel ridge with the MLP's pNTK at ``theta0`` (its linearisation);
* ``ntk``: kernel ridge with the infinite-width NTK of the MLP;
* ``after``: kernel ridge with the pNTK of the trained ``rich`` net (the after-kernel);
* ``cnn``: the CNN of :mod:`ntk_explore.core.convnets` (``gamma = sqrt(channels)``);
* ``cntk``: kernel ridge with its infinite-width kernel (flatten readout);
* ``entk_cnn``: kernel ridge with the CNN's pNTK at init;
* ``cntk_gap``: the infinite-width kernel of the same net with global average pooling
  (minutes on 2 cores: benchmark only).

Every kernel's ridge is chosen on the validation set
(:func:`~ntk_explore.core.metrics.ridge_on_validation`). Exponents ``alpha`` are minus
the slope of log test MSE against log ``n``; two learners are compared by their
**paired per-seed slope difference** (one slope per seed of the log ratio of their
errors, then a t-interval over seeds), so what the seeds share cancels.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..core import metrics as km
from ..core import validation as V
from ..core.convnets import CNN, cnn, cntk
from ..core.datasets import DigitsSplit, digits_split, standardised_digits
from ..core.kernels import infinite_kernel_fn, mlp_pntk, pntk
from ..core.metrics import Paired, errors_of, per_seed_difference
from ..core.models import MLP, apply_jit, mlp
from ..core.training import TrainedNet, train_early_stopped
from ..core.verdicts import Verdict, judge

__all__ = [
    "LEARNERS", "NETS", "Settings", "DigitsSplit", "digits_split", "mlp_net", "cnn_net",
    "TrainedNet", "train_early_stopped", "errors_of", "kernel_learner", "Paired",
    "per_seed_difference", "DigitsCurves", "digits_scaling", "mlp_at_gamma",
    "rich_vs_ntk_verdict", "rich_vs_lazy_verdict", "lazy_vs_entk_verdict", "cnn_vs_cntk_verdict",
    "verdicts", "log_sizes", "fixed_kernels", "NOTEBOOK", "TOUR", "BENCHMARK", "LinearCheck",
    "linear_check",
]

LEARNERS = ("rich", "lazy", "entk", "ntk", "after", "cnn", "cntk", "entk_cnn", "cntk_gap")
NETS = ("rich", "lazy", "cnn")


def log_sizes(lo: int, hi: int, num: int) -> tuple[int, ...]:
    """``num`` distinct log-spaced integers from ``lo`` to ``hi``."""
    return tuple(int(v) for v in np.unique(np.round(np.geomspace(lo, hi, num)).astype(int)))


@dataclasses.dataclass(frozen=True)
class Settings:
    """One run of :func:`digits_scaling`; an unknown field is a ``TypeError``.

    ``gamma`` / ``cnn_gamma``: output scales of the rich MLP / the CNN (``None``:
    ``gamma0 * sqrt(width)`` / ``gamma0 * sqrt(channels[-1])``, a mean-field readout times
    ``gamma0``); ``lr``: the function-space rate ``eta``
    (the stored weights move at ``eta * gamma**2``), below ``2 / lambda_max(eNTK / n)``
    of the net at init; ``steps``: the most GD steps; ``every``: steps between two
    validation checks; ``patience``: checks without improvement before stopping.
    """

    sizes: tuple[int, ...] = log_sizes(50, 1200, 7)
    seeds: int = 3
    width: int = 256
    depth: int = 2
    gamma: float | None = None
    gamma0: float = 1.0
    lr: float = 2.0
    steps: int = 1000
    every: int = 25
    patience: int = 8
    channels: tuple[int, ...] = (16, 16)
    cnn_gamma: float | None = None
    cnn_lr: float = 4.0
    cnn_steps: int = 800
    n_pool: int = 1200
    n_val: int = 100
    learners: tuple[str, ...] = ("rich", "lazy", "entk", "ntk", "after", "cnn", "cntk")

    def __post_init__(self):
        sizes = V.check_int_list("sizes", self.sizes, minimum=2)
        if len(sizes) < 3 or max(sizes) > self.n_pool:
            raise ValueError(f"sizes need at least 3 values in [2, n_pool = {self.n_pool}], "
                             f"got {list(sizes)}")
        object.__setattr__(self, "sizes", tuple(sorted(sizes)))
        V.check_positive_int("seeds", self.seeds, minimum=2)
        for name in ("width", "depth", "steps", "every", "patience", "cnn_steps", "n_val"):
            V.check_positive_int(name, getattr(self, name))
        for name in ("lr", "cnn_lr", "gamma0"):
            V.check_positive_float(name, getattr(self, name))
        for name in ("gamma", "cnn_gamma"):
            if getattr(self, name) is not None:
                V.check_positive_float(name, getattr(self, name))
        if self.n_pool + self.n_val >= 1797:
            raise ValueError(f"n_pool + n_val must leave test images (< 1797), got "
                             f"{self.n_pool} + {self.n_val}")
        bad = set(self.learners) - set(LEARNERS)
        if bad:
            raise ValueError(f"unknown learners {sorted(bad)}; choose from {LEARNERS}")
        if "after" in self.learners and "rich" not in self.learners:
            raise ValueError("learner 'after' needs 'rich' (it is the trained rich net's kernel)")

    @property
    def rich_gamma(self) -> float:
        return self.gamma0 * math.sqrt(self.width) if self.gamma is None else float(self.gamma)

    @property
    def cnn_output_scale(self) -> float:
        return (self.gamma0 * math.sqrt(self.channels[-1]) if self.cnn_gamma is None
                else float(self.cnn_gamma))


NOTEBOOK = dict(width=128, gamma=16.0, sizes=(50, 100, 200, 400, 800),
                learners=("rich", "lazy", "entk", "ntk", "after"))
"""What notebook 07 runs (3 seeds; under a minute on 2 cores with everything else)."""
TOUR = dict(width=128, gamma=16.0, sizes=(50, 100, 200, 400), learners=("rich", "ntk"))
"""The tour's setting for ``data_scaling_digits`` (about 10 s on 2 cores)."""
BENCHMARK = dict(learners=("rich", "lazy", "entk", "ntk", "after", "cnn", "cntk"))
"""``benchmarks/bench_natural.py`` (the :class:`Settings` defaults; ``--gap`` adds ``cntk_gap``)."""


# ---------------------------------------------------------------------------
# nets, and the learners' test errors


def mlp_net(width: int = 512, depth: int = 2, *, gamma: float = 1.0) -> MLP:
    """The ReLU MLP ``64 -> width^depth -> 10`` in the NTK parametrization, output scale
    ``1 / gamma`` (traced: every ``gamma`` shares one compiled program)."""
    return mlp(64, width, depth, 10, parametrization="ntk", alpha=1.0 / gamma)


def cnn_net(channels: Sequence[int] = (16, 16), *, gamma: float = 1.0,
            readout: str = "flatten") -> CNN:
    """The CNN ``Conv3x3-ReLU-...-Flatten-Dense`` on 8x8 digits, output scale ``1 / gamma``."""
    return cnn(8, 8, 1, channels=tuple(channels), out_dim=10, readout=readout, alpha=1.0 / gamma)


def kernel_learner(k_rows, split: DigitsSplit, n: int) -> tuple[float, float]:
    """Kernel ridge (ridge chosen on validation) with ``k_rows`` ``(n + v + T, >= n)``, the
    kernel between ``split.rows(n)`` and the first ``n`` pool points (its first ``n``
    columns are used): ``(test MSE, test error)``."""
    v, k = split.val.size, np.asarray(k_rows, np.float64)[:, :n]
    fit = km.ridge_on_validation(0.5 * (k[:n] + k[:n].T), split.y[split.pool[:n]], k[n:n + v],
                                 split.y[split.val], k[n + v:])
    return errors_of(fit.predictions[0], split.y[split.test], split.labels[split.test])


def _net_errors(model, trained: TrainedNet, params0, split: DigitsSplit):
    xt = jnp.asarray(split.x[split.test])
    f = apply_jit(model, trained.params, xt) - apply_jit(model, params0, xt)
    return errors_of(f, split.y[split.test], split.labels[split.test])


# ---------------------------------------------------------------------------
# kernels that do not depend on the seed: computed once on all 1797 images


def _fixed_kernel(name: str, width: int, depth: int, channels: tuple) -> np.ndarray:
    x = standardised_digits()[0]
    if name == "ntk":
        kfn = infinite_kernel_fn(mlp_net(width, depth))
        return np.asarray(jax.jit(lambda a, b: kfn(a, b).ntk)(x, x), np.float64)
    readout = "gap" if name == "cntk_gap" else "flatten"
    return cntk(cnn_net(channels, readout=readout), x, progress=name == "cntk_gap")


def fixed_kernels(settings: Settings) -> dict:
    """``{name: (1797, 1797)}`` kernels on every image for the learners ``ntk``, ``cntk``,
    ``cntk_gap`` in ``settings.learners`` (computed once per run: seeds differ only in the
    split)."""
    s = settings
    return {name: _fixed_kernel(name, s.width, s.depth, tuple(s.channels))
            for name in ("ntk", "cntk", "cntk_gap") if name in s.learners}


# ---------------------------------------------------------------------------
# the experiment


@dataclasses.dataclass(frozen=True)
class DigitsCurves:
    """``mse[learner]``, ``err[learner]``: ``(seeds, S)`` test MSE and error at sizes
    ``ns (S,)``; ``stopped[net]``: ``(seeds, S)`` early-stopping steps; ``seconds``:
    ``{part: wall seconds}``; the :class:`Settings`."""

    ns: np.ndarray
    mse: dict
    err: dict
    stopped: dict
    seconds: dict
    settings: Settings

    def exponent(self, name: str) -> km.Exponent:
        """``alpha`` of ``name``'s test MSE, pooled over seeds (``loss ~ n**-alpha``)."""
        return km.fit_exponent(self.ns, self.mse[name])

    def slope(self, name: str) -> tuple[float, tuple[float, float]]:
        """Mean per-seed slope of log test MSE vs log n, with its 95% t-interval over seeds."""
        logn = np.log(self.ns.astype(np.float64))
        s = np.array([np.polyfit(logn, np.log(r), 1)[0] for r in self.mse[name]])
        half = float(stats.t.ppf(0.975, s.size - 1) * s.std(ddof=1) / math.sqrt(s.size))
        return float(s.mean()), (float(s.mean() - half), float(s.mean() + half))

    def paired(self, a: str, b: str) -> Paired:
        """:func:`per_seed_difference` of ``a`` against ``b`` (negative: ``a`` out-scales)."""
        return per_seed_difference(self.ns, self.mse[a], self.mse[b], a, b)

    def mean(self, name: str, metric: str = "mse") -> np.ndarray:
        return getattr(self, metric)[name].mean(axis=0)

    def with_learner(self, name: str, mse: np.ndarray, err: np.ndarray,
                     stopped: np.ndarray | None = None) -> DigitsCurves:
        """A copy with one more learner (e.g. a net at another output scale)."""
        extra = {} if stopped is None else {name: np.asarray(stopped)}
        return dataclasses.replace(self, mse={**self.mse, name: np.asarray(mse)},
                                   err={**self.err, name: np.asarray(err)},
                                   stopped={**self.stopped, **extra})

    def to_dict(self) -> dict:
        """Plain lists (JSON) of everything; :meth:`from_dict` rebuilds the object."""
        return {"ns": self.ns.tolist(), "settings": dataclasses.asdict(self.settings),
                "seconds": self.seconds,
                **{f: {k: np.asarray(v).tolist() for k, v in getattr(self, f).items()}
                   for f in ("mse", "err", "stopped")}}

    @classmethod
    def from_dict(cls, d: dict) -> DigitsCurves:
        """The inverse of :meth:`to_dict` (a saved run)."""
        raw = dict(d["settings"])
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(np.asarray(d["ns"]), *({k: np.asarray(v) for k, v in d[f].items()}
                                          for f in ("mse", "err", "stopped")),
                   dict(d.get("seconds", {})), Settings(**raw))


class _Seed(NamedTuple):
    """What one seed's learners share: the split and the inits of the MLP and the CNN."""

    split: DigitsSplit
    p0: object
    c0: object


def _seed(seed: int, s: Settings, key: jax.Array) -> _Seed:
    split = digits_split(seed, n_pool=s.n_pool, n_val=s.n_val)
    k_mlp, k_cnn = jax.random.split(jax.random.fold_in(key, seed))
    return _Seed(split, mlp_net(s.width, s.depth).init(k_mlp), cnn_net(s.channels).init(k_cnn))


def _fit_net(model, start, split: DigitsSplit, n: int, *, lr: float, steps: int,
             s: Settings) -> tuple[tuple[float, float, int], object]:
    """``((test MSE, test error, stopping step), params)`` of one early-stopped run."""
    tr = train_early_stopped(model, start, split.x[split.pool[:n]], split.y[split.pool[:n]],
                             split.x[split.val], split.y[split.val], lr=lr, steps=steps,
                             every=s.every, patience=s.patience)
    return _net_errors(model, tr, start, split) + (tr.step,), tr.params


def _tick(clock: dict, part: str, tic: float) -> float:
    now = time.perf_counter()
    clock[part] = clock.get(part, 0.0) + now - tic
    return now


def _one_seed(seed: int, s: Settings, fixed: dict, key: jax.Array, clock: dict) -> dict:
    """``{learner: [(mse, err, stopped step)] per size}`` for one seed."""
    sd = _seed(seed, s, key)
    split, out, n_max = sd.split, {name: [] for name in s.learners}, int(s.sizes[-1])
    tic = time.perf_counter()
    k_init = {}
    if "entk" in s.learners:
        k_init["entk"] = _mlp_pntk_rows(mlp_net(s.width, s.depth), sd.p0, split, n_max)
    if "entk_cnn" in s.learners:
        k_init["entk_cnn"] = np.asarray(pntk(cnn_net(s.channels).apply, 10, batch_size=128)(
            jnp.asarray(split.x[split.rows(n_max)]), jnp.asarray(split.x[split.pool[:n_max]]),
            sd.c0))
    tic = _tick(clock, "eNTK at init", tic)
    nets = {"rich": (mlp_net(s.width, s.depth, gamma=s.rich_gamma), sd.p0, s.lr * s.rich_gamma**2,
                     s.steps),
            "lazy": (mlp_net(s.width, s.depth), sd.p0, s.lr, s.steps),
            "cnn": (cnn_net(s.channels, gamma=s.cnn_output_scale), sd.c0,
                    s.cnn_lr * s.cnn_output_scale**2, s.cnn_steps)}
    for n in (int(v) for v in s.sizes):
        for name, (model, start, lr, steps) in nets.items():
            if name in s.learners:
                out[name].append(None)
                out[name][-1], params = _fit_net(model, start, split, n, lr=lr, steps=steps, s=s)
                tic = _tick(clock, name, tic)
                if name == "rich" and "after" in s.learners:
                    k_after = _mlp_pntk_rows(model, params, split, n)
                    out["after"].append(kernel_learner(k_after, split, n) + (0,))
                    tic = _tick(clock, "after-kernel", tic)
        sub = np.concatenate([np.arange(n), np.arange(n_max, split.rows(n_max).size)])
        for name, k in k_init.items():
            out[name].append(kernel_learner(k[sub], split, n) + (0,))
        for name, k in fixed.items():
            out[name].append(kernel_learner(k[np.ix_(split.rows(n), split.pool[:n])], split, n)
                             + (0,))
        tic = _tick(clock, "kernel ridge", tic)
    return out


def _mlp_pntk_rows(model: MLP, params, split: DigitsSplit, n: int) -> np.ndarray:
    """The MLP's pNTK between ``split.rows(n)`` and the first ``n`` pool points."""
    return np.asarray(mlp_pntk(model)(jnp.asarray(split.x[split.rows(n)]),
                                      jnp.asarray(split.x[split.pool[:n]]), params))


def _arrays(rows: list, names) -> tuple[dict, dict, dict]:
    arr = {name: np.array([r[name] for r in rows]) for name in names}  # (seeds, S, 3)
    return ({k: v[..., 0] for k, v in arr.items()}, {k: v[..., 1] for k, v in arr.items()},
            {k: v[..., 2].astype(int) for k, v in arr.items() if k in NETS})


def digits_scaling(settings: Settings | None = None, *, key: jax.Array | None = None,
                   kernels: dict | None = None, progress: bool = False,
                   **overrides) -> DigitsCurves:
    """Every learner of ``settings.learners`` at every size, for ``settings.seeds`` seeds
    (seed ``i``: split ``digits_split(i)``, inits from ``fold_in(key, i)``).

    ``overrides`` replace fields of ``settings`` (default :class:`Settings`); an unknown
    name is a ``TypeError``. ``kernels``: the :func:`fixed_kernels` of an earlier run
    with the same width, depth and channels (they do not depend on anything else).
    """
    s = dataclasses.replace(settings or Settings(), **overrides)
    key = jax.random.key(0) if key is None else V.check_key("key", key)
    clock = {}
    tic = time.perf_counter()
    fixed = fixed_kernels(s) if kernels is None else {k: kernels[k] for k in
                                                      ("ntk", "cntk", "cntk_gap") if k in s.learners}
    _tick(clock, "fixed kernels", tic)
    from tqdm.auto import tqdm

    rows = [_one_seed(seed, s, fixed, key, clock)
            for seed in tqdm(range(s.seeds), disable=not progress, desc="seeds", leave=False)]
    return DigitsCurves(np.asarray(s.sizes), *_arrays(rows, s.learners), clock, s)


def mlp_at_gamma(settings: Settings, gamma: float, *, key: jax.Array | None = None,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MLP of ``settings`` at output scale ``gamma`` (same seeds, splits, inits, rate
    ``settings.lr * gamma**2`` and stopping rule as :func:`digits_scaling`, whose ``rich``
    and ``lazy`` learners are ``gamma = settings.rich_gamma`` and ``1``):
    ``(test MSE, test error, stopping step)``, each ``(seeds, S)``."""
    s, key = settings, jax.random.key(0) if key is None else V.check_key("key", key)
    gamma = V.check_positive_float("gamma", gamma)
    model = mlp_net(s.width, s.depth, gamma=gamma)
    from tqdm.auto import tqdm

    rows = []
    for seed in tqdm(range(s.seeds), disable=not progress, desc=f"gamma {gamma:g}", leave=False):
        sd = _seed(seed, s, key)
        rows.append({"net": [_fit_net(model, sd.p0, sd.split, int(n), lr=s.lr * gamma**2,
                                      steps=s.steps, s=s)[0] for n in s.sizes]})
    arr = np.array([r["net"] for r in rows])
    return arr[..., 0], arr[..., 1], arr[..., 2].astype(int)


class LinearCheck(NamedTuple):
    """Test MSE at one size and seed of: the lazy net (``gamma = 1``), its linearization with
    the full eNTK at init trained by the same GD for the same number of steps (closed form),
    that linearization with the pNTK standing in for the eNTK, and pNTK kernel ridge; with the
    step count, and ``||eNTK - pNTK (x) I|| / ||eNTK||`` on the training images."""

    n: int
    steps: int
    net: float
    linear_entk: float
    linear_pntk: float
    ridge_pntk: float
    pntk_gap: float


def linear_check(settings: Settings, n: int, *, seed: int = 0,
                 key: jax.Array | None = None) -> LinearCheck:
    """How close the lazy MLP of ``settings`` is to its linearization, and why the pNTK
    learner differs from both, at ``n`` training images of seed ``seed`` (the full eNTK
    ``(n + T, n, 10, 10)`` is formed: keep ``n`` small, a few hundred)."""
    from ..core.kernels import mlp_ntk
    from ..core.linearized import mse_dynamics

    s, key = settings, jax.random.key(0) if key is None else V.check_key("key", key)
    sd = _seed(seed, s, key)
    split, model = sd.split, mlp_net(s.width, s.depth)
    (mse, _, step), _ = _fit_net(model, sd.p0, split, n, lr=s.lr, steps=s.steps, s=s)
    x, xt = jnp.asarray(split.x[split.pool[:n]]), jnp.asarray(split.x[split.test])
    y, yt = split.y[split.pool[:n]], split.y[split.test]
    z, zt = np.zeros_like(y), np.zeros_like(yt)
    full, full_t = mlp_ntk(model)(x, None, sd.p0), mlp_ntk(model)(xt, x, sd.p0)
    lin = mse_dynamics(full, y, z, ntk_test_train=full_t, f0_test=zt, steps=[step], lr=s.lr)
    pn, pn_t = mlp_pntk(model)(x, None, sd.p0), mlp_pntk(model)(xt, x, sd.p0)
    lin_p = mse_dynamics(pn, y, z, ntk_test_train=pn_t, f0_test=zt, steps=[step], lr=s.lr)
    ridge = kernel_learner(_mlp_pntk_rows(model, sd.p0, split, n), split, n)[0]
    full = np.asarray(full, np.float64)
    gap = km.relative_frobenius(np.asarray(pn, np.float64)[:, :, None, None] * np.eye(10), full)
    return LinearCheck(n, int(step), mse, km.test_loss(lin.test[0], yt),
                       km.test_loss(lin_p.test[0], yt), ridge, gap)


# ---------------------------------------------------------------------------
# verdicts (notebook 07, the tour and the benchmark call these)


def _ex(curves: DigitsCurves, name: str) -> str:
    e = curves.exponent(name)
    return f"{e.alpha:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]"


def _alpha_difference(curves: DigitsCurves, a: str, b: str) -> tuple[float, tuple[float, float]]:
    """``alpha_a - alpha_b`` = minus the paired slope difference, with its interval."""
    p = curves.paired(a, b)
    return -p.mean, (-p.ci95[1], -p.ci95[0])


def rich_vs_ntk_verdict(curves: DigitsCurves) -> Verdict:
    """The rich MLP's exponent minus the infinite NTK's, paired per seed (claim: > 0)."""
    d, ci = _alpha_difference(curves, "rich", "ntk")
    s = curves.settings
    return judge("data_scaling_digits", d, ci,
                 measured_what="alpha(rich MLP) - alpha(infinite NTK), test MSE, paired per seed",
                 interval_what=f"95% t-interval over {s.seeds} seeds",
                 detail=f"alpha net (rich MLP) {_ex(curves, 'rich')}, infinite NTK "
                        f"{_ex(curves, 'ntk')}; "
                        f"load_digits, n = {s.sizes[0]}..{s.sizes[-1]}, width {s.width}, "
                        f"gamma {s.rich_gamma:.3g}")


def rich_vs_lazy_verdict(curves: DigitsCurves) -> Verdict:
    """The rich MLP's exponent minus the same MLP's at ``gamma = 1``, paired (claim: > 0)."""
    d, ci = _alpha_difference(curves, "rich", "lazy")
    s = curves.settings
    return judge("rich_vs_lazy_digits", d, ci,
                 measured_what=f"alpha(MLP at gamma {s.rich_gamma:.3g}) - alpha(MLP at gamma 1), "
                               "test MSE, paired per seed",
                 interval_what=f"95% t-interval over {s.seeds} seeds",
                 detail=f"alpha rich {_ex(curves, 'rich')}, lazy {_ex(curves, 'lazy')}")


def lazy_vs_entk_verdict(curves: DigitsCurves) -> Verdict:
    """The lazy MLP's exponent minus its eNTK's at init, paired (claim: below 0.05)."""
    d, ci = _alpha_difference(curves, "lazy", "entk")
    s = curves.settings
    return judge("lazy_control_digits", d, ci,
                 measured_what="alpha(MLP at gamma 1) - alpha(its eNTK at init), test MSE, "
                               "paired per seed",
                 interval_what=f"95% t-interval over {s.seeds} seeds",
                 detail=f"alpha lazy {_ex(curves, 'lazy')}, eNTK {_ex(curves, 'entk')}")


def verdicts(curves: DigitsCurves) -> list[Verdict]:
    """Every verdict the learners of ``curves`` allow, in the notebook's order."""
    have = set(curves.mse)
    out = []
    for need, fn in ((("rich", "ntk"), rich_vs_ntk_verdict), (("rich", "lazy"), rich_vs_lazy_verdict),
                     (("lazy", "entk"), lazy_vs_entk_verdict), (("cnn", "cntk"), cnn_vs_cntk_verdict)):
        if set(need) <= have:
            out.append(fn(curves))
    return out


def cnn_vs_cntk_verdict(curves: DigitsCurves) -> Verdict:
    """log(test MSE of the trained CNN / of its CNTK) at the largest n, paired per seed
    (claim: > 0, the kernel is the better learner at this scale)."""
    r = np.log(curves.mse["cnn"][:, -1] / curves.mse["cntk"][:, -1])
    m = float(r.mean())
    half = float(stats.t.ppf(0.975, r.size - 1) * r.std(ddof=1) / math.sqrt(r.size))
    n = int(curves.ns[-1])
    return judge("cntk_small_data", m, (m - half, m + half),
                 measured_what=f"log(test MSE of the trained CNN / of its flatten CNTK) at n = {n}",
                 interval_what=f"95% t-interval over {r.size} seeds",
                 detail=f"test MSE CNN {curves.mean('cnn')[-1]:.4f}, CNTK "
                        f"{curves.mean('cntk')[-1]:.4f}; error CNN "
                        f"{curves.mean('cnn', 'err')[-1]:.2%}, CNTK "
                        f"{curves.mean('cntk', 'err')[-1]:.2%}")
