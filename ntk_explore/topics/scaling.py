"""Data-scaling exponents: a trained net against kernel regression with its kernels.

For training-set sizes ``n`` (log-spaced) we measure the test loss of

* ``net``: the MLP trained by full-batch GD (MSE) on the ``n`` points;
* ``entk_init``: kernel regression with the net's tangent kernel at init;
* ``entk_trained``: kernel regression with the tangent kernel of the net that
  was trained on those same ``n`` points (the kernel after training);
* ``entk_pretrained``: kernel regression with the tangent kernel of a net
  pretrained on a fixed number ``n_pre`` of separate samples;
* ``ntk``: kernel regression with the infinite-width NTK.

and fit ``loss ~ C n**(-alpha)``: ``alpha`` is the data-scaling exponent
(larger is better). Kernel regression is ``K(test, X) (K(X, X) + r I)^-1 y``
(ridgeless by default; see :func:`ntk_explore.core.kernels.kernel_regression`), with
no offset: the net is *centred*, ``f(params, x) - f(params0, x)``, so it
outputs zero at init and kernel regression with its eNTK at init is exactly
its linearisation trained to convergence.

Finite-width kernels are, by default, the structured **pNTK**
(``kernel='pntk'``: the tangent kernel of ``sum_c f_c / sqrt(k)``, shape
``(n1, n2)``, used as ``pNTK (x) I_k``), which notebook 08 and
:mod:`ntk_explore.topics.pntk_study` compare with the full eNTK; ``kernel='entk'``
uses the full ``(n k) x (n k)`` eNTK (k**2 times the memory, about k**3 times
the solve).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._cache import LRU as _LRU
from ..core import validation as V
from ..core.kernels import flatten_blocks, infinite_kernel_fn, kernel_regression, mlp_ntk, mlp_pntk
from ..core.models import MLP, mlp
from ..core.training import DivergenceError
from .regimes import LogLogFit, fit_loglog

__all__ = [
    "Task", "digits_task", "teacher_task", "Exponent", "exponent", "ScalingCurves",
    "data_scaling", "ScalingExplorer", "train_centered", "init_params", "kernel_predict", "regress",
    "centered_apply", "test_loss", "log_sizes", "LEARNERS",
]

LEARNERS = ("net", "entk_init", "entk_trained", "entk_pretrained", "ntk")


class Task(NamedTuple):
    """A regression task: pool ``x (N, d)``, ``y (N, k)``; test ``x_test (T, d)``, ``y_test (T, k)``.

    ``x_extra``/``y_extra`` (``(E, d)``, ``(E, k)``) are held apart for
    pretraining. ``labels``/``labels_test`` are class indices (``None`` for
    regression tasks).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_extra: np.ndarray
    y_extra: np.ndarray
    labels: np.ndarray | None = None
    labels_test: np.ndarray | None = None


def _digits_arrays():
    from sklearn.datasets import load_digits

    x, labels = load_digits(return_X_y=True)
    x = x / 16.0
    x = (x - x.mean(0)[None, :]) / (x.std(0)[None, :] + 0.1)  # standardised pixels
    return x, labels


@V.checked
def digits_task(*, seed: int = 0, n_test: int = 400, n_extra: int = 256) -> Task:
    """``load_digits`` (1797 images, 8x8, shipped with scikit-learn) as MSE regression.

    Pixels are standardised; targets are centred one-hot vectors
    ``onehot - 1/10`` of shape ``(., 10)``. The rows are shuffled with
    ``seed`` and split into test (``n_test``), pretraining (``n_extra``) and
    pool (the rest, 1141 with the defaults).
    """
    x, labels = _digits_arrays()
    if n_test + n_extra >= x.shape[0]:
        raise ValueError(f"n_test + n_extra must be below {x.shape[0]}, got {n_test + n_extra}")
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    x, labels = x[perm], labels[perm]
    y = np.eye(10)[labels] - 0.1
    te, ex = slice(0, n_test), slice(n_test, n_test + n_extra)
    rest = slice(n_test + n_extra, None)
    return Task("digits", x[rest], y[rest], x[te], y[te], x[ex], y[ex], labels[rest], labels[te])


