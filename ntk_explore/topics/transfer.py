"""What transfers through a fixed tangent kernel, and what needs feature learning.

A source task A (many samples) and a target task B (few samples) share one
hidden direction ``u``: ``x ~ N(0, I_d)``, ``z = x . u`` and

    y_A = g_A(z),   y_B = sign * (overlap * g_A(z) + sqrt(1 - overlap**2) * g_C(z))

with ``g_A = He_2 / sqrt(2)`` and ``g_C = He_3 / sqrt(6)`` (unit-variance,
uncorrelated Hermite polynomials). ``sign = -1`` is the sign-flip test.

Learners on B (all trained with the same rate ``lr``; nets by full-batch GD,
linear models in closed form with gradient-flow time ``lr * steps`` through
:func:`~ntk_explore.core.linearized.mse_dynamics`):

==================  ============================================================
``scratch``         (1) the net trained on B from its initial params ``theta_0``
``finetune``        (2) the net pretrained on A, then trained on B
``lin_init_from_A`` (3) the linearized model around ``theta_0`` (kernel ``K_0``),
                    first trained on A, then on B: only its starting point moves
``lin_pretrained``  (4) the linearized model around the pretrained params
                    ``theta_A`` (eNTK after pretraining), started at ``f(theta_A)``
``ntk_inf``         (5) infinite-width NTK regression on B
``lin_init``        baseline for (3): the linearized model around ``theta_0``
                    trained on B only
==================  ============================================================

Errors are relative test MSE ``mean((f - y)**2) / mean(y**2)`` (0 is perfect,
about 1 is "predicts zero").
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..core import validation as V
from ..core.kernels import infinite_kernel_fn, kernel_regression, mlp_ntk
from ..core.linearized import mse_dynamics
from ..core.metrics import relative_error
from ..core.models import MLP, mlp
from ..core.training import train
from ..core.verdicts import Verdict, judge

__all__ = ["LEARNERS", "LINEAR_AT_INIT", "SIGN_FLIP", "TransferTasks", "transfer_tasks",
           "TransferResult", "transfer_experiment", "relative_error", "mean_interval",
           "sign_flip_run", "transfer_sign_verdict", "settings_text"]

LEARNERS = ("scratch", "finetune", "lin_init_from_A", "lin_pretrained", "ntk_inf", "lin_init")


class TransferTasks(NamedTuple):
    """Inputs and targets: source ``(N_A, d)``/``(N_A, 1)``, target pool
    ``(M, d)``/``(M, 1)`` (B with ``sign = +1``), test ``(T, d)``/``(T, 1)``
    with B's targets ``y_test`` and A's targets ``y_test_source`` on them."""

    x_source: jax.Array
    y_source: jax.Array
    x_target: jax.Array
    y_target: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    y_test_source: jax.Array


def _hermite_targets(z: jax.Array, overlap: float):
    g_a = (z**2 - 1.0) / jnp.sqrt(2.0)
    g_c = (z**3 - 3.0 * z) / jnp.sqrt(6.0)
    return g_a[:, None], (overlap * g_a + jnp.sqrt(1.0 - overlap**2) * g_c)[:, None]


@V.checked
def transfer_tasks(key: V.Key, *, d: V.PositiveInt = 8, n_source: V.PositiveInt = 512,
                   n_target: V.PositiveInt = 128, n_test: V.PositiveInt = 512, overlap: V.UnitInterval = 0.8,
                   dtype=None) -> TransferTasks:
    """Draw source, target-pool and test sets that share the direction ``u``.

    ``overlap`` in ``[0, 1]`` is the correlation of ``y_B`` with ``y_A``
    (at ``sign = +1``); 1 makes B the same function as A on fresh inputs.
    """
    for name, v in (("d", d), ("n_source", n_source), ("n_target", n_target), ("n_test", n_test)):
        if not (isinstance(v, int) and v > 0):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    dtype = dtype or jnp.zeros(()).dtype
    ku, ka, kb, kt = jax.random.split(key, 4)
    u = jax.random.normal(ku, (d,), dtype)
    u = u / jnp.linalg.norm(u)
    xs = [jax.random.normal(k, (n, d), dtype) for k, n in
          ((ka, n_source), (kb, n_target), (kt, n_test))]
    (ya, _), (_, yb), (yta, yt) = (_hermite_targets(x @ u, overlap) for x in xs)
    return TransferTasks(xs[0], ya, xs[1], yb, xs[2], yt, yta)


@dataclasses.dataclass(frozen=True)
class TransferResult:
    """Relative test errors ``errors`` ``(S, len(signs), len(LEARNERS), len(sizes))``.

    Also ``source_error`` ``(S,)``: the pretrained net's relative error on A's
    test inputs (did pretraining work?).
    """

    sizes: np.ndarray
    signs: tuple
    learners: tuple
    errors: np.ndarray
    source_error: np.ndarray

    def curve(self, learner: str, sign: int = 1) -> np.ndarray:
        """Seed-mean error vs target size, ``(M,)``."""
        return self.errors[:, self.signs.index(sign), self.learners.index(learner)].mean(0)

    def effect(self, learner: str, baseline: str, sign: int = 1) -> np.ndarray:
        """Per-seed benefit ``err(baseline) - err(learner)`` ``(S, M)``; > 0 means it helps."""
        i, li, bi = self.signs.index(sign), self.learners.index(learner), self.learners.index(baseline)
        return self.errors[:, i, bi] - self.errors[:, i, li]


class _Prepared(NamedTuple):
    """Everything one seed needs to score every learner at every target size."""

    model: MLP
    params0: object
    params_a: object
    k0: np.ndarray       # (M + T, M + T) eNTK at theta_0 on target pool + test
    ka: np.ndarray       # same at theta_A (None when not pretrained)
    kinf: np.ndarray     # infinite NTK (None when not asked for)
    f0: np.ndarray       # (M + T, 1) net at theta_0
    fa: np.ndarray       # net at theta_A (None when not pretrained)
    fa_lin: np.ndarray   # linearized-at-theta_0 model after training on A
    source_error: float


def _new_head(params, params0, head: str):
    """Replace the read-out layer after pretraining: ``'zero'``, ``'reinit'`` (theta_0's) or ``'keep'``."""
    if head == "keep":
        return params
    last = (jax.tree.map(jnp.zeros_like, params[-1]) if head == "zero" else params0[-1])
    return list(params[:-1]) + [last]


_NEEDS_PRETRAINING = ("finetune", "lin_pretrained")


def _prepare(tasks: TransferTasks, model: MLP, key, lr: float, pretrain_steps: int,
             head: str, learners: Sequence[str]) -> _Prepared:
    """Everything the ``learners`` need for one seed: the pretrained net (skipped, and
    ``source_error`` NaN, when no learner uses it), the kernels and starting outputs."""
    params0 = model.init(key, dtype=tasks.x_source.dtype)
    pts = jnp.concatenate([tasks.x_target, tasks.x_test])  # (M + T, d)
    m = pts.shape[0]
    ntk = mlp_ntk(model)
    k0_all = ntk(jnp.concatenate([pts, tasks.x_source]), None, params0)[..., 0, 0]
    f0 = np.asarray(model.apply(params0, pts))
    lin_a = mse_dynamics(k0_all[m:, m:], tasks.y_source, model.apply(params0, tasks.x_source),
                         ntk_test_train=k0_all[:m, m:], f0_test=f0, times=[lr * pretrain_steps])
    params_a, ka, fa, source_error = params0, None, None, float("nan")
    if any(name in learners for name in _NEEDS_PRETRAINING):
        trained = train(model.apply, params0, tasks.x_source, tasks.y_source, lr=lr,
                        steps=pretrain_steps, record_every=pretrain_steps, progress=False).params
        source_error = relative_error(model.apply(trained, tasks.x_test), tasks.y_test_source)
        params_a = _new_head(trained, params0, head)
        ka = np.asarray(ntk(pts, None, params_a)[..., 0, 0])
        fa = np.asarray(model.apply(params_a, pts))
    kinf = np.asarray(infinite_kernel_fn(model)(pts).ntk) if "ntk_inf" in learners else None
    return _Prepared(model, params0, params_a, np.asarray(k0_all[:m, :m]), ka, kinf, f0, fa,
                     lin_a.test[-1], source_error)


def _fit_linear(kernel, start, y, idx, test, time):
    """Closed-form linear model on target points ``idx`` from outputs ``start`` ``(M + T, 1)``."""
    out = mse_dynamics(kernel[np.ix_(idx, idx)], y, start[idx],
                       ntk_test_train=kernel[np.ix_(test, idx)], f0_test=start[test],
                       times=[time])
    return out.test[-1]


def _score_size(prep: _Prepared, tasks: TransferTasks, m: int, sign: int, lr: float,
                 steps: int, learners: Sequence[str]) -> list[float]:
    """Relative test errors of ``learners`` (in that order) with ``m`` target samples."""
    n_pool = tasks.x_target.shape[0]
    idx, test = np.arange(m), np.arange(n_pool, n_pool + tasks.x_test.shape[0])
    x, y, y_test = tasks.x_target[:m], sign * np.asarray(tasks.y_target[:m]), sign * tasks.y_test
    t = lr * steps

    def net(params):
        trained = train(prep.model.apply, params, x, y, lr=lr, steps=steps, record_every=steps,
                        progress=False).params
        return prep.model.apply(trained, tasks.x_test)

    predict = {
        "scratch": lambda: net(prep.params0),
        "finetune": lambda: net(prep.params_a),
        "lin_init_from_A": lambda: _fit_linear(prep.k0, prep.fa_lin, y, idx, test, t),
        "lin_pretrained": lambda: _fit_linear(prep.ka, prep.fa, y, idx, test, t),
        "ntk_inf": lambda: kernel_regression(prep.kinf[np.ix_(idx, idx)], y,
                                             prep.kinf[np.ix_(test, idx)]),
        "lin_init": lambda: _fit_linear(prep.k0, prep.f0, y, idx, test, t),
    }
    return [relative_error(predict[name](), y_test) for name in learners]


@V.checked
def transfer_experiment(*, key: V.Key, sizes: V.Sizes = (8, 16, 32, 64, 128), seeds: V.PositiveInt = 2,
                        signs: Annotated[Sequence[int], V.IntList(-1)] = (1, -1), width: V.PositiveInt = 256,
                        depth: V.PositiveInt = 2, parametrization: str = "mup", alpha: V.PositiveFloat = 0.3,
                        lr: V.PositiveFloat = 1.0, pretrain_steps: V.NonNegativeInt = 1000,
                        steps: V.NonNegativeInt = 300, head: str = "zero", learners: Sequence[str] = LEARNERS,
                        **task_kwargs) -> TransferResult:
    """Score the learners in ``LEARNERS`` on target B for each size, sign and seed.

    Args:
      key: seed ``s`` draws its tasks and init from ``fold_in(key, s)``.
      sizes: numbers of target samples ``m`` (each at most the pool size).
      signs: target signs; ``-1`` flips B (the sign-flip test).
      width, depth, parametrization: the MLP (muP by default, so that
        pretraining really changes the features).
      alpha: output multiplier; ``alpha < 1`` moves the features further for
        the same function-space speed (Chizat et al.'s rich side). The default
        0.3 roughly halves the pretrained net's error on A compared with 1.
      lr: base learning rate; every stage (pretraining, fine-tuning, the linear
        models' gradient-flow time) uses ``lr / alpha**2``.
      pretrain_steps, steps: GD steps on A and on B.
      head: what (2) and (4) do with the read-out layer after pretraining:
        ``'zero'`` (default; a fresh zero head, so both start from ``f = 0``
        and only the hidden features carry over), ``'reinit'`` (the initial
        random head) or ``'keep'`` (the head trained on A, so they also inherit
        A's function as a starting point).
      learners: which of :data:`LEARNERS` to score (default all; kept in that order).
        Without ``'finetune'`` and ``'lin_pretrained'`` nothing is pretrained (and
        ``source_error`` is NaN): the linear learners at init need only ``K_0``. A
        learner's errors do not depend on which others are scored.
      **task_kwargs: passed to :func:`transfer_tasks` (``d``, ``n_source``,
        ``n_test``, ``overlap``); ``n_target`` defaults to ``max(sizes)``.

    Returns: :class:`TransferResult` with ``errors`` ``(seeds, signs, learners, sizes)``.
    """
    sizes = np.asarray(sorted(int(m) for m in sizes))
    task_kwargs.setdefault("n_target", int(sizes[-1]))
    if sizes[0] < 1 or sizes[-1] > task_kwargs["n_target"]:
        raise ValueError(f"sizes must lie in [1, n_target={task_kwargs['n_target']}], got {sizes}")
    if head not in ("zero", "reinit", "keep"):
        raise ValueError(f"head must be 'zero', 'reinit' or 'keep', got {head!r}")
    if any(s not in (1, -1) for s in signs):
        raise ValueError(f"signs must be +1 or -1, got {signs}")
    unknown = [name for name in learners if name not in LEARNERS]
    if unknown or not learners:
        raise ValueError(f"learners must be a non-empty subset of {LEARNERS}, got {learners!r}")
    learners = tuple(name for name in LEARNERS if name in learners)
    rate = lr / alpha**2
    errors = np.zeros((seeds, len(signs), len(learners), sizes.size))
    source = np.zeros(seeds)
    for s in range(seeds):
        k_task, k_init = jax.random.split(jax.random.fold_in(key, s))
        tasks = transfer_tasks(k_task, **task_kwargs)
        model = mlp(tasks.x_source.shape[1], width, depth, parametrization=parametrization,
                    alpha=alpha)
        prep = _prepare(tasks, model, k_init, rate, pretrain_steps, head, learners)
        source[s] = prep.source_error
        for i, sign in enumerate(signs):
            for j, m in enumerate(sizes):
                errors[s, i, :, j] = _score_size(prep, tasks, int(m), sign, rate, steps,
                                                 learners)
    return TransferResult(sizes, tuple(int(v) for v in signs), learners, errors, source)


# ---------------------------------------------------------------------------
# the sign-flip claim (notebook 04 and the tour)

LINEAR_AT_INIT = ("lin_init_from_A", "lin_init")
"""The two learners the sign-flip claim compares: both linearized at ``theta_0``, one
started from its solution of A, one from ``f(theta_0)``."""

SIGN_FLIP = dict(sizes=(8, 16, 32, 64, 128), seeds=8)
"""Settings of the sign-flip verdict, in notebook 04 and in the tour alike. Only the
linear learners at init are scored (no net is trained), so a seed costs about 0.2 s on
2 CPU cores after a few seconds of compilation; 8 seeds make the 95% interval of the
smallest benefit (for +B at m = 128) exclude 0."""


def mean_interval(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and its 95% t-interval: ``values`` ``(S, M)`` -> three ``(M,)``
    arrays ``(mean, low, high)`` (``S >= 2``)."""
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"values must be (seeds >= 2, M), got shape {values.shape}")
    mean = values.mean(0)
    half = stats.t.ppf(0.975, values.shape[0] - 1) * values.std(0, ddof=1) / np.sqrt(values.shape[0])
    return mean, mean - half, mean + half


@V.checked
def sign_flip_run(key: V.Key | None = None, *, sizes: V.Sizes = SIGN_FLIP["sizes"],
                  seeds: V.PositiveInt = SIGN_FLIP["seeds"], dtype=jnp.float32) -> TransferResult:
    """:func:`transfer_experiment` for the :data:`LINEAR_AT_INIT` learners only, at the
    notebook's defaults otherwise (``key`` default ``jax.random.key(0)``, as the app's).
    Seed ``s`` is the same draw as seed ``s`` of a full experiment with the same key."""
    key = jax.random.key(0) if key is None else key
    return transfer_experiment(key=key, sizes=sizes, seeds=seeds, learners=LINEAR_AT_INIT,
                               dtype=dtype)


@V.checked
def transfer_sign_verdict(result: TransferResult) -> Verdict:
    """Claim ``transfer_sign``: started from its solution of A, the model linearized at
    init hurts on the flipped target -B at every target size (and helps on +B).

    The measured quantity is the benefit ``err(lin_init) - err(lin_init_from_A)`` on -B
    at the size where it is closest to 0; the interval is the union over sizes of the
    95% t-intervals over seeds, so the claim holds only if every size's interval lies
    below 0. Side condition: the seed-mean benefit on +B is positive at every size.
    """
    if result.errors.shape[0] < 2:
        raise ValueError("the sign-flip verdict needs at least 2 seeds (an interval over seeds)")
    minus, lo, hi = mean_interval(result.effect(*LINEAR_AT_INIT, -1))
    plus, plus_lo, _ = mean_interval(result.effect(*LINEAR_AT_INIT, 1))
    j = int(np.argmax(minus))
    sizes = ", ".join(str(int(m)) for m in result.sizes)
    return judge("transfer_sign", float(minus[j]), (float(lo.min()), float(hi.max())),
                 measured_what=f"benefit of starting from the A-solution on -B (drop in relative "
                               f"test MSE, linearized at init) at m = {int(result.sizes[j])}, "
                               f"the size where it is closest to 0",
                 interval_what=f"union over m = {sizes} of the 95% t-intervals over "
                               f"{result.errors.shape[0]} seeds",
                 extra=bool(np.all(plus > 0)),
                 detail=f"benefit on -B from {minus.min():+.3f} to {minus.max():+.3f}; on +B "
                        f"from {plus.min():+.3f} to {plus.max():+.3f} (lowest 95% bound "
                        f"{plus_lo.min():+.3f})")


def _defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def settings_text(result: TransferResult | None = None) -> str:
    """The experiment's set-up in one sentence, from the defaults of
    :func:`transfer_experiment` and :func:`transfer_tasks` (and ``result``'s sizes and seeds)."""
    e, t = _defaults(transfer_experiment), _defaults(transfer_tasks)
    sizes = e["sizes"] if result is None else tuple(int(m) for m in result.sizes)
    seeds = e["seeds"] if result is None else int(result.errors.shape[0])
    return (f"inputs in d = {t['d']} dimensions; task A: {t['n_source']} samples; target B: "
            f"m = {', '.join(map(str, sizes))} samples, overlap {t['overlap']:g} with A (so B "
            f"shares {t['overlap'] ** 2:.0%} of its variance with A); {t['n_test']} test points; "
            f"{e['parametrization']} MLPs with {e['depth']} hidden layers of width {e['width']}, "
            f"output scale {e['alpha']:g}; {e['pretrain_steps']} GD steps on A, {e['steps']} on "
            f"B, base rate {e['lr']:g} (divided by the output scale squared); {seeds} seeds")
