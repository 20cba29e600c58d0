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

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core import validation as V
from ..core.datasets import Task, digits_task, teacher_task
from ..core.kernels import flatten_blocks, infinite_kernel_fn, mlp_ntk, mlp_pntk, regress
from ..core.matfree import matfree_kernel_predict
from ..core.metrics import Exponent, exponent, test_loss
from ..core.models import MLP, InputsArg, ModelArg, ParamsArg, apply_jit, init_from_draw, mlp
from ..core.training import gd_checkpoints

__all__ = [
    "Task", "digits_task", "teacher_task", "Exponent", "exponent", "ScalingCurves",
    "data_scaling", "check_sizes", "check_learners", "infinite_ntk", "train_centered",
    "init_params", "kernel_predict", "regress",
    "centered_apply", "test_loss", "log_sizes", "LEARNERS", "entk_init_curve",
    "entk_init_loss", "matfree_predict", "matfree_kernel_predict", "MATFREE_FROM",
]

LEARNERS = ("net", "entk_init", "entk_trained", "entk_pretrained", "ntk")


@V.checked
def kernel_predict(model: ModelArg, params: ParamsArg, x: InputsArg, y, x_test: InputsArg, *,
                   kernel: str = "pntk", ridge: V.NonNegativeFloat = 0.0) -> np.ndarray:
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


def check_sizes(ns, pool: int) -> np.ndarray:
    """Sorted training-set sizes ``(m,)``; at least 3, each in ``[2, pool]`` (else ValueError)."""
    ns = np.asarray(sorted(int(n) for n in ns))
    if ns.size < 3 or ns[0] < 2 or ns[-1] > pool:
        raise ValueError(f"need at least 3 sizes in [2, {pool}], got {ns.tolist()}")
    return ns


