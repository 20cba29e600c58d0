"""How to prepare a task head for fine-tuning: energy, direction, feature change.

After Ren, Guo, Bae and Sutherland, "How to prepare your task head for
finetuning" (ICLR 2023). A backbone ``z = f(x; theta)`` (here the last hidden
layer of an MLP pretrained on a source task) gets a fresh head
``q(x) = softmax(g(z; v))`` for a target task. Head probing (HP) trains ``v``
alone for ``tau`` steps; fine-tuning (FT) then trains ``(theta, v)`` together.

With cross-entropy and ``n`` target points, one FT step of size ``eta`` moves
the features, to first order, by::

    dz(x) = -eta / n * sum_x' Theta_z(x, x') @ G(x').T @ (q(x') - e_y')
            (dz,)           (dz, dz) eNTK    (dz, k) direction   (k,) energy

where ``Theta_z = J_theta f(x) J_theta f(x').T`` is the backbone's eNTK,
``G = d g / d z`` the head's Jacobian (the *direction*) and ``e_y - q`` the
*energy* vector. The scalar energy reported here is
``E = mean_x ||e_y - q_0(x)||_2`` at the start of FT, measured against the hard
FT labels (HP may use label-smoothed targets, which keeps ``E`` away from 0).
Longer HP lowers ``E``; less energy usually means a smaller feature change.

Results are NamedTuples or frozen dataclasses. Randomness only via explicit
``jax.random`` keys.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core import validation as V
from ..core.datasets import DigitsTransfer, digits_transfer
from ..core.metrics import fit_loglog, linear_cka, relative_frobenius, relative_norm, spearman
from ..core.models import MLP, InputsArg, ModelArg, mlp
from ..core.training import full_loss, gd_segment, train, xent
from ..core.verdicts import Verdict, judge

__all__ = [
    "DigitsTransfer", "digits_transfer", "Head", "head", "Pretrained", "pretrain_backbone",
    "backbone_features", "smooth_labels", "head_probe", "FTStart", "ft_start", "FirstStep",
    "first_step", "FTOutcome", "finetune", "TauSweep", "tau_sweep", "spearman",
    "residual_ratios", "TAUS", "Probed", "probe_heads", "first_step_residuals",
    "head_probing_verdict", "first_step_verdict", "TOUR_SWEEP",
]

TAUS = (0, 10, 30, 100, 300, 1000, 3000)

@V.checked
def smooth_labels(y: jax.Array, smoothing: Annotated[float, V.Range(0, 1, hi_open=True)]) -> jax.Array:
    """``(1 - s) * y + s / k`` for one-hot ``y`` ``(n, k)``."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing!r}")
    return (1.0 - smoothing) * y + smoothing / y.shape[1]

# ---------------------------------------------------------------------------
# backbone and heads


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Head:
    """A task head ``g(z)``: ``'linear'`` (``z W^T + b``) or ``'mlp'`` (one tanh
    hidden layer of ``hidden`` units). ``z`` ``(n, in_dim)`` -> logits ``(n, out_dim)``.
    Frozen and hashable, and a static pytree: compiled code is shared per head."""

    kind: str
    in_dim: int
    out_dim: int
    hidden: int = 128

    @property
    def net(self) -> MLP:
        return mlp(self.in_dim, self.hidden, 1, self.out_dim, activation="tanh",
                   parametrization="ntk", base_width=self.hidden, sigma_w=1.0)

    def init(self, key: jax.Array, dtype=None):
        """Fresh head parameters (a pytree)."""
        if self.kind == "mlp":
            return self.net.init(key, dtype)
        dtype = jnp.zeros(()).dtype if dtype is None else dtype
        w = jax.random.normal(key, (self.out_dim, self.in_dim), dtype) / math.sqrt(self.in_dim)
        return {"w": w, "b": jnp.zeros((self.out_dim,), dtype)}

    def apply(self, params, z: jax.Array) -> jax.Array:
        """Logits ``(n, out_dim)`` from features ``z`` ``(n, in_dim)``."""
        if self.kind == "mlp":
            return self.net.apply(params, z)
        return z @ params["w"].T + params["b"][None, :]


