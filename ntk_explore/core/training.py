"""Full-batch gradient descent and minibatch SGD that record what figures need.

Losses (``y`` is ``(n, k)``; optional ``mask`` ``(n,)`` row weights, ``out_mask``
``(k,)`` output weights):

* ``'mse'``:  ``1 / (2 n) * sum ||f(x_i) - y_i||**2`` (see :mod:`.linearized`);
* ``'xent'``: mean softmax cross-entropy with ``y`` as target probabilities;

with a row mask, ``n`` is the number of rows that count (padded rows add nothing).

The engine is :func:`gd_segment`: one jitted ``lax.fori_loop`` of full-batch GD or
minibatch SGD steps whose learning rate and step count are traced, and whose model
(an :class:`~ntk_explore.core.models.MLP`, traced, or any static pytree with an
``apply``) compiles once per architecture. A segment resumes from any parameters
(SGD minibatches depend only on the global step index), can end with a record
computed in the same call, and takes a row mask for padded training sets. Every
training loop of the package is this one: :func:`train` (records every few steps),
:func:`gd_checkpoints` (resumable GD with checkpoints, padding, centring) and the
topics' fast paths.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import validation as V
from .models import apply_jit

__all__ = ["TrainedNet", "train_early_stopped", "DivergenceError", "DIVERGENCE_FACTOR", "diverged",
           "divergence_error", "check_stable_rate", "TrainResult", "train", "loss_fn", "LOSSES", "mse",
           "xent", "gd_segment", "record_points", "full_loss", "gd_checkpoints", "precompile_gd",
           "ApplyFn", "as_model"]


class DivergenceError(RuntimeError):
    """Training (or a closed-form schedule) blew up from finite data: the loss became
    NaN/inf or exploded. NaN or inf in the inputs themselves is bad data and raises
    ``ValueError`` naming the argument instead."""


DIVERGENCE_FACTOR = 1e4
"""A loss above this many times its starting value (or not finite) means training diverged."""


def diverged(value: float, loss0: float, factor: float = DIVERGENCE_FACTOR) -> bool:
    """The one divergence rule: ``value`` is not finite or above ``factor * max(loss0, 1e-8)``."""
    return not math.isfinite(value) or value > factor * max(loss0, 1e-8)


def divergence_error(step: int, lr: float, value: float,
                     factor: float = DIVERGENCE_FACTOR) -> DivergenceError:
    """The error :func:`train` raises when :func:`diverged` says so at ``step``."""
    return DivergenceError(
        f"training diverged at step {step} (lr={lr:g}): loss {value:.3g} is not finite or "
        f"above {factor:g}x the initial loss; lower the learning rate")


def check_stable_rate(lr: float, rate_max: float) -> None:
    """Gradient descent on a quadratic with largest curvature ``rate_max`` is stable only for
    ``lr * rate_max <= 2``: raise :class:`DivergenceError` naming the limit otherwise."""
    if rate_max * lr > 2.0:
        raise DivergenceError(
            f"learning rate {lr:g} diverges for this kernel: gradient descent on the "
            f"linearized model is stable only below {2.0 / rate_max:.4g}")


def _weighted(terms, mask, out_mask):
    """``(sum of weighted terms (n, k), number of rows that count)``."""
    n = terms.shape[0]
    if mask is not None:
        terms, n = mask[:, None] * terms, jnp.sum(mask)
    if out_mask is not None:
        terms = out_mask[None, :] * terms
    return jnp.sum(terms), n


def mse(f, y, mask=None, out_mask=None):
    """``0.5 * sum(mask * out_mask * (f - y)**2) / sum(mask)``; ``f``, ``y``: ``(n, k)``."""
    total, n = _weighted((f - y) ** 2, mask, out_mask)
    return 0.5 * total / n


def xent(f, y, mask=None, out_mask=None):
    """Mean softmax cross-entropy of logits ``f`` ``(n, k)`` against probabilities ``y``."""
    total, n = _weighted(y * jax.nn.log_softmax(f, axis=-1), mask, out_mask)
    return -total / n


LOSSES = {"mse": mse, "xent": xent}


def loss_fn(name: str) -> Callable:
    """``loss(f (n, k), y (n, k)) -> scalar`` for ``'mse'`` or ``'xent'``."""
    V.check_choice("loss", name, tuple(LOSSES))
    return LOSSES[name]


class TrainResult(NamedTuple):
    """What :func:`train` recorded.

    Attributes:
      params: final parameters (at ``diverged_at`` if training stopped early).
      steps: ``(R,)`` step indices of the records (0 = init).
      loss: ``(R,)`` full training loss at those steps.
      outputs: ``(R, m, k)`` outputs on ``record_x`` (``None`` without it).
      ntk_steps: ``(S,)`` steps of the eNTK snapshots.
      ntks: ``(S, ...)`` eNTK snapshots on ``ntk_x`` (``None`` without them).
      param_history: list of params at ``steps`` if ``keep_params``, else ``None``.
      diverged_at: first recorded step whose loss was NaN or exploded, else ``None``.
    """

    params: object
    steps: np.ndarray
    loss: np.ndarray
    outputs: np.ndarray | None
    ntk_steps: np.ndarray
    ntks: np.ndarray | None
    param_history: list | None
    diverged_at: int | None


@jax.tree_util.register_static
class ApplyFn:
    """A plain ``apply(params, x)`` function as a model for :func:`gd_segment`: a pytree
    without leaves, compiled once per function (as equal and hashed as the function: by
    identity for closures, by owner and function for bound methods)."""

    def __init__(self, apply: Callable):
        self.apply = apply

    def __eq__(self, other) -> bool:
        return isinstance(other, ApplyFn) and other.apply == self.apply

    def __hash__(self) -> int:
        return hash(self.apply)


def as_model(apply: Callable):
    """The model object behind ``apply``: the MLP (or other registered pytree) of a bound
    ``model.apply``, so that equal architectures share compiled code; else an
    :class:`ApplyFn` around the function."""
    owner = getattr(apply, "__self__", None)
    if owner is not None and getattr(apply, "__name__", "") == "apply":
        leaves, _ = jax.tree.flatten(owner)
        if not (len(leaves) == 1 and leaves[0] is owner):  # a registered pytree
            return owner
    return ApplyFn(apply)


def _segment_loss(model, loss, params, x, y, mask, out_mask):
    return LOSSES[loss](model.apply(params, x), y, mask, out_mask)


@functools.partial(jax.jit, static_argnames=("loss", "batch_size", "record"))
def gd_segment(model, params, x, y, lr, count, *, scales=None, mask=None, out_mask=None,
               key=None, start=0, loss: str = "mse", batch_size: int | None = None,
               record: Callable | None = None, record_args=()):
    """``count`` steps of GD (``batch_size=None``) or minibatch SGD, in one compiled call.

    Each step is ``p <- p - lr * scales * grad L(p)`` with ``L`` the ``loss``
    (``'mse'``/``'xent'``, weighted by ``mask`` ``(n,)`` rows and ``out_mask`` ``(k,)``
    outputs) of ``model.apply(params, x)`` ``(n, k)`` against ``y`` ``(n, k)``. SGD draws
    the minibatch of global step ``start + i`` from ``fold_in(key, start + i)`` without
    replacement, so a run split into segments takes the same steps as one run.

    Traced: ``model`` (an MLP: only its shapes are static), ``params``, the data,
    ``lr``, ``count``, ``scales``, ``mask``, ``start``. Static: ``loss``,
    ``batch_size`` and ``record``, a module-level function
    ``record(model, params, *record_args)`` evaluated on the final parameters in the
    same call.

    Returns the final parameters, or ``(params, record(...))`` with a ``record``.
    """
    n = x.shape[0]

    def body(i, p):
        xb, yb, mb = x, y, mask
        if batch_size is not None:
            idx = jax.random.choice(jax.random.fold_in(key, start + i), n, (batch_size,),
                                    replace=False)
            xb, yb, mb = x[idx], y[idx], None if mask is None else mask[idx]
        grads = jax.grad(_segment_loss, argnums=2)(model, loss, p, xb, yb, mb, out_mask)
        if scales is None:
            return jax.tree.map(lambda a, g: a - lr * g, p, grads)
        return jax.tree.map(lambda a, g, s: a - lr * s * g, p, grads, scales)

    params = jax.lax.fori_loop(0, count, body, params)
    return params if record is None else (params, record(model, params, *record_args))


@functools.partial(jax.jit, static_argnames="loss")
def full_loss(model, params, x, y, mask=None, out_mask=None, *, loss: str = "mse"):
    """The training loss of ``model.apply(params, x)`` (jitted, model traced): a scalar."""
    return _segment_loss(model, loss, params, x, y, mask, out_mask)


def record_points(steps: int, record_every: int | None, extra: Sequence[int] = ()) -> np.ndarray:
    """Sorted steps ``(R,)`` at which :func:`train` records: every ``record_every`` steps
    (default about 100 records), the last step and every ``extra`` step."""
    every = max(1, steps // 100) if record_every is None else \
        V.check_positive_int("record_every", record_every)
    extra = [V.check_nonnegative_int(f"ntk_steps[{i}]", s) for i, s in enumerate(extra)]
    pts = set(range(0, steps + 1, every)) | {steps} | set(extra)
    bad = [s for s in pts if not 0 <= s <= steps]
    if bad:
        raise ValueError(f"ntk_steps must lie in [0, {steps}], got {sorted(bad)}")
    return np.array(sorted(pts))


def train(apply: Callable, params, x, y, *, lr: float, steps: int, loss: str = "mse",
          batch_size: int | None = None, key: jax.Array | None = None, lr_scales=None,
          record_every: int | None = None, record_x=None, ntk_fn: Callable | None = None,
          ntk_x=None, ntk_steps: Sequence[int] = (), keep_params: bool = False,
          progress: bool = False, divergence_factor: float = DIVERGENCE_FACTOR,
          raise_on_divergence: bool = True, desc: str = "training") -> TrainResult:
    """Train ``apply(params, x)`` by GD (``batch_size=None``) or minibatch SGD.

    Args:
      apply: model, ``apply(params, x) -> (n, k)``.
      params: initial parameters (a pytree).
      x, y: training inputs ``(n, d)`` and targets ``(n, k)``.
      lr: learning rate; each parameter's step is ``lr * lr_scales * grad``.
      steps: number of updates.
      loss: ``'mse'`` or ``'xent'``.
      batch_size: minibatch size for SGD (sampled without replacement each
        step from ``key``); ``None`` for full batch.
      record_every: record loss/outputs every this many steps (default: about
        100 records).
      record_x: ``(m, d)`` inputs whose outputs are recorded.
      ntk_fn, ntk_x, ntk_steps: eNTK snapshots ``ntk_fn(ntk_x, None, params)``
        at these steps.
      keep_params: also return the parameters at every record.
      progress: show a ``tqdm.auto`` progress bar (off by default: library calls are
        quiet; notebooks and apps ask for one where a run is long).
      divergence_factor: the loss "explodes" when it exceeds this factor times
        the initial loss (or is not finite).
      raise_on_divergence: raise :class:`DivergenceError` (default) or stop and
        return what was recorded with ``diverged_at`` set.

    Raises:
      ValueError: bad shapes or arguments (the message names them).
      DivergenceError: the loss became NaN or exploded (if ``raise_on_divergence``).
    """
    x, y, steps, lr, batch_size, key, record_x, ntk_x, divergence_factor = _train_args(
        apply, params, x, y, steps, lr, loss, batch_size, key, record_x, ntk_fn, ntk_x,
        ntk_steps, divergence_factor)
    model = as_model(apply)
    scales = jax.tree.map(lambda _: 1.0, params) if lr_scales is None else lr_scales
    ntk_set = {int(s) for s in ntk_steps}
    rec = {"loss": [], "outputs": [], "ntks": [], "params": [], "steps": []}
    diverged_at, start, loss0, value = None, 0, math.nan, math.nan
    bar = _progress(steps, progress, desc)
    for s in record_points(steps, record_every, ntk_steps):
        if s > start:
            params = gd_segment(model, params, x, y, lr, int(s - start), scales=scales,
                                key=key, start=start, loss=loss, batch_size=batch_size)
            bar.update(int(s - start))
            start = int(s)
        value = float(full_loss(model, params, x, y, loss=loss))
        loss0 = value if not rec["loss"] else loss0
        if diverged(value, loss0, divergence_factor):
            diverged_at = int(s)
            break
        rec["steps"].append(int(s))
        rec["loss"].append(value)
        if record_x is not None:
            rec["outputs"].append(np.asarray(apply(params, record_x)))
        if int(s) in ntk_set:
            rec["ntks"].append(np.asarray(ntk_fn(ntk_x, None, params)))
        if keep_params:
            rec["params"].append(params)
        bar.set_postfix(loss=f"{value:.3g}", refresh=False)
    bar.close()
    if diverged_at is not None and raise_on_divergence:
        raise divergence_error(diverged_at, lr, value, divergence_factor)
    return TrainResult(
        params=params, steps=np.array(rec["steps"]), loss=np.array(rec["loss"]),
        outputs=np.stack(rec["outputs"]) if rec["outputs"] else None,
        ntk_steps=np.array([s for s in rec["steps"] if s in ntk_set]),
        ntks=np.stack(rec["ntks"]) if rec["ntks"] else None,
        param_history=rec["params"] if keep_params else None, diverged_at=diverged_at)


def _train_args(apply, params, x, y, steps, lr, loss, batch_size, key, record_x, ntk_fn, ntk_x,
                ntk_steps, divergence_factor):
    """:func:`train`'s arguments checked (before any work) and cleaned."""
    V.check_callable("apply", apply)
    x = V.as_float_array("x", x, ndim=2)
    y = V.as_float_array("y", y, ndim=2)
    V.check_same_rows("x", x, "y", y)
    steps = V.check_nonnegative_int("steps", steps)
    lr = V.check_positive_float("lr", lr)
    V.check_choice("loss", loss, tuple(LOSSES))
    _check_params(apply, params, x, y)
    if batch_size is not None:
        batch_size = V.check_positive_int("batch_size", batch_size, maximum=x.shape[0])
        if key is None:
            raise ValueError("minibatch SGD needs key= (an explicit jax.random key)")
    key = V.check_key("key", key, optional=True)
    if ntk_steps and (ntk_fn is None or ntk_x is None):
        raise ValueError("ntk_steps needs ntk_fn= and ntk_x=")
    if record_x is not None:
        record_x = V.as_float_array("record_x", record_x, ndim=2, dim=x.shape[1])
    if ntk_x is not None:
        ntk_x = V.as_float_array("ntk_x", ntk_x, ndim=2, dim=x.shape[1])
    divergence_factor = V.check_positive_float("divergence_factor", divergence_factor)
    key = jax.random.key(0) if key is None else key
    return x, y, steps, lr, batch_size, key, record_x, ntk_x, divergence_factor