@V.checked
def teacher_task(*, seed: int = 0, d: int = 8, n_pool: int = 1024, n_test: int = 400,
                 n_extra: int = 256, teacher_width: int = 4) -> Task:
    """Synthetic task with a known target: a small tanh teacher net on the sphere.

    ``x`` is uniform on the unit sphere in ``R^d`` scaled by ``sqrt(d)``;
    ``y = sum_j a_j tanh(w_j . x) / sqrt(teacher_width)`` with Gaussian
    ``w_j`` (unit-norm rows) and ``a_j``; no label noise, so the test loss is
    the error against the true function. Shapes ``(., d)`` and ``(., 1)``.
    """
    rng = np.random.default_rng(seed + 1000)
    w = rng.standard_normal((teacher_width, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    a = rng.standard_normal(teacher_width)
    total = n_pool + n_test + n_extra
    x = rng.standard_normal((total, d))
    x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    y = (np.tanh(x @ w.T) @ a / np.sqrt(teacher_width))[:, None]
    te, ex = slice(0, n_test), slice(n_test, n_test + n_extra)
    rest = slice(n_test + n_extra, None)
    return Task("teacher", x[rest], y[rest], x[te], y[te], x[ex], y[ex])


class Exponent(NamedTuple):
    """``loss ~ C n**(-alpha)``: ``alpha`` and its 95% interval ``ci95`` (low, high)."""

    alpha: float
    ci95: tuple[float, float]
    fit: LogLogFit


@V.checked
def exponent(ns: Sequence[float], losses: Sequence[float]) -> Exponent:
    """Data-scaling exponent from ``(m,)`` sizes and ``(m,)`` positive losses (m >= 3)."""
    fit = fit_loglog(ns, losses)
    return Exponent(-fit.slope, (-fit.ci95[1], -fit.ci95[0]), fit)


@V.checked
def test_loss(pred, y) -> float:
    """Mean over test points of ``||pred - y||**2 / 2``; ``pred``, ``y``: ``(T, k)``."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    if pred.shape != y.shape:
        raise ValueError(f"pred and y must have the same shape, got {pred.shape} and {y.shape}")
    return float(0.5 * np.sum((pred - y) ** 2) / y.shape[0])


@V.checked
def regress(k_train, y, k_test_train, ridge: float = 0.0) -> np.ndarray:
    """Kernel regression with a ridge relative to the kernel's scale.

    ``k_train (n, n)``, ``y (n,)`` or ``(n, m)``, ``k_test_train (T, n)``;
    the ridge added is ``ridge * mean(diag k_train)``.
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    scale = float(np.mean(np.diag(np.asarray(k_train, np.float64))))
    return kernel_regression(k_train, y, k_test_train, ridge=ridge * scale)


@V.checked
def kernel_predict(model: MLP, params, x, y, x_test, *, kernel: str = "pntk",
                   ridge: float = 0.0) -> np.ndarray:
    """Kernel regression with the net's tangent kernel at ``params``.

    ``x (n, d)``, ``y (n, k)``, ``x_test (T, d)`` -> predictions ``(T, k)``.
    ``kernel``: ``'pntk'`` (``pNTK (x) I_k``, one ``(n, n)`` solve with ``k``
    right-hand sides) or ``'entk'`` (full ``(n k, n k)`` blocks). ``ridge`` is
    relative to the mean diagonal (see :func:`regress`).
    """
    x, x_test = jnp.asarray(x), jnp.asarray(x_test)
    if kernel == "pntk":
        fn = mlp_pntk(model)
        return regress(fn(x, None, params), y, fn(x_test, x, params), ridge)
    if kernel == "entk":
        fn = mlp_ntk(model)
        k = model.out_dim
        pred = regress(flatten_blocks(fn(x, None, params)), np.reshape(y, (-1,)),
                       flatten_blocks(fn(x_test, x, params)), ridge)
        return pred.reshape(-1, k)
    raise ValueError(f"unknown kernel {kernel!r}; choose 'pntk' or 'entk'")


@dataclasses.dataclass(frozen=True)
class ScalingCurves:
    """Test losses ``losses[learner]`` ``(m,)`` at training-set sizes ``ns`` ``(m,)``."""

    task: str
    ns: np.ndarray
    losses: dict
    width: int
    steps: int
    n_pre: int
    kernel: str

    def exponent(self, learner: str) -> Exponent:
        """Fitted ``alpha`` for one learner (see :data:`LEARNERS`)."""
        if learner not in self.losses:
            raise ValueError(f"unknown learner {learner!r}; have {sorted(self.losses)}")
        return exponent(self.ns, self.losses[learner])

    def exponents(self) -> dict:
        """``{learner: Exponent}`` for every measured learner."""
        return {name: self.exponent(name) for name in self.losses}


def _check_sizes(ns, pool: int) -> np.ndarray:
    ns = np.asarray(sorted(int(n) for n in ns))
    if ns.size < 3 or ns[0] < 2 or ns[-1] > pool:
        raise ValueError(f"need at least 3 sizes in [2, {pool}], got {ns.tolist()}")
    return ns


@V.checked
def data_scaling(task: Task, ns: Sequence[int], *, key: jax.Array, width: int = 256,
                 depth: int = 1, steps: int = 1000, lr: float = 1.0, n_pre: int = 128,
                 parametrization: str = "ntk",
                 kernel: str = "pntk", ridge: float = 0.0,
                 learners: Sequence[str] = LEARNERS) -> ScalingCurves:
    """Test loss vs training-set size for the net and its kernels (see module doc).

    Args:
      task: a :class:`Task`; the first ``n`` pool points form each training set.
      ns: training-set sizes (>= 3 values, at most the pool size).
      key: PRNG key; the same init is used at every ``n``.
      width, depth, parametrization: the ReLU MLP (``'ntk'`` or ``'mup'``; muP
        keeps features moving at large width, ``'ntk'`` is lazy there).
      steps, lr: full-batch GD on the MSE loss.
      n_pre: pretraining samples (from ``task.x_extra``) for ``entk_pretrained``.
      kernel: ``'pntk'`` or ``'entk'`` for the finite-width kernels.
      ridge: kernel-regression ridge relative to the mean diagonal (0: ridgeless).
      learners: which of :data:`LEARNERS` to measure.

    Returns:
      :class:`ScalingCurves` with ``losses[learner]`` of shape ``(len(ns),)``.

    The same computation as :meth:`ScalingExplorer.curves` with empty caches.
    """
    explorer = ScalingExplorer(task, ns, key=key, depth=depth, lr=lr,
                               parametrization=parametrization, kernel=kernel, ridge=ridge,
                               learners=learners)
    return explorer.curves(width, steps, n_pre)


@V.checked
def centered_apply(model: MLP, params0):
    """``apply(params, x) = f(params, x) - f(params0, x)``: ``(n, d) -> (n, k)``.

    The centred net outputs zero at init and has the same tangent kernel as
    the net, so ridgeless kernel regression with its eNTK at ``params0`` is
    exactly its linearisation trained to convergence.
    """
    return lambda params, x: model.apply(params, x) - model.apply(params0, x)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _normal_draw(size: int, dtype, key):
    return jax.random.normal(key, (size,), dtype)


_DRAWS: collections.OrderedDict = collections.OrderedDict()


@V.checked
def init_params(model: MLP, key: jax.Array, *, draw_size: int | None = None) -> list[dict]:
    """``model.init(key)`` cut from a cached flat normal draw of ``draw_size`` values.

    ``MLP.init`` cuts one draw ``jax.random.normal(key, (model.num_params,))``
    into layers. With JAX's partitionable threefry (the default), that draw is a
    prefix of any longer draw from the same key, so nets of every width up to
    the one with ``draw_size`` parameters share one compiled draw (``MLP.init``
    compiles once per model): a width slider then recompiles no init. Falls
    back to ``model.init(key)`` when the prefix property is not guaranteed.
    """
    size = model.num_params if draw_size is None else max(int(draw_size), model.num_params)
    if not jax.config.jax_threefry_partitionable:
        return model.init(key)
    dtype = jnp.zeros(()).dtype  # float64 when jax_enable_x64 is on, like MLP.init
    tag = (np.asarray(jax.random.key_data(key)).tobytes(), str(dtype), size)
    if tag in _DRAWS:
        _DRAWS.move_to_end(tag)
    else:
        _DRAWS[tag] = np.asarray(_normal_draw(size, dtype, key))
        while len(_DRAWS) > 8:
            _DRAWS.popitem(last=False)
    z, params, i = _DRAWS[tag], [], 0
    for layer in model.layers():  # the layout of MLP._init
        n = layer.fan_out * layer.fan_in
        p = {"w": jnp.asarray(layer.w_std * z[i:i + n].reshape(layer.fan_out, layer.fan_in))}
        i += n
        if model.bias:
            p["b"] = jnp.asarray(layer.b_std * z[i:i + layer.fan_out])
            i += layer.fan_out
        params.append(p)
    return params


@functools.partial(jax.jit, static_argnums=0)
def _gd(model: MLP, params, params0, x, y, mask, lr, count):
    """``count`` full-batch GD steps of the centred net on the rows of ``x`` where
    ``mask`` is 1: loss ``0.5 * sum(mask * (f(params, x) - f(params0, x) - y)**2) / sum(mask)``.

    ``lr`` and ``count`` are traced and padded rows (``mask`` 0) add nothing, so one
    compiled loop per (model, padded size) serves every number of steps and every
    training set up to that size.
    """
    n = jnp.sum(mask)
    target = y + model.apply(params0, x)  # centring folded into the target, once
    w = mask[:, None]

    def body(_, p):
        grads = jax.grad(lambda q: 0.5 * jnp.sum(w * (model.apply(q, x) - target) ** 2) / n)(p)
        return jax.tree.map(lambda a, g: a - lr * g, p, grads)

    return jax.lax.fori_loop(0, count, body, params)


def _padded_size(n: int, pad_min: int) -> int:
    """Training sets below ``pad_min`` rows share one compiled loop of that size."""
    return max(int(n), int(pad_min))


@V.checked
def train_centered(model: MLP, params0, x, y, *, lr: float, steps: int, start=None,
                   save_at: Sequence[int] = (), pad_min: int = 0) -> dict:
    """Full-batch GD of the centred net (:func:`centered_apply`) on ``x (n, d)``, ``y (n, k)``.

    The same iterates as ``train(centered_apply(model, params0), params0, x, y,
    lr=lr, steps=steps).params`` (MSE loss), through one jitted loop per
    (model, padded size) whose step count is traced, so a new ``steps`` or a
    new training set of a size seen before does not recompile. Sets smaller
    than ``pad_min`` are padded to it with masked rows (zero weight in the
    loss). ``start = (s0, params)`` resumes from parameters already trained
    ``s0 <= steps`` steps. Returns ``{step: params}`` for ``steps`` and every
    ``save_at`` value in ``(s0, steps)`` (checkpoints for a later resume).

    Raises :class:`~ntk_explore.core.training.DivergenceError` if the result is not finite.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, d) and y (n, k) with the same n, got {x.shape} and {y.shape}")
    n = x.shape[0]
    size = _padded_size(n, pad_min)
    dtype = jnp.asarray(x[:1]).dtype
    xp = jnp.asarray(np.concatenate([x, np.zeros((size - n, x.shape[1]))]), dtype)
    yp = jnp.asarray(np.concatenate([y, np.zeros((size - n, y.shape[1]))]), dtype)
    mask = jnp.asarray(np.arange(size) < n, dtype)
    s0, params = (0, params0) if start is None else start
    if not 0 <= s0 <= steps:
        raise ValueError(f"cannot resume from step {s0} to reach step {steps}")
    out = {}
    for s in sorted({int(v) for v in save_at if s0 < v < steps} | {int(steps)}):
        if s > s0:
            params = _gd(model, params, params0, xp, yp, mask, lr, s - s0)
        out[s] = params
        s0 = s
    if not all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(params)):
        raise DivergenceError(f"GD diverged within {steps} steps (lr={lr:g}); lower the learning rate")
    return out


@functools.partial(jax.jit, static_argnums=0)
def _pntk_and_outputs(model: MLP, params, rows, cols):
    """pNTK ``(R, C)`` between ``rows`` and ``cols`` and the outputs ``(R, k)`` on ``rows``."""
    return mlp_pntk(model)(rows, cols, params), model.apply(params, rows)


class ScalingExplorer:
    """:func:`data_scaling` for one task, sizes and init, with caches for slider moves.

    :meth:`curves` returns the same :class:`ScalingCurves` as
    ``data_scaling(task, ns, key=key, width=width, steps=steps, n_pre=n_pre, ...)``
    (up to float rounding) but reuses what earlier calls computed:

    * GD checkpoints per (width, training set) at the step counts in
      ``save_at``: more steps resume from the last checkpoint (GD is
      deterministic, so the iterates are the same), fewer steps are a lookup;
    * one jitted GD loop per (width, padded size): sets below ``pad_min``
      points are padded to it with masked rows, so few sizes compile;
    * one pNTK evaluation per parameter set on ``[x[:n_max]; x_test] x x[:n_max]``,
      sliced for every ``n`` (instead of two kernels per ``n``), which also
      gives the net's test outputs;
    * the infinite-width NTK (independent of width, steps and ``n_pre``) and each
      learner's losses under the settings it depends on.

    Caches are bounded: checkpoints of the ``max_widths`` most recent widths,
    losses of the 256 most recent settings.
    """

    def __init__(self, task: Task, ns: Sequence[int], *, key: jax.Array, depth: int = 1,
                 lr: float = 1.0, parametrization: str = "ntk", kernel: str = "pntk",
                 ridge: float = 0.0, learners: Sequence[str] = LEARNERS,
                 save_at: Sequence[int] = (), max_widths: int = 2, pad_min: int = 128,
                 max_width: int = 1024):
        self.ns = _check_sizes(ns, task.x.shape[0])
        bad = set(learners) - set(LEARNERS)
        if bad:
            raise ValueError(f"unknown learners {sorted(bad)}; choose from {LEARNERS}")
        if kernel not in ("pntk", "entk"):
            raise ValueError(f"unknown kernel {kernel!r}; choose 'pntk' or 'entk'")
        self.task, self.key, self.depth, self.lr = task, key, depth, lr
        self.parametrization, self.kernel, self.ridge = parametrization, kernel, ridge
        self.learners, self.save_at = tuple(learners), tuple(int(s) for s in save_at)
        self.pad_min = pad_min
        # inits of every width up to max_width share one compiled normal draw (init_params)
        self.draw_size = mlp(task.x.shape[1], max_width, depth, task.y.shape[1]).num_params
        n_max = int(self.ns[-1])
        self._x = jnp.asarray(task.x[:n_max])
        self._rows = jnp.asarray(np.concatenate([task.x[:n_max], task.x_test]))
        self._nets = _LRU(max_widths)  # width -> (model, params0, {(pretrain, n): {step: params}})
        self._losses = _LRU(256)  # (learner, settings...) -> (m,) losses

    def _net(self, width: int):
        def make():
            model = mlp(self.task.x.shape[1], width, self.depth, self.task.y.shape[1],
                        parametrization=self.parametrization)
            return model, init_params(model, self.key, draw_size=self.draw_size), {}
        return self._nets.get_or(width, make)

    def trained(self, width: int, steps: int, n: int, pretrain: bool = False):
        """Params after ``steps`` GD steps on the first ``n`` pool points (or
        ``x_extra`` points if ``pretrain``), resumed from the cached checkpoints."""
        model, params0, trajectories = self._net(width)
        x, y = (self.task.x_extra, self.task.y_extra) if pretrain else (self.task.x, self.task.y)
        saved = trajectories.setdefault((pretrain, n), {})
        if steps not in saved:
            s0 = max((s for s in saved if s < steps), default=0)
            saved.update(train_centered(model, params0, x[:n], y[:n], lr=self.lr, steps=steps,
                                        start=(s0, saved[s0]) if s0 else None,
                                        save_at=self.save_at, pad_min=self.pad_min))
        return saved[steps]

    def precompile(self, widths: Sequence[int], n_pres: Sequence[int] = ()) -> None:
        """Compile, ahead of time, what :meth:`curves` runs at these widths (the GD loop of
        every padded training-set size, and the kernel/outputs function), so that a
        later move to any of them only computes. Nothing is trained or cached."""
        sizes = {_padded_size(int(n), self.pad_min) for n in list(self.ns) + list(n_pres)}
        t = self.task
        dtype = self._x.dtype
        for width in widths:
            model = mlp(t.x.shape[1], int(width), self.depth, t.y.shape[1],
                        parametrization=self.parametrization)
            p = init_params(model, self.key, draw_size=self.draw_size)
            for size in sorted(sizes):
                xs = jax.ShapeDtypeStruct((size, t.x.shape[1]), dtype)
                ys = jax.ShapeDtypeStruct((size, t.y.shape[1]), dtype)
                _gd.lower(model, p, p, xs, ys, jax.ShapeDtypeStruct((size,), dtype),
                          self.lr, 0).compile()
            if self.kernel == "pntk" or "net" in self.learners:
                _pntk_and_outputs.lower(model, p, self._rows, self._x).compile()

    def _sliced_losses(self, kernel, ns=None) -> list:
        """Kernel ``(n_max + T, n_max)`` on ``[x[:n_max]; x_test] x x[:n_max]`` -> test loss
        of kernel regression on the first ``n`` points, for each ``n`` in ``ns`` (default all)."""
        kernel = np.asarray(kernel, np.float64)
        n_max, t = int(self.ns[-1]), self.task
        return [test_loss(regress(kernel[:n, :n], t.y[:n], kernel[n_max:, :n], self.ridge),
                          t.y_test) for n in (self.ns if ns is None else ns)]

    def _kernel_losses(self, model, params, n=None) -> list:
        """Test losses of kernel regression with the kernel at ``params``, per ``n``."""
        t, ns = self.task, self.ns if n is None else [n]
        if self.kernel == "entk":
            return [test_loss(kernel_predict(model, params, t.x[:m], t.y[:m], t.x_test,
                                             kernel="entk", ridge=self.ridge), t.y_test)
                    for m in ns]
        return self._sliced_losses(_pntk_and_outputs(model, params, self._rows, self._x)[0], ns)

    def _trained_losses(self, width: int, steps: int) -> dict:
        """``{'net': (m,), 'entk_trained': (m,)}``: each ``n``'s trained net and its kernel."""
        model, params0, _ = self._net(width)
        t, n_max = self.task, int(self.ns[-1])
        want_kernel = "entk_trained" in self.learners
        f0 = None
        net, ker = [], []
        for n in self.ns:
            p = self.trained(width, steps, int(n))
            if self.kernel == "pntk" or "net" in self.learners:
                k, f = _pntk_and_outputs(model, p, self._rows, self._x)
                if f0 is None:
                    f0 = np.asarray(_pntk_and_outputs(model, params0, self._rows, self._x)[1])
                net.append(test_loss(np.asarray(f)[n_max:] - f0[n_max:], t.y_test))
            if want_kernel:
                ker.append(self._sliced_losses(k, [n])[0] if self.kernel == "pntk"
                           else self._kernel_losses(model, p, n)[0])
        return {"net": np.asarray(net), "entk_trained": np.asarray(ker)}

    def _learner(self, name, settings, compute) -> np.ndarray:
        return self._losses.get_or((name,) + settings, lambda: np.asarray(compute(), np.float64))

    def curves(self, width: int, steps: int, n_pre: int = 128) -> ScalingCurves:
        """:class:`ScalingCurves` at one (width, steps, n_pre) setting; see :func:`data_scaling`."""
        t, learners = self.task, self.learners
        if "entk_pretrained" in learners and not 0 < n_pre <= t.x_extra.shape[0]:
            raise ValueError(f"n_pre must be in [1, {t.x_extra.shape[0]}], got {n_pre}")
        model, params0, _ = self._net(width)
        losses = {}
        if "net" in learners or "entk_trained" in learners:
            both = self._losses.get_or(("trained", width, steps),
                                       lambda: self._trained_losses(width, steps))
            losses.update({k: both[k] for k in ("net", "entk_trained") if k in learners})
        if "entk_init" in learners:
            losses["entk_init"] = self._learner(
                "entk_init", (width,), lambda: self._kernel_losses(model, params0))
        if "entk_pretrained" in learners:
            losses["entk_pretrained"] = self._learner(
                "entk_pretrained", (width, steps, n_pre),
                lambda: self._kernel_losses(model, self.trained(width, steps, n_pre, True)))
        if "ntk" in learners:
            losses["ntk"] = self._learner("ntk", (), lambda: self._sliced_losses(
                _infinite_ntk(infinite_kernel_fn(model), self._rows, self._x)))
        return ScalingCurves(t.name, self.ns, {name: losses[name] for name in learners},
                             width, steps, n_pre, self.kernel)


def _infinite_ntk(kernel_fn, x1, x2):
    """The infinite-width NTK ``(n1, n2)``, jitted (one compile instead of one per op)."""
    return jax.jit(lambda a, b: kernel_fn(a, b).ntk)(x1, x2)


@V.checked
def log_sizes(lo: int, hi: int, num: int) -> np.ndarray:
    """``num`` distinct integers log-spaced from ``lo`` to ``hi``: ``(<= num,)``."""
    return np.unique(np.round(np.geomspace(lo, hi, num)).astype(int))