@V.checked
def head(kind: str, in_dim: V.PositiveInt, out_dim: V.PositiveInt, hidden: V.PositiveInt = 128) -> Head:
    """Describe a head; ``kind`` is ``'linear'`` or ``'mlp'``."""
    if kind not in ("linear", "mlp"):
        raise ValueError(f"unknown head {kind!r}; choose 'linear' or 'mlp'")
    return Head(kind, int(in_dim), int(out_dim), int(hidden))


class Pretrained(NamedTuple):
    """A pretrained backbone: ``model`` (the MLP incl. its temporary source head),
    ``params`` (backbone layers only, the source head dropped), ``source_acc``."""

    model: MLP
    params: list
    source_acc: float


@V.checked
def backbone_features(model: ModelArg, bparams, x: InputsArg) -> jax.Array:
    """Last hidden layer ``z`` ``(n, width)`` of ``model`` for backbone params
    ``bparams`` (``model.depth`` layers, no output layer), ``x`` ``(n, d)``."""
    if len(bparams) != model.depth:
        raise ValueError(f"expected {model.depth} backbone layers, got {len(bparams)}")
    dummy = {"w": jnp.zeros((1, model.width), x.dtype), "b": jnp.zeros((1,), x.dtype)}
    return model.features(list(bparams) + [dummy], x)[1][-1]


@V.checked
def pretrain_backbone(data: DigitsTransfer, *, key: V.Key, width: V.PositiveInt = 128,
                      depth: V.PositiveInt = 2, activation: str = "tanh", lr: V.PositiveFloat = 0.5,
                      steps: V.NonNegativeInt = 1000) -> Pretrained:
    """Train an MLP ``d -> width^depth -> ks`` on the source task (full-batch GD,
    cross-entropy) and keep its hidden layers as the backbone."""
    d, ks = data.x_source.shape[1], data.y_source.shape[1]
    model = mlp(d, width, depth, ks, activation=activation, parametrization="ntk",
                base_width=width, sigma_w=1.0 if activation == "tanh" else math.sqrt(2.0))
    params = model.init(key, data.x_source.dtype)
    res = train(model.apply, params, data.x_source, data.y_source, lr=lr, steps=steps,
                loss="xent", progress=False, record_every=steps)
    pred = jnp.argmax(model.apply(res.params, data.x_source), axis=1)
    acc = float(jnp.mean(pred == jnp.argmax(data.y_source, axis=1)))
    return Pretrained(model, list(res.params[:-1]), acc)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Finetuned:
    """Backbone ``model`` (traced) with head ``hd`` (static) as one model for the core:
    ``apply((bparams, hparams), x) -> logits``."""

    model: MLP
    hd: Head = dataclasses.field(metadata=dict(static=True))

    def apply(self, params, x):
        return self.hd.apply(params[1], backbone_features(self.model, params[0], x))


# ---------------------------------------------------------------------------
# head probing and the start of fine-tuning


@V.checked
def head_probe(hd: Head, hparams, z: jax.Array, y: jax.Array, taus: V.NonNegativeInts, *,
               lr: V.PositiveFloat = 0.5) -> list:
    """Train the head alone on frozen features ``z`` ``(n, dz)`` with targets ``y``
    ``(n, k)`` (possibly smoothed) by full-batch GD; return its params after each
    ``tau`` in ``taus`` (sorted, non-negative), in that order. One compiled call per
    head and number of taus (the steps between taus are traced)."""
    taus = [int(t) for t in taus]
    if taus != sorted(taus) or taus[0] < 0:
        raise ValueError(f"taus must be sorted and non-negative, got {taus}")
    out, lr = [], jnp.asarray(lr, z.dtype)
    for count in np.diff([0] + taus):  # the core's GD segment, resumed tau after tau
        hparams = gd_segment(hd, hparams, z, y, lr, int(count), loss="xent")
        out.append(hparams)
    return out