@V.checked
def data_scaling(task: Task, ns: V.Sizes, *, key: V.Key, width: V.PositiveInt = 256, depth: V.PositiveInt = 1,
                 steps: V.NonNegativeInt = 1000, lr: V.PositiveFloat = 1.0, n_pre: V.NonNegativeInt = 128,
                 parametrization: str = "ntk", kernel: str = "pntk", ridge: V.NonNegativeFloat = 0.0,
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

    The slider path, :class:`ntk_explore.explore.ScalingExplorer`, computes the same
    curves with caches and resumed training.
    """
    ns = check_sizes(ns, task.x.shape[0])
    check_learners(learners, kernel)
    if "entk_pretrained" in learners and not 0 < n_pre <= task.x_extra.shape[0]:
        raise ValueError(f"n_pre must be in [1, {task.x_extra.shape[0]}], got {n_pre}")
    model = mlp(task.x.shape[1], width, depth, task.y.shape[1], parametrization=parametrization)
    p0 = init_from_draw(model, key)

    def fit(x, y):
        return train_centered(model, p0, x, y, lr=lr, steps=steps)[steps]

    def kernel_loss(params, n):
        return test_loss(kernel_predict(model, params, task.x[:n], task.y[:n], task.x_test,
                                        kernel=kernel, ridge=ridge), task.y_test)

    pre = fit(task.x_extra[:n_pre], task.y_extra[:n_pre]) if "entk_pretrained" in learners else None
    f0_test = apply_jit(model, p0, jnp.asarray(task.x_test))
    losses = {name: [] for name in learners}
    for n in ns:
        n = int(n)
        trained = fit(task.x[:n], task.y[:n]) if {"net", "entk_trained"} & set(learners) else None
        for name in learners:
            if name == "net":
                f = apply_jit(model, trained, jnp.asarray(task.x_test)) - f0_test
                losses[name].append(test_loss(f, task.y_test))
            elif name == "ntk":
                x = task.x[:n]
                losses[name].append(test_loss(regress(infinite_ntk(model, x, x), task.y[:n],
                                                      infinite_ntk(model, task.x_test, x), ridge),
                                              task.y_test))
            else:
                params = {"entk_init": p0, "entk_trained": trained, "entk_pretrained": pre}[name]
                losses[name].append(kernel_loss(params, n))
    return ScalingCurves(task.name, ns, {k: np.asarray(v, np.float64) for k, v in losses.items()},
                         width, steps, n_pre, kernel)


def check_learners(learners: Sequence[str], kernel: str) -> None:
    """ValueError unless every learner is one of :data:`LEARNERS` and ``kernel`` is known."""
    bad = set(learners) - set(LEARNERS)
    if bad:
        raise ValueError(f"unknown learners {sorted(bad)}; choose from {LEARNERS}")
    if kernel not in ("pntk", "entk"):
        raise ValueError(f"unknown kernel {kernel!r}; choose 'pntk' or 'entk'")


@V.checked
def centered_apply(model: ModelArg, params0: ParamsArg):
    """``apply(params, x) = f(params, x) - f(params0, x)``: ``(n, d) -> (n, k)``.

    The centred net outputs zero at init and has the same tangent kernel as
    the net, so ridgeless kernel regression with its eNTK at ``params0`` is
    exactly its linearisation trained to convergence.
    """
    return lambda params, x: model.apply(params, x) - model.apply(params0, x)


init_params = init_from_draw  # the core's shared-draw initialisation, under its old name here


@V.checked
def train_centered(model: ModelArg, params0: ParamsArg, x: InputsArg, y, *, lr: V.PositiveFloat,
                   steps: V.NonNegativeInt, start=None, save_at: V.NonNegativeInts = (),
                   pad_min: V.NonNegativeInt = 0) -> dict:
    """Full-batch GD of the centred net (:func:`centered_apply`) on ``x (n, d)``, ``y (n, k)``:
    :func:`~ntk_explore.core.training.gd_checkpoints` with ``center=True`` (see there for
    ``start``, ``save_at``, ``pad_min``). Returns ``{step: params}``."""
    return gd_checkpoints(model, params0, x, y, lr=lr, steps=steps, start=start,
                          save_at=save_at, pad_min=pad_min, center=True)


def infinite_ntk(model: MLP, x1, x2) -> jax.Array:
    """The infinite-width NTK ``(n1, n2)`` of ``model``'s architecture between ``x1 (n1, d)``
    and ``x2 (n2, d)``, jitted (one compile instead of one per op)."""
    kernel_fn = infinite_kernel_fn(model)
    return jax.jit(lambda a, b: kernel_fn(a, b).ntk)(jnp.asarray(x1), jnp.asarray(x2))


@V.checked
def log_sizes(lo: V.PositiveInt, hi: V.PositiveInt, num: V.PositiveInt) -> np.ndarray:
    """``num`` distinct integers log-spaced from ``lo`` to ``hi``: ``(<= num,)``."""
    return np.unique(np.round(np.geomspace(lo, hi, num)).astype(int))


MATFREE_FROM = 2048  # n from which entk_init_curve's 'auto' route goes matrix-free


def entk_init_curve(task: Task, ns: Sequence[int], *, key: jax.Array, width: int = 256,
                    depth: int = 1, parametrization: str = "ntk", kernel: str = "pntk",
                    ridge: float = 1e-3, route: str = "auto", rank: int = 1000,
                    tol: float = 1e-6, x64: bool = True,
                    progress: bool = False) -> ScalingCurves:
    """Test loss vs ``n`` of the eNTK-at-init learner, past the kernel matrix's memory.

    The ``entk_init`` learner of :func:`data_scaling` (same model, same init from
    ``key``, same relative ``ridge``) at sizes ``ns`` up to the task's pool size;
    ``route='dense'`` uses :func:`kernel_predict` (the ``(n, n)`` kernel),
    ``'matfree'`` :func:`~ntk_explore.core.matfree.matfree_kernel_predict`
    (conjugate gradients on Jacobian products, ``O(n P)`` time per iteration and no
    ``n x n`` matrix; Nystrom preconditioner of ``rank`` columns, relative
    residual ``tol``), ``'auto'`` dense below :data:`MATFREE_FROM` and matrix-free
    from there. With ``x64`` (default) the matrix-free solves run in float64 inside
    ``jax.enable_x64`` (the rest of the session keeps its precision): in float32 CG's
    true residual stalls near ``1e-3`` at ``n = 16,384`` (measured).
    For ``n`` beyond ``load_digits`` use ``teacher_task(n_pool=n_max)``: its test set
    and first pool points do not depend on ``n_pool``.

    ``ridge`` must be > 0 once ``n k`` exceeds the parameter count (the kernel is
    then singular and the ridgeless solve has no interpolant; see
    :mod:`ntk_explore.core.matfree`); the default ``1e-3`` is relative to the
    kernel's mean diagonal, as in :func:`regress`.

    Returns:
      :class:`ScalingCurves` with only ``losses['entk_init']`` ``(len(ns),)``
      (``steps=0``, ``n_pre=0``).
    """
    ns = check_sizes(ns, task.x.shape[0])
    check_learners(("entk_init",), kernel)
    model = mlp(task.x.shape[1], width, depth, task.y.shape[1], parametrization=parametrization)
    p0 = init_from_draw(model, key)
    losses = [entk_init_loss(model, p0, task, int(n), kernel=kernel, ridge=ridge, route=route,
                             rank=rank, tol=tol, x64=x64, progress=progress) for n in ns]
    return ScalingCurves(task.name, ns, {"entk_init": np.asarray(losses, np.float64)},
                         width, 0, 0, kernel)


def entk_init_loss(model: MLP, params, task: Task, n: int, *, kernel: str = "pntk",
                   ridge: float = 1e-3, route: str = "auto", rank: int = 1000,
                   tol: float = 1e-6, x64: bool = True, progress: bool = False) -> float:
    """Test loss of kernel regression with ``model``'s tangent kernel at ``params`` on the
    first ``n`` pool points of ``task``: one point of :func:`entk_init_curve` (see there
    for ``route``, ``rank``, ``tol``, ``x64``)."""
    if route not in ("auto", "dense", "matfree"):
        raise ValueError(f"unknown route {route!r}; choose 'auto', 'dense' or 'matfree'")
    x, y = task.x[:n], task.y[:n]
    if route == "dense" or (route == "auto" and n < MATFREE_FROM):
        pred = kernel_predict(model, params, x, y, task.x_test, kernel=kernel, ridge=ridge)
    else:
        pred = matfree_predict(model, params, x, y, task.x_test, x64=x64, kernel=kernel,
                               ridge=ridge, rank=rank, tol=tol, progress=progress)
    return test_loss(pred, task.y_test)


def matfree_predict(model: MLP, params, x, y, x_test, *, x64: bool = True,
                    **kwargs) -> np.ndarray:
    """:func:`matfree_kernel_predict` (``x (n, d)``, ``y (n, k)``, ``x_test (T, d)`` ->
    ``(T, k)``), run in float64 (params cast too) when ``x64``; ``kwargs`` go there."""
    if not x64:
        return matfree_kernel_predict(model, params, x, y, x_test, **kwargs)
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        f64 = [np.asarray(a, np.float64) for a in (x, y, x_test)]
        return matfree_kernel_predict(model, p64, *f64, **kwargs)
