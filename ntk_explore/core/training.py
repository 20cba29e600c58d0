"""Full-batch gradient descent and minibatch SGD that record what figures need.

Losses (``y`` is ``(n, k)``):

* ``'mse'``:  ``1 / (2 n) * sum ||f(x_i) - y_i||**2`` (see :mod:`.linearized`);
* ``'xent'``: mean softmax cross-entropy with ``y`` as target probabilities.

Steps between two recording points run inside one jitted ``lax.fori_loop``, so
recording every step is the slow path and recording every 50 steps is cheap.
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

__all__ = ["DivergenceError", "TrainResult", "train", "loss_fn", "LOSSES"]


class DivergenceError(RuntimeError):
    """Training (or a closed-form schedule) blew up from finite data: the loss became
    NaN/inf or exploded. NaN or inf in the inputs themselves is bad data and raises
    ``ValueError`` naming the argument instead."""


def _mse(f, y):
    return 0.5 * jnp.sum((f - y) ** 2) / f.shape[0]


def _xent(f, y):
    return -jnp.sum(y * jax.nn.log_softmax(f, axis=-1)) / f.shape[0]


LOSSES = {"mse": _mse, "xent": _xent}


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


@functools.lru_cache(maxsize=64)
def _full_loss(apply, loss):
    return jax.jit(lambda p, x, y: loss(apply(p, x), y))


@functools.lru_cache(maxsize=64)
def _make_run(apply, loss, n, batch_size):
    """Jitted ``run(params, x, y, key, start, count, lr, scales)``; cached so that
    slider moves that only change ``lr`` or the data reuse the compiled loop."""
    def step(params, xb, yb, lr, scales):
        grads = jax.grad(lambda p: loss(apply(p, xb), yb))(params)
        return jax.tree.map(lambda p, g, s: p - lr * s * g, params, grads, scales)

    @jax.jit
    def run(params, x, y, key, start, count, lr, scales):
        def body(i, p):
            if batch_size is None:
                return step(p, x, y, lr, scales)
            idx = jax.random.choice(jax.random.fold_in(key, start + i), n, (batch_size,),
                                    replace=False)
            return step(p, x[idx], y[idx], lr, scales)
        return jax.lax.fori_loop(0, count, body, params)

    return run


def _record_points(steps: int, record_every: int | None, extra: Sequence[int]) -> np.ndarray:
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
          progress: bool = True, divergence_factor: float = 1e4,
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
      progress: show a ``tqdm.auto`` progress bar.
      divergence_factor: the loss "explodes" when it exceeds this factor times
        the initial loss (or is not finite).
      raise_on_divergence: raise :class:`DivergenceError` (default) or stop and
        return what was recorded with ``diverged_at`` set.

    Raises:
      ValueError: bad shapes or arguments (the message names them).
      DivergenceError: the loss became NaN or exploded (if ``raise_on_divergence``).
    """
    V.check_callable("apply", apply)
    x = V.as_float_array("x", x, ndim=2)
    y = V.as_float_array("y", y, ndim=2)
    V.check_same_rows("x", x, "y", y)
    steps = V.check_nonnegative_int("steps", steps)
    lr = V.check_positive_float("lr", lr)
    V.check_choice("loss", loss, tuple(LOSSES))
    _check_params(apply, params, x, y)
    n = x.shape[0]
    if batch_size is not None:
        batch_size = V.check_positive_int("batch_size", batch_size, maximum=n)
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
    loss_f = loss_fn(loss)
    full_loss = functools.partial(_full_loss(apply, loss_f), x=x, y=y)
    run = _make_run(apply, loss_f, n, batch_size)
    scales = jax.tree.map(lambda _: 1.0, params) if lr_scales is None else lr_scales
    key = jax.random.key(0) if key is None else key
    points = _record_points(steps, record_every, ntk_steps)
    ntk_set = {int(s) for s in ntk_steps}

    rec_loss, rec_out, rec_ntk, rec_params, done = [], [], [], [], []
    diverged, start = None, 0
    bar = _progress(steps, progress, desc)
    for s in points:
        if s > start:
            params = run(params, x, y, key, start, int(s - start), lr, scales)
            bar.update(int(s - start))
            start = int(s)
        value = float(full_loss(params))
        if not rec_loss:
            limit = divergence_factor * max(value, 1e-8)
        if not math.isfinite(value) or value > limit:
            diverged = int(s)
            break
        done.append(int(s))
        rec_loss.append(value)
        if record_x is not None:
            rec_out.append(np.asarray(apply(params, record_x)))
        if int(s) in ntk_set:
            rec_ntk.append(np.asarray(ntk_fn(ntk_x, None, params)))
        if keep_params:
            rec_params.append(params)
        bar.set_postfix(loss=f"{value:.3g}", refresh=False)
    bar.close()
    if diverged is not None and raise_on_divergence:
        raise DivergenceError(
            f"training diverged at step {diverged} (lr={lr:g}): loss "
            f"{value:.3g} is not finite or above {divergence_factor:g}x the initial loss; "
            f"lower the learning rate")
    return TrainResult(
        params=params, steps=np.array(done), loss=np.array(rec_loss),
        outputs=np.stack(rec_out) if rec_out else None,
        ntk_steps=np.array([s for s in done if s in ntk_set]),
        ntks=np.stack(rec_ntk) if rec_ntk else None,
        param_history=rec_params if keep_params else None, diverged_at=diverged)


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