class FTStart(NamedTuple):
    """State at the start of FT on ``n`` target points.

    ``energy`` scalar ``mean_x ||e_y - q_0(x)||``; ``energy_vec`` ``(n, k)``
    ``e_y - q_0(x)``; ``direction`` ``(n, k, dz)`` head Jacobian ``d g / d z``;
    ``feature_grad`` ``(n, dz)`` ``dL/dz = -(1/n) G^T (e_y - q)``.
    """

    energy: float
    energy_vec: jax.Array
    direction: jax.Array
    feature_grad: jax.Array


@V.checked
def ft_start(hd: Head, hparams, z: jax.Array, y: jax.Array) -> FTStart:
    """Energy and direction of ``hd`` at features ``z`` ``(n, dz)``, one-hot ``y`` ``(n, k)``."""
    if z.ndim != 2 or y.ndim != 2 or z.shape[0] != y.shape[0]:
        raise ValueError(f"z must be (n, dz) and y (n, k), got {z.shape} and {y.shape}")
    energy, e, direction, grad_z = _ft_start_jit(hd, hparams, z, y)
    return FTStart(float(energy), e, direction, grad_z)


def _ft_start_arrays(hd: Head, hparams, z, y):
    q = jax.nn.softmax(hd.apply(hparams, z), axis=-1)
    e = y - q  # (n, k)
    one = lambda zi: hd.apply(hparams, zi[None, :])[0]  # noqa: E731  (dz,) -> (k,)
    direction = jax.vmap(jax.jacrev(one))(z)  # (n, k, dz)
    grad_z = -jnp.einsum("nkd,nk->nd", direction, e) / z.shape[0]
    return jnp.mean(jnp.linalg.norm(e, axis=1)), e, direction, grad_z


_ft_start_jit = jax.jit(_ft_start_arrays)  # heads are static pytrees


@jax.jit
def _energy(hd: Head, hparams, z, y):
    """``FTStart.energy`` alone: ``mean_x ||y - softmax(g(z))||``."""
    return jnp.mean(jnp.linalg.norm(y - jax.nn.softmax(hd.apply(hparams, z), axis=-1), axis=1))


class FirstStep(NamedTuple):
    """First FT step's feature change on the ``n`` training points.

    ``actual`` ``(n, dz)``: ``z(theta - eta dL/dtheta) - z(theta)``;
    ``predicted`` ``(n, dz)``: ``-eta Theta_z . dL/dz`` (eNTK x direction x
    energy); ``residual``: ``||actual - predicted||_F / ||actual||_F``; ``start``:
    the :class:`FTStart` it was built from.
    """

    eta: float
    actual: jax.Array
    predicted: jax.Array
    residual: float
    start: FTStart


@V.checked
def first_step(model: ModelArg, bparams, hd: Head, hparams, x: InputsArg, y: jax.Array,
               eta: V.PositiveFloat) -> FirstStep:
    """Decompose one FT step of size ``eta`` (cross-entropy on ``x`` ``(n, d)``,
    one-hot ``y`` ``(n, k)``) and compare it with the real step (one compiled call)."""
    actual, predicted, res, (energy, e, direction, grad_z) = _first_step_jit(
        model, hd, bparams, hparams, x, y, eta)
    return FirstStep(float(eta), actual, predicted, float(res),
                     FTStart(float(energy), e, direction, grad_z))


def _first_step_arrays(model: MLP, hd: Head, bparams, hparams, x, y, eta):
    fz = lambda bp: backbone_features(model, bp, x)  # noqa: E731
    z, pullback = jax.vjp(fz, bparams)
    start = _ft_start_arrays(hd, hparams, z, y)
    tangent = pullback(start[3])[0]  # J^T dL/dz, the backbone gradient
    predicted = -eta * jax.jvp(fz, (bparams,), (tangent,))[1]  # -eta J J^T dL/dz
    loss = lambda bp: xent(hd.apply(hparams, fz(bp)), y)  # noqa: E731
    grads = jax.grad(loss)(bparams)
    actual = fz(jax.tree.map(lambda p, g: p - eta * g, bparams, grads)) - z
    res = relative_norm(predicted, actual)
    return actual, predicted, res, start


