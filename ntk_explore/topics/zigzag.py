"""Learning paths on the probability simplex, zig-zags, and filtered distillation.

After Ren, Guo and Sutherland (ICLR 2022, "Better supervisory signals by
observing learning paths"). The toy task has a known true conditional:

    y ~ Uniform{0..k-1},  x | y ~ N(mu_y, noise * I_d),  mu_c in {-1, 0, 1}^d
    p*(c | x) = softmax_c(-||x - mu_c||**2 / (2 noise))

so a training label is a draw from ``p*(. | x)``; ``noise`` (the variance) is the
label-noise control: larger ``noise`` -> classes overlap -> more labels differ
from ``argmax p*``.

For cross-entropy with a mean loss over a batch ``B`` and one gradient step of
size ``eta``, the change of ``q = softmax(f)`` at any input ``x~`` is

    q_{t+1}(x~) - q_t(x~) = eta / |B| * A_t(x~) sum_{i in B} eNTK(x~, x_i) (p_tar_i - q_t(x_i))
                            + O(eta**2),      A_t = diag(q_t(x~)) - q_t(x~) q_t(x~)^T

(:func:`one_step_decomposition`). Each training point's own term pulls it toward
its label; the terms of similar points pull it toward what they share, i.e.
roughly toward ``p*``. That is why a mislabelled point first drifts toward ``p*``
and only later turns to its label (a zig-zag), and why an average of the
teacher's predictions over training (filtered targets) is closer to ``p*`` than
the teacher's final predictions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..core import validation as V
from ..core.datasets import KINDS, Toy, make_toy, point_kinds
from ..core.kernels import mlp_ntk
from ..core.metrics import auc, distance_to_pstar, expected_calibration_error, fit_loglog
from ..core.models import MLP, InputsArg, ModelArg, ParamsArg, mlp
from ..core.training import train, xent
from ..core.verdicts import Verdict, judge

__all__ = [
    "KINDS", "Toy", "make_toy", "toy_model", "TeacherRun", "train_teacher", "memorization_epoch",
    "ema_targets", "Targets", "distill_targets", "point_kinds", "zigzag_score",
    "auc", "expected_calibration_error", "distance_to_pstar", "StudentResult",
    "train_student", "Distillation", "distill", "OneStep", "one_step_decomposition",
    "eta_sweep", "EtaSweep", "StopCurve", "targets_vs_stop", "SeedRun", "teacher_runs",
    "VERDICT_SEEDS", "distillation_verdict", "zigzag_verdict", "one_step_verdict",
    "target_ratios", "path_distances",
]

@V.checked
def toy_model(dim: V.PositiveInt = 30, width: V.PositiveInt = 128, depth: V.PositiveInt = 2,
              classes: V.PositiveInt = 3) -> MLP:
    """The toy's MLP ``dim-width-...-classes`` (NTK parametrization, ReLU)."""
    return mlp(dim, width, depth, classes, parametrization="ntk")


# ---------------------------------------------------------------------------
# teacher and learning paths


class TeacherRun(NamedTuple):
    """A teacher trained on one-hot labels.

    Attributes:
      epochs: ``(R,)`` epoch of each record (0 = init).
      paths: ``(R, n, k)`` learning paths ``q_t(x_i)`` of every training point.
      train_acc: ``(R,)`` training accuracy at each record.
      memorized_at: index into ``epochs`` of the first record with 100% training
        accuracy (``None`` if never reached).
      params: final parameters.
    """

    epochs: np.ndarray
    paths: np.ndarray
    train_acc: np.ndarray
    memorized_at: int | None
    params: object


@V.checked
def memorization_epoch(paths: np.ndarray, y: np.ndarray) -> int | None:
    """First record index where ``argmax paths[t] == y`` for all points, else ``None``.

    ``paths``: ``(R, n, k)``; ``y``: ``(n,)``.
    """
    hit = np.flatnonzero(np.all(paths.argmax(-1) == y[None, :], axis=1))
    return int(hit[0]) if hit.size else None