def gd_checkpoints(model, params0, x, y, *, lr: float, steps: int, start=None,
                   save_at: Sequence[int] = (), pad_min: int = 0, center: bool = False,
                   scales=None) -> dict:
    """Full-batch GD (MSE) on ``x (n, d)``, ``y (n, k)`` from ``params0``, resumable.

    The same iterates as ``train(model.apply, params0, x, y, lr=lr, steps=steps)``
    through :func:`gd_segment`, so a new ``steps`` or a new training set of a size
    seen before compiles nothing. Sets smaller than ``pad_min`` rows are padded to it
    with masked rows (zero weight in the loss), so every size below shares one
    compiled loop. ``center=True`` trains the centred net ``f(p, x) - f(params0, x)``
    (outputs zero at init) by shifting the targets by ``f(params0, x)``.
    ``start = (s0, params)`` resumes from parameters already trained ``s0 <= steps``
    steps. Returns ``{step: params}`` for ``steps`` and every ``save_at`` value in
    ``(s0, steps)`` (checkpoints for a later resume).

    Raises:
      ValueError: bad shapes or a resume point past ``steps``.
      DivergenceError: the result is not finite.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, d) and y (n, k) with the same n, got {x.shape} and {y.shape}")
    n = x.shape[0]
    size = max(n, int(pad_min))
    dtype = jnp.asarray(x[:1]).dtype
    xp = jnp.asarray(np.concatenate([x, np.zeros((size - n, x.shape[1]))]), dtype)
    yp = jnp.asarray(np.concatenate([y, np.zeros((size - n, y.shape[1]))]), dtype)
    if center:
        yp = _shifted(model, params0, xp, yp)
    mask = jnp.asarray(np.arange(size) < n, dtype)
    s0, params = (0, params0) if start is None else start
    if not 0 <= s0 <= steps:
        raise ValueError(f"cannot resume from step {s0} to reach step {steps}")
    out = {}
    for s in sorted({int(v) for v in save_at if s0 < v < steps} | {int(steps)}):
        if s > s0:
            params = gd_segment(model, params, xp, yp, lr, s - s0, mask=mask, scales=scales)
        out[s] = params
        s0 = s
    if not all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(params)):
        raise DivergenceError(f"GD diverged within {steps} steps (lr={lr:g}); lower the learning rate")
    return out


def precompile_gd(model, params, size: int, d: int, k: int, dtype, *, center: bool = False) -> None:
    """Compile what :func:`gd_checkpoints` runs for a padded set of ``size`` rows of
    ``d`` inputs and ``k`` outputs (any ``lr``, step count, data), training nothing."""
    xs = jax.ShapeDtypeStruct((size, d), dtype)
    ys = jax.ShapeDtypeStruct((size, k), dtype)
    if center:
        _shifted.lower(model, params, xs, ys).compile()
    gd_segment.lower(model, params, xs, ys, 0.1, 0, mask=jax.ShapeDtypeStruct((size,), dtype),
                     scales=None).compile()


@jax.jit
def _shifted(model, params0, x, y):
    return y + model.apply(params0, x)  # centring folded into the targets, once
def _check_params(apply, params, x, y) -> None:
    """The outputs ``apply(params, x[:1])`` must be ``(1, k)`` with ``k = y.shape[1]``."""
    for i, leaf in enumerate(jax.tree.leaves(params)):
        V.check_finite(f"params (leaf {i})", leaf)
    try:
        out = jax.eval_shape(apply, params, x[:1])
    except Exception as err:  # noqa: BLE001 - re-raised naming the user's arguments
        raise ValueError(f"apply(params, x[:1]) failed for x of shape {tuple(x.shape)} "
                         f"(do params and x match the model?): {type(err).__name__}: {err}") from err
    if getattr(out, "shape", None) != (1, y.shape[1]):
        raise ValueError(f"y must be (n, k) with k = the model's {getattr(out, 'shape', ('?',))[-1]} "
                         f"outputs, got y of shape {tuple(y.shape)} (apply gives "
                         f"{getattr(out, 'shape', None)} for one input)")


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


# ---------------------------------------------------------------------------
# full-batch GD with early stopping on a validation set


class TrainedNet(NamedTuple):
    """The best parameters of an early-stopped run, the step they were reached at, the
    validation loss there, and the steps actually run."""

    params: object
    step: int
    val_loss: float
    ran: int


def _val_loss(model, params, x_val, y_val):
    return mse(model.apply(params, x_val), y_val)


def train_early_stopped(model, params0, x, y, x_val, y_val, *, lr: float, steps: int,
                        every: int = 25, patience: int = 8) -> TrainedNet:
    """Full-batch GD (MSE) of the centred net ``f(p, .) - f(params0, .)`` with early stopping.

    ``x (n, d)``, ``y (n, k)``; ``x_val (v, d)``, ``y_val (v, k)``. Runs
    :func:`~ntk_explore.core.training.gd_segment` ``every`` steps at a time (rate ``lr``
    on the stored weights), evaluates the validation loss after each segment, and keeps
    the best parameters; stops after ``steps`` steps, after ``patience`` checks without
    improvement, or at a non-finite loss (a diverged run keeps its best finite point).
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    xv = jnp.asarray(x_val)
    y_shift = y + apply_jit(model, params0, x)  # centring folded into the targets
    yv_shift = jnp.asarray(y_val) + apply_jit(model, params0, xv)
    best = TrainedNet(params0, 0, float(_val_jit(model, params0, xv, yv_shift)), 0)
    params, since, ran = params0, 0, 0
    while ran < steps and since < patience:
        count = min(every, steps - ran)
        params, val = gd_segment(model, params, x, y_shift, lr, count, record=_val_loss,
                                 record_args=(xv, yv_shift))
        ran += count
        val = float(val)
        if not math.isfinite(val):
            break
        if val < best.val_loss:
            best, since = TrainedNet(params, ran, val, ran), 0
        else:
            since += 1
    return best._replace(ran=ran)


_val_jit = jax.jit(_val_loss)