_first_step_jit = jax.jit(_first_step_arrays)  # the backbone model is traced


@V.checked
def first_step_residuals(model: ModelArg, bparams, hd: Head, hparams, x: InputsArg, y, etas) -> np.ndarray:
    """``||actual - predicted||_F`` of :func:`first_step` at each of ``etas`` ``(E,)`` -> ``(E,)``."""
    return np.array([float(jnp.linalg.norm(s.actual - s.predicted))
                     for s in (first_step(model, bparams, hd, hparams, x, y, e) for e in etas)])


@V.checked
def residual_ratios(model: ModelArg, bparams, hd: Head, hparams, x: InputsArg, y, etas) -> np.ndarray:
    """``||actual - predicted||`` ratios between consecutive ``etas`` (halvings -> ~4)."""
    res = first_step_residuals(model, bparams, hd, hparams, x, y, etas)
    return res[:-1] / res[1:]


# ---------------------------------------------------------------------------
# fine-tuning and the tau sweep


class FTOutcome(NamedTuple):
    """After FT: ``feature_change`` ``||z_T - z_0||_F / ||z_0||_F`` and ``cka``
    (linear CKA of ``z_T`` to ``z_0``) on the target training inputs;
    ``accuracy`` on the target test set; ``diverged`` whether FT blew up."""

    feature_change: float
    cka: float
    accuracy: float
    diverged: bool


def _ft_record(net: _Finetuned, params, params0, x, y, x_test):
    """``(loss0, loss, z_0, z_T, test predictions)``: what :func:`finetune` measures."""
    return (full_loss(net, params0, x, y, loss="xent"), full_loss(net, params, x, y, loss="xent"),
            backbone_features(net.model, params0[0], x), backbone_features(net.model, params[0], x),
            jnp.argmax(net.apply(params, x_test), axis=1))


@V.checked
def finetune(pre: Pretrained, hd: Head, hparams, data: DigitsTransfer, *, lr: V.PositiveFloat,
             steps: V.NonNegativeInt, divergence_factor: V.PositiveFloat = 1e4) -> FTOutcome:
    """Train backbone and head together (full-batch GD, hard labels, cross-entropy).

    One call of the core's GD segment per run, compiled once per head and backbone
    architecture (``lr`` and ``steps`` are traced); the run counts as diverged, as in
    :func:`~ntk_explore.core.training.train`, when the final loss is not finite or
    above ``divergence_factor`` times the initial loss.
    """
    params0 = (pre.params, hparams)
    _, (loss0, loss, z0, zt, pred) = gd_segment(
        _Finetuned(pre.model, hd), params0, data.x_train, data.y_train,
        jnp.asarray(lr, data.x_train.dtype), jnp.asarray(steps, jnp.int32), loss="xent",
        record=_ft_record, record_args=(params0, data.x_train, data.y_train, data.x_test))
    loss0, loss = float(loss0), float(loss)
    if not math.isfinite(loss) or loss > divergence_factor * max(loss0, 1e-8):
        return FTOutcome(math.nan, math.nan, math.nan, True)
    z0, zt = np.asarray(z0), np.asarray(zt)
    return FTOutcome(relative_frobenius(zt, z0), linear_cka(zt, z0),
                     float(np.mean(np.asarray(pred) == data.labels_test)), False)