def _per_epoch(toy: Toy, batch_size: int | None) -> int:
    return 1 if batch_size is None else max(1, toy.x.shape[0] // batch_size)


@V.checked
def train_teacher(toy: Toy, model: ModelArg, key: V.Key, *, epochs: V.PositiveInt = 150,
                  lr: V.PositiveFloat = 0.5, batch_size: V.PositiveInt | None = 32,
                  targets: np.ndarray | None = None) -> TeacherRun:
    """Train on ``targets`` (default one-hot labels) with cross-entropy, recording
    ``q_t`` on all training points once per epoch.

    With ``batch_size=None`` an epoch is one full-batch GD step; otherwise it is
    ``n // batch_size`` SGD steps. ``key`` splits into init and batch-order keys.
    """
    kinit, kbatch = jax.random.split(key)
    per_epoch = _per_epoch(toy, batch_size)
    y = toy.onehot if targets is None else targets
    res = train(model.apply, model.init(kinit), toy.x, y, lr=lr, steps=epochs * per_epoch,
                loss="xent", batch_size=batch_size, key=kbatch, record_every=per_epoch,
                record_x=toy.x, progress=False)
    paths = np.asarray(jax.nn.softmax(jnp.asarray(res.outputs), axis=-1))
    acc = np.mean(paths.argmax(-1) == toy.y[None, :], axis=1)
    return TeacherRun(res.steps // per_epoch, paths, acc, memorization_epoch(paths, toy.y),
                      res.params)


@V.checked
def zigzag_score(paths: np.ndarray) -> np.ndarray:
    """Excess path length on the simplex: ``sum_t ||q_{t+1} - q_t|| - ||q_T - q_0||``.

    ``paths``: ``(R, n, k)`` -> ``(n,)``. Zero for a straight path; large when
    a point first travels one way (toward ``p*``) and then turns (to its label).
    """
    steps = np.linalg.norm(np.diff(paths, axis=0), axis=-1).sum(0)
    return steps - np.linalg.norm(paths[-1] - paths[0], axis=-1)


# ---------------------------------------------------------------------------
# targets for distillation


@V.checked
def ema_targets(paths: np.ndarray, rate: Annotated[float, V.Range(0, 1, hi_open=True)],
                start: V.NonNegativeInt = 0) -> np.ndarray:
    """Bias-corrected exponential moving average of ``paths[start:]``.

    ``m_t = rate * m_{t-1} + (1 - rate) * q_t`` from ``m = 0`` at ``start``, and the
    returned ``m_T / (1 - rate**(T - start + 1))`` is a proper weighted average
    (weights sum to one) of the visited ``q_t``: no weight on a zero start, and
    the peaked outputs at init can be skipped with ``start > 0``.
    ``paths``: ``(R, n, k)`` -> ``(n, k)``. ``rate = 0`` gives ``paths[-1]``.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    if not 0 <= start < len(paths):
        raise ValueError(f"start must be in [0, {len(paths) - 1}], got {start!r}")
    seg = paths[start:]
    w = (1 - rate) * rate ** np.arange(len(seg) - 1, -1, -1.0)  # (R',)
    return np.tensordot(w / w.sum(), seg, axes=1)


class Targets(NamedTuple):
    """Three kinds of targets, each ``(n, k)``: one-hot labels, the teacher's
    predictions at ``stop``, and the moving average of its path up to ``stop``."""

    onehot: np.ndarray
    teacher: np.ndarray
    filtered: np.ndarray
    stop: int


@V.checked
def distill_targets(toy: Toy, run: TeacherRun, stop: V.NonNegativeInt | None = None, *,
                    rate: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.98,
                    start: V.NonNegativeInt = 1) -> Targets:
    """Targets from a teacher stopped at record ``stop`` (default: memorization).

    The moving average starts at record ``start`` (default 1: skip the init).
    """
    stop = run.memorized_at if stop is None else int(stop)
    if stop is None:
        raise ValueError("the teacher never reached 100% training accuracy; "
                         "pass stop= or train longer")
    if not 0 <= stop < len(run.epochs):
        raise ValueError(f"stop must be in [0, {len(run.epochs) - 1}], got {stop}")
    start = min(start, stop)
    return Targets(toy.onehot, run.paths[stop],
                   ema_targets(run.paths[:stop + 1], rate, start), stop)


class StopCurve(NamedTuple):
    """Mean L2 distance to ``p*`` of each target kind vs the teacher's stopping
    record: ``stops`` ``(S,)`` record indices, ``epochs`` ``(S,)``, ``teacher`` and
    ``filtered`` ``(S,)``, ``onehot`` a scalar."""

    stops: np.ndarray
    epochs: np.ndarray
    teacher: np.ndarray
    filtered: np.ndarray
    onehot: float


@V.checked
def targets_vs_stop(toy: Toy, run: TeacherRun, stops=None, *,
                    rate: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.98,
                    start: V.NonNegativeInt = 1) -> StopCurve:
    """How far the teacher's and the filtered targets are from ``p*`` when the
    teacher is stopped at each record in ``stops`` (default: every record from 1)."""
    stops = np.arange(1, len(run.epochs)) if stops is None else np.asarray(stops, int)
    d = lambda t: distance_to_pstar(t, toy.pstar)  # noqa: E731
    teacher = np.array([d(run.paths[s]) for s in stops])
    filt = np.array([d(ema_targets(run.paths[:s + 1], rate, min(start, s))) for s in stops])
    return StopCurve(stops, run.epochs[stops], teacher, filt, d(toy.onehot))


@V.checked
def path_distances(toy: Toy, run: TeacherRun, kind: str = "mislabelled") -> tuple[np.ndarray, np.ndarray]:
    """Mean L2 distance of the learning paths of the training points of one ``kind`` to
    their ``p*`` and to their one-hot label, at every record: two ``(R,)`` arrays."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    pick = point_kinds(toy) == kind
    if not pick.any():
        raise ValueError(f"this task has no {kind} training points")
    paths = run.paths[:, pick]  # (R, m, k)
    return (np.linalg.norm(paths - toy.pstar[pick], axis=-1).mean(1),
            np.linalg.norm(paths - toy.onehot[pick], axis=-1).mean(1))


# ---------------------------------------------------------------------------
# students


class StudentResult(NamedTuple):
    """One student: test accuracy, test ECE, mean L2 distance of its test
    predictions to ``p*``, and the L2 distance of its training targets to ``p*``."""

    accuracy: float
    ece: float
    pred_to_pstar: float
    target_to_pstar: float


@V.checked
def train_student(toy: Toy, model: ModelArg, targets: np.ndarray, key: V.Key, *,
                  epochs: V.PositiveInt = 100, lr: V.PositiveFloat = 0.5,
                  batch_size: V.PositiveInt | None = 32) -> StudentResult:
    """Train on ``targets`` ``(n, k)`` like the teacher; evaluate on the test set.

    ``key`` splits into init and batch-order keys exactly as in :func:`train_teacher`,
    so students given the same key differ only in their targets.
    """
    kinit, kbatch = jax.random.split(key)
    per_epoch = _per_epoch(toy, batch_size)
    res = train(model.apply, model.init(kinit), toy.x, targets, lr=lr,
                steps=epochs * per_epoch, loss="xent", batch_size=batch_size, key=kbatch,
                record_every=epochs * per_epoch, progress=False)
    probs = np.asarray(jax.nn.softmax(model.apply(res.params, jnp.asarray(toy.x_test)), -1))
    return StudentResult(float(np.mean(probs.argmax(-1) == toy.y_test)),
                         expected_calibration_error(probs, toy.y_test),
                         distance_to_pstar(probs, toy.pstar_test),
                         distance_to_pstar(targets, toy.pstar))


class Distillation(NamedTuple):
    """Targets and the three students trained on them (same init key)."""

    targets: Targets
    onehot: StudentResult
    teacher: StudentResult
    filtered: StudentResult


@V.checked
def distill(toy: Toy, model: ModelArg, run: TeacherRun, key: V.Key, *, stop: V.NonNegativeInt | None = None,
            rate: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.98, student_epochs: V.PositiveInt = 100,
            lr: V.PositiveFloat = 0.5, batch_size: V.PositiveInt | None = 32) -> Distillation:
    """Targets from ``run`` stopped at ``stop`` and one student per target kind."""
    t = distill_targets(toy, run, stop, rate=rate)
    fit = functools.partial(train_student, toy, model, key=key, epochs=student_epochs,
                            lr=lr, batch_size=batch_size)
    return Distillation(t, fit(t.onehot), fit(t.teacher), fit(t.filtered))


# ---------------------------------------------------------------------------
# one-step eNTK decomposition


class OneStep(NamedTuple):
    """Both sides of the one-step decomposition on test inputs ``x~`` ``(m, d)``.

    Attributes:
      real: ``(m, k)`` ``q_{t+1}(x~) - q_t(x~)`` after one GD step.
      predicted: ``(m, k)`` ``eta/|B| A_t(x~) sum_i eNTK(x~, x_i)(p_tar_i - q_t(x_i))``.
      per_point: ``(m, |B|, k)`` the summands (one arrow per training point).
      q: ``(m, k)`` ``q_t(x~)``.
    """

    real: np.ndarray
    predicted: np.ndarray
    per_point: np.ndarray
    q: np.ndarray


@V.checked
def one_step_decomposition(model: ModelArg, params: ParamsArg, x_batch: InputsArg, p_tar,
                           x_tilde: V.FiniteArray, eta: V.PositiveFloat) -> OneStep:
    """Compare a real GD step on ``mean xent(f(x_batch), p_tar)`` with its eNTK prediction.

    ``x_batch``: ``(b, d)``; ``p_tar``: ``(b, k)``; ``x_tilde``: ``(m, d)``.
    """
    x_batch, p_tar, x_tilde = (jnp.asarray(a) for a in (x_batch, p_tar, x_tilde))
    if x_batch.shape[0] != p_tar.shape[0]:
        raise ValueError(f"x_batch {x_batch.shape} and p_tar {p_tar.shape} differ in n")
    out = _one_step_jit(model, params, x_batch, p_tar, x_tilde, eta)
    return OneStep(*(np.asarray(v) for v in out))


@jax.jit
def _one_step_jit(model, params, x_batch, p_tar, x_tilde, eta):
    g = jax.grad(lambda p: xent(model.apply(p, x_batch), p_tar))(params)
    new = jax.tree.map(lambda w, gw: w - eta * gw, params, g)
    q0 = jax.nn.softmax(model.apply(params, x_tilde), -1)  # (m, k)
    real = jax.nn.softmax(model.apply(new, x_tilde), -1) - q0
    resid = p_tar - jax.nn.softmax(model.apply(params, x_batch), -1)  # (b, k)
    ntk = mlp_ntk(model)(x_tilde, x_batch, params)  # (m, b, k, k)
    a = jax.vmap(jnp.diag)(q0) - q0[:, :, None] * q0[:, None, :]  # (m, k, k)
    df = jnp.einsum("mbce,be->mbc", ntk, resid) * (eta / x_batch.shape[0])
    per = jnp.einsum("mcd,mbd->mbc", a, df)  # (m, b, k)
    return real, per.sum(1), per, q0


class EtaSweep(NamedTuple):
    """Agreement of the decomposition vs step size: ``etas`` ``(E,)``, summed
    residual ``sum_m ||real - predicted||`` ``(E,)``, and cosine ``(E,)`` between the
    flattened real and predicted changes."""

    etas: np.ndarray
    residual: np.ndarray
    cosine: np.ndarray


@V.checked
def eta_sweep(model: ModelArg, params: ParamsArg, x_batch: InputsArg, p_tar,
              x_tilde: V.FiniteArray, etas: Sequence[float]) -> EtaSweep:
    """:func:`one_step_decomposition` at each ``eta``; see :class:`EtaSweep`."""
    res, cos = [], []
    for eta in etas:
        s = one_step_decomposition(model, params, x_batch, p_tar, x_tilde, float(eta))
        res.append(np.linalg.norm(s.real - s.predicted, axis=-1).sum())
        r, p = s.real.ravel(), s.predicted.ravel()
        cos.append(r @ p / (np.linalg.norm(r) * np.linalg.norm(p)))
    return EtaSweep(np.asarray(etas, float), np.array(res), np.array(cos))


# ---------------------------------------------------------------------------
# verdicts: notebook 05 and the tour call these same functions

VERDICT_SEEDS = 10
"""Teachers behind the distillation verdicts: task ``s`` and teacher ``s`` for seeds
``seed .. seed + VERDICT_SEEDS - 1`` (each draws its own class means, so the label noise
differs from task to task; see :func:`teacher_runs`)."""


class SeedRun(NamedTuple):
    """One seed: its toy task, the teacher trained on it, and the key for its students."""

    toy: Toy
    run: TeacherRun
    student_key: jax.Array


@V.checked
def teacher_runs(seed: V.NonNegativeInt = 0, seeds: V.PositiveInt = VERDICT_SEEDS, *,
                 epochs: V.PositiveInt = 200, noise: V.PositiveFloat = 4.0,
                 n_train: V.PositiveInt = 600) -> list[SeedRun]:
    """Toy and teacher for seeds ``seed .. seed + seeds - 1``: ``jax.random.key(s)`` splits
    into the task, teacher and student keys (as in ``tests/test_zigzag.py``)."""
    model = toy_model()
    out = []
    for s in range(seed, seed + seeds):
        k_toy, k_teacher, k_student = jax.random.split(jax.random.key(s), 3)
        toy = make_toy(k_toy, n_train=n_train, noise=noise)
        out.append(SeedRun(toy, train_teacher(toy, model, k_teacher, epochs=epochs), k_student))
    return out


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    """95% Student-t interval of the mean of ``values`` ``(S,)``, S >= 2."""
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return float(values.mean()) - half, float(values.mean()) + half


def _unmemorized(runs: Sequence[SeedRun]) -> list[int]:
    return [i for i, r in enumerate(runs) if r.run.memorized_at is None]


@V.checked
def target_ratios(runs: Sequence[SeedRun], *,
                  rate: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.98) -> np.ndarray:
    """Per seed, ``(3, S)``: mean distance to ``p*`` of the one-hot labels, the teacher's
    predictions at memorization and the filtered targets (teacher stopped there)."""
    out = []
    for r in runs:
        t = distill_targets(r.toy, r.run, rate=rate)
        out.append([distance_to_pstar(getattr(t, k), r.toy.pstar)
                    for k in ("onehot", "teacher", "filtered")])
    return np.array(out).T


def _seeds_text(runs: Sequence[SeedRun]) -> str:
    return f"{len(runs)} tasks and teachers"


@V.checked
def distillation_verdict(seed: V.NonNegativeInt = 0, epochs: V.PositiveInt = 200,
                         seeds: V.PositiveInt = VERDICT_SEEDS, runs: Sequence[SeedRun] | None = None, *,
                         rate: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.98) -> Verdict:
    """Filtered (moving-average) targets vs the teacher's predictions, both taken when the
    teacher first fits every training label: ratio of their mean L2 distances to ``p*``,
    averaged over ``seeds`` independent tasks and teachers, with its 95% t-interval.

    ``runs`` (from :func:`teacher_runs`) skips the training; otherwise seeds
    ``seed .. seed + seeds - 1`` are trained for ``epochs`` epochs.
    """
    runs = teacher_runs(seed, seeds, epochs=epochs) if runs is None else list(runs)
    what = "mean over teachers of (distance to p* of filtered targets) / (of the teacher's predictions)"
    if len(runs) < 2 or _unmemorized(runs):
        return judge("filtered_distillation", math.nan, (math.nan, math.nan), measured_what=what,
                     interval_what="no interval",
                     detail=f"needs >= 2 teachers that fit all their labels; seeds "
                            f"{_unmemorized(runs)} never did: train longer")
    onehot, teacher, filtered = target_ratios(runs, rate=rate)
    ratio = filtered / teacher
    return judge("filtered_distillation", float(ratio.mean()), _t_interval(ratio),
                 measured_what=what, interval_what=f"95% t-interval over {_seeds_text(runs)}",
                 detail=f"per-teacher ratios {np.array2string(ratio, precision=2, separator=', ')}; "
                        f"mean distances: one-hot {onehot.mean():.3f}, teacher {teacher.mean():.3f}, "
                        f"filtered {filtered.mean():.3f}")


@V.checked
def zigzag_verdict(runs: Sequence[SeedRun]) -> Verdict:
    """AUC of the zig-zag score (up to memorization), mislabelled vs easy points, per
    teacher; the verdict rests on the lowest and highest teacher's AUC."""
    what = "AUC of the zig-zag score, mislabelled vs easy training points (mean over teachers)"
    if len(runs) < 2 or _unmemorized(runs):
        return judge("zigzag_flags_noise", math.nan, (math.nan, math.nan), measured_what=what,
                     interval_what="no interval", detail="needs >= 2 teachers that fit all labels")
    aucs = []
    for r in runs:
        kinds = point_kinds(r.toy)
        score = zigzag_score(r.run.paths[:r.run.memorized_at + 1])
        aucs.append(auc(score[kinds == "mislabelled"], score[kinds == "easy"]))
    aucs = np.array(aucs)
    return judge("zigzag_flags_noise", float(aucs.mean()), (float(aucs.min()), float(aucs.max())),
                 measured_what=what, interval_what=f"range over {_seeds_text(runs)}",
                 detail=f"per-teacher AUC {np.array2string(aucs, precision=3, separator=', ')}")


@V.checked
def one_step_verdict(sweep: EtaSweep) -> Verdict:
    """Slope of log(residual of the one-step eNTK prediction) against log(eta): 2 when
    the prediction is right to first order."""
    fit = fit_loglog(sweep.etas, sweep.residual)
    return judge("entk_one_step", fit.slope, fit.ci95,
                 measured_what="log-log slope of sum ||real - eNTK-predicted change of q|| vs eta "
                               f"({sweep.etas.min():.2g}-{sweep.etas.max():.2g})",
                 interval_what=f"95% CI of the fit over {sweep.etas.size} step sizes",
                 detail=f"smallest cosine(real, predicted) {float(sweep.cosine.min()):.6f}")
