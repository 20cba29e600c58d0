"""The learners and tasks of the "where the kernel loses" experiments (notebook 09).

A single-index (or multi-index) task or a sparse parity is drawn once per seed with a
fixed input pool of :data:`POOL` rows (:func:`make_task`): training sets are its first
``n`` rows, pretraining sets start at row :data:`PRETRAIN_FROM`, and the validation and
test sets come after the pool, so no setting moves them. The nets are MLPs in the
mean-field scaling (:func:`net_model`, :func:`layer_rates`) trained on their centred
output (:func:`train_net`); the kernels (:func:`entk_fn`, :func:`ntk_fn`,
:func:`readout_kernel_fn`) are evaluated in fixed tiles and used by kernel ridge with the
ridge chosen on the validation set (:func:`kernel_error`). The experiments built on these
are in :mod:`ntk_explore.topics.kernel_loses`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import metrics as km
from . import tasks as tk
from . import validation as V
from .kernels import infinite_kernel_fn, mlp_ntk
from .models import MLP, mlp
from .training import train

__all__ = ["BLOCK", "DEFAULTS", "FLOPS_PER_SECOND", "FULL_RUN", "LEARNERS", "MAX_SECONDS", "NOTEBOOK_RUN",
    "N_PRE_MAX", "POOL", "PRETRAIN_FROM", "SETTINGS", "SIZES", "Settings", "blocked_kernel",
    "centred_predict", "check_cost", "check_n_pre", "entk_fn", "eval_digest", "kernel_error", "kernel_fit",
    "layer_rates", "make_task", "net_model", "ntk_fn", "ntk_matrix", "one_step_params", "pad_rows",
    "pretrain_set", "readout_kernel_fn", "runsettings_from", "settings_from", "train_net"]

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


def settings_from(given: dict, where: str, allowed: Sequence[str] = SETTINGS) -> Settings:
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


def check_n_pre(n_pre) -> int:
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
    return functools.partial(ntk_matrix, model)


@functools.partial(jax.jit, static_argnums=0)
def ntk_matrix(model: MLP, x1, x2):
    """The NTK only (no NNGP), compiled by JAX once per model and tile shape."""
    return infinite_kernel_fn(model)(x1, x2).ntk


def readout_kernel_fn(model: MLP, params):
    """``k(x1, x2) = phi(x1) phi(x2)^T + 1``: the kernel of ridge on the last hidden layer (and a bias)."""
    def k(x1, x2):
        a, b = model.features(params, x1)[1][-1], model.features(params, x2)[1][-1]
        return a @ b.T / a.shape[1] + 1.0
    return k


BLOCK = 256  # kernel tiles are BLOCK x BLOCK (bounds memory; one compiled shape per kernel)


def pad_rows(x, block: int):
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
    p1, p2 = pad_rows(x1, block), pad_rows(x2, block)
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
    return kernel_fit(kernel, task, n, metric)[0]


def kernel_fit(kernel, task: tk.IndexTask, n: int, metric: str = "mse"):
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


def runsettings_from(run: dict) -> dict:
    return dict(width=run["width"], n_val=run["n_val"], n_test=run["n_test"])