@dataclasses.dataclass(frozen=True)
class TauSweep:
    """Per-seed results over the HP-step grid: arrays of shape ``(seeds, len(taus))``."""

    taus: np.ndarray
    energy: np.ndarray
    feature_change: np.ndarray
    cka: np.ndarray
    accuracy: np.ndarray
    head: str
    smoothing: float
    ft_lr: float
    ft_steps: int
    diverged: np.ndarray | None = None
    """``(seeds, len(taus))`` bool: FT runs that diverged (their entries above are NaN and
    are left out of :meth:`mean` and :meth:`sem`); ``None`` means none did."""

    @property
    def n_diverged(self) -> np.ndarray:
        """Diverged FT runs per tau, ``(len(taus),)`` ints."""
        if self.diverged is None:
            return np.zeros(len(self.taus), int)
        return np.asarray(self.diverged, bool).sum(0)

    def mean(self, name: str) -> np.ndarray:
        """Seed mean ``(len(taus),)`` of ``energy``/``feature_change``/``cka``/``accuracy``
        over the runs that did not diverge (NaN where every seed diverged)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a tau where every run diverged
            return np.nanmean(getattr(self, name), axis=0)

    def sem(self, name: str) -> np.ndarray:
        """Standard error of the seed mean, ``(len(taus),)`` (NaN with under 2 finite runs)."""
        a = getattr(self, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanstd(a, axis=0, ddof=1) / np.sqrt(np.sum(np.isfinite(a), axis=0))

    def spearman(self) -> float:
        """Spearman correlation over tau of seed-mean energy and feature change."""
        return spearman(self.mean("energy"), self.mean("feature_change"))

    def per_seed_spearman(self) -> np.ndarray:
        """``(seeds,)`` Spearman correlation over tau of each seed's energy and feature
        change (NaN for a seed with a diverged run)."""
        return np.array([spearman(e, f) for e, f in zip(self.energy, self.feature_change)])


class Probed(NamedTuple):
    """Heads after head probing, per seed and tau: ``heads[s][i]`` after ``taus[i]`` HP
    steps from seed ``s``'s fresh head, and ``energy`` ``(seeds, len(taus))`` at the
    start of FT (against the hard labels)."""

    taus: tuple
    heads: list
    energy: np.ndarray


@V.checked
def probe_heads(pre: Pretrained, data: DigitsTransfer, *, key: V.Key, head_kind: str,
                taus: V.NonNegativeInts = TAUS, seeds: V.PositiveInt = 5,
                smoothing: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.0,
                hp_lr: V.PositiveFloat = 0.5) -> Probed:
    """HP for every tau from ``seeds`` fresh heads (seed ``s`` from ``fold_in(key, s)``),
    with targets smoothed by ``smoothing``. Independent of the FT settings, so one
    :class:`Probed` serves tau sweeps at any FT learning rate (and fewer seeds)."""
    hd = head(head_kind, pre.model.width, data.y_train.shape[1])
    z = backbone_features(pre.model, pre.params, data.x_train)  # (n, dz)
    y_hp = smooth_labels(data.y_train, smoothing)
    heads, energy = [], []
    for s in range(seeds):
        probes = head_probe(hd, hd.init(jax.random.fold_in(key, s), z.dtype), z, y_hp, taus,
                            lr=hp_lr)
        heads.append(probes)
        energy.append([float(_energy(hd, hp, z, data.y_train)) for hp in probes])
    return Probed(tuple(int(t) for t in taus), heads, np.array(energy))


@V.checked
def tau_sweep(pre: Pretrained, data: DigitsTransfer, *, key: V.Key, taus: V.NonNegativeInts = TAUS,
              seeds: V.PositiveInt = 5, head_kind: str = "linear",
              smoothing: Annotated[float, V.Range(0, 1, hi_open=True)] = 0.0, hp_lr: V.PositiveFloat = 0.5,
              ft_lr: V.PositiveFloat = 0.05, ft_steps: V.NonNegativeInt = 300,
              probed: Probed | None = None) -> TauSweep:
    """HP for each ``tau`` then FT, over ``seeds`` fresh heads (keys folded from ``key``).

    ``probed``: the heads of :func:`probe_heads` for the same ``key``, ``head_kind``,
    ``taus``, ``smoothing`` and ``hp_lr`` with at least ``seeds`` seeds, to skip HP.
    """
    if seeds < 2:
        raise ValueError(f"seeds must be >= 2 for standard errors, got {seeds}")
    if probed is None:
        probed = probe_heads(pre, data, key=key, head_kind=head_kind, taus=taus, seeds=seeds,
                             smoothing=smoothing, hp_lr=hp_lr)
    elif probed.taus != tuple(int(t) for t in taus) or len(probed.heads) < seeds:
        raise ValueError(f"probed heads are for taus {probed.taus} and {len(probed.heads)} "
                         f"seeds, need {tuple(taus)} and {seeds}")
    hd = head(head_kind, pre.model.width, data.y_train.shape[1])
    runs = np.array([[finetune(pre, hd, hp, data, lr=ft_lr, steps=ft_steps)
                      for hp in probed.heads[s]] for s in range(seeds)], float)  # (S, T, 4)
    diverged = runs[..., 3].astype(bool)
    if diverged.any():
        warnings.warn(f"fine-tuning diverged at lr={ft_lr} in {int(diverged.sum())} of "
                      f"{diverged.size} runs; they are left out of the means and standard "
                      "errors", stacklevel=2)
    return TauSweep(np.asarray(taus), probed.energy[:seeds], *(runs[..., i] for i in range(3)),
                    head=head_kind, smoothing=float(smoothing), ft_lr=float(ft_lr),
                    ft_steps=int(ft_steps), diverged=diverged)


# ---------------------------------------------------------------------------
# verdicts: notebook 06 and the tour call these same functions

TOUR_SWEEP = dict(n_train=200, pretrain_steps=400, taus=(0, 30, 300, 3000), seeds=3, ft_lr=0.5,
                  ft_steps=200)
"""The small setting :func:`head_probing_verdict` runs when given no sweep (the tour's)."""


def _tour_sweep(seed: int) -> TauSweep:
    t = TOUR_SWEEP
    data = digits_transfer(n_train=t["n_train"])
    pre = pretrain_backbone(data, key=jax.random.key(seed), steps=t["pretrain_steps"])
    return tau_sweep(pre, data, key=jax.random.key(seed + 1), taus=t["taus"], seeds=t["seeds"],
                     ft_lr=t["ft_lr"], ft_steps=t["ft_steps"])


@V.checked
def head_probing_verdict(sweep: TauSweep | None = None, *, seed: V.NonNegativeInt = 0) -> Verdict:
    """Does a longer head probing (less energy) mean less feature change in fine-tuning?

    Measured: Spearman correlation over the probing lengths of the seed-mean energy and
    the seed-mean feature change; the verdict rests on the lowest and highest per-seed
    correlation (every seed must order them), and requires the energy to fall with tau.
    ``sweep=None`` runs :data:`TOUR_SWEEP` from ``seed``.
    """
    sweep = _tour_sweep(seed) if sweep is None else sweep
    per_seed = sweep.per_seed_spearman()
    energy, change = sweep.mean("energy"), sweep.mean("feature_change")
    taus = sweep.taus
    return judge("head_probing", sweep.spearman(), (float(np.min(per_seed)), float(np.max(per_seed))),
                 measured_what=f"Spearman correlation over {len(taus)} probing lengths "
                               f"({taus[0]}-{taus[-1]} steps) of seed-mean energy and feature "
                               f"change, FT lr {sweep.ft_lr:g}",
                 interval_what=f"range of the per-seed correlations ({len(per_seed)} seeds)",
                 extra=bool(np.all(np.diff(energy) < 0)),
                 detail=f"energy {energy[0]:.3f} -> {energy[-1]:.3f}, feature change "
                        f"{change[0]:.3f} -> {change[-1]:.3f}; {int(sweep.n_diverged.sum())} "
                        "diverged runs")


@V.checked
def first_step_verdict(etas: Sequence[float], residuals: Sequence[float]) -> Verdict:
    """Slope of log ``||real - predicted||`` of the first FT step's feature change
    (:func:`first_step_residuals`) against log eta: 2 when eNTK x direction x energy is
    right to first order."""
    etas, residuals = np.asarray(etas, float), np.asarray(residuals, float)
    fit = fit_loglog(etas, residuals)
    return judge("feature_step_entk", fit.slope, fit.ci95,
                 measured_what="log-log slope of ||real - predicted first-step feature change||_F "
                               f"vs eta ({etas.min():.2g}-{etas.max():.2g})",
                 interval_what=f"95% CI of the fit over {etas.size} step sizes",
                 detail="residual " + ", ".join(f"{r:.2g}" for r in residuals))
