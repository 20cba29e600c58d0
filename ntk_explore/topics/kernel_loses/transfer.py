"""Transfer with a shared feature, and sparse parity."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...core import metrics as km
from ...core import tasks as tk
from ...core import validation as V
from ...core.learners import (
    centred_predict,
    check_n_pre,
    entk_fn,
    eval_digest,
    kernel_error,
    make_task,
    net_model,
    ntk_fn,
    one_step_params,
    pretrain_set,
    readout_kernel_fn,
    settings_from,
    train_net,
)
from ...core.training import DivergenceError

__all__ = ["PRETRAINING", "ParityResult", "TARGET_ONLY", "TRANSFER_LEARNERS", "TransferResult",
    "USES_PRETRAINED", "parity_experiment", "transfer_experiment"]


# ---------------------------------------------------------------------------
# sparse parity


@dataclasses.dataclass(frozen=True)
class ParityResult:
    """Test accuracies ``net``, ``ntk`` of shape ``(seeds, S)`` at sizes ``ns``."""

    ns: np.ndarray
    net: np.ndarray
    ntk: np.ndarray
    d: int
    k: int


@V.checked
def parity_experiment(key: V.Key, sizes: V.Sizes = (1000,), *, d: V.PositiveInt = 20, k: V.PositiveInt = 3,
                      width: V.PositiveInt = 1000, steps: V.NonNegativeInt = 1000, lr: V.PositiveFloat = 0.5,
                      batch_size: V.PositiveInt = 128, seeds: V.PositiveInt = 1,
                      dtype=jnp.float32) -> ParityResult:
    """``k``-sparse parity on ``d`` bits: mean-field MLP trained by minibatch SGD vs NTK ridge."""
    ns = np.asarray(sorted(int(n) for n in sizes))
    net, ntk = np.zeros((seeds, ns.size)), np.zeros((seeds, ns.size))
    for i, kk in enumerate(jax.random.split(key, seeds)):
        k_task, k_init, k_sgd = jax.random.split(kk, 3)
        task = tk.parity_task(k_task, int(ns[-1]), d=d, k=k, dtype=dtype)
        model = net_model(d, width, 1)
        p0 = model.init(k_init, dtype=dtype)
        for j, n in enumerate(ns):
            x, y = task.train_set(int(n))
            bs = min(batch_size, int(n))
            p = train_net(model, p0, x, y, lr=lr, steps=steps, batch_size=bs, key=k_sgd).params
            net[i, j] = km.sign_accuracy(centred_predict(model, p, p0, task.x_test), task.y_test)
            ntk[i, j] = kernel_error(ntk_fn(model), task, int(n), metric="accuracy")
    return ParityResult(ns, net, ntk, d, k)

# ---------------------------------------------------------------------------
# transfer with a shared feature

TRANSFER_LEARNERS = ("probe", "finetune", "target_only", "target_one_step", "linearized_init",
                     "ntk")
"""``probe``: ridge on the pretrained net's hidden features (frozen) and a constant;
``finetune``: the pretrained net with a fresh zero readout, trained by GD on the target;
``target_only``: the net from its init trained by GD on the target alone (same steps, and
its rate chosen on validation from the same grid as ``finetune``'s); ``target_one_step``:
one big first-layer step on the target's own samples, then the probe (the pretraining
recipe without the source task);
``linearized_init``: eNTK ridge at init; ``ntk``: infinite-width NTK ridge."""
USES_PRETRAINED = ("probe", "finetune")
"""The learners that use the pretrained net."""
TARGET_ONLY = ("target_only", "target_one_step")
"""The learners that see the target's samples only (no source task)."""
PRETRAINING = ("one_step", "gd")
"""How the source task is learned: one big GD step on the first layer (Ba et al. 2022), or
``steps`` full-batch GD steps at the data-scaling rate ``lr``."""


@dataclasses.dataclass(frozen=True)
class TransferResult:
    """Target test error ``errors[name]`` ``(seeds, M)`` at target sizes ``ms`` ``(M,)``; the
    source and target links, ``n_pre``, the pretraining recipe, the nets' rate grid
    ``rates`` and the rate each net chose on validation, ``chosen[name]`` ``(seeds, M)``
    (``finetune``, ``target_only``); one :func:`eval_digest` per seed."""

    ms: np.ndarray
    errors: dict
    g1: str
    g2: str
    n_pre: int
    pretraining: str
    rates: tuple
    chosen: dict
    eval_sets: tuple = ()

    def mean(self, name: str) -> np.ndarray:
        return self.errors[name].mean(axis=0)

    def best(self, names: Sequence[str], at: int = 0) -> str:
        """Of ``names`` (those present), the learner with the lowest seed-mean error at ``ms[at]``."""
        present = [k for k in names if k in self.errors]
        if not present:
            raise ValueError(f"none of {list(names)} was run; this result has {list(self.errors)}")
        return min(present, key=lambda k: self.mean(k)[at])

    def ratios(self, at: int = 0) -> dict:
        """Per-seed error ratios ``(seeds,)`` at ``ms[at]`` of the best learner that uses the
        pretrained net: over the eNTK at init (``'to_entk_init'``) and over the best
        target-only learner (``'to_target_only'``)."""
        pre, tgt = self.best(USES_PRETRAINED, at), self.best(TARGET_ONLY, at)
        e = self.errors
        return {"to_entk_init": e[pre][:, at] / e["linearized_init"][:, at],
                "to_target_only": e[pre][:, at] / e[tgt][:, at]}


def _zero_readout(params):
    last = {k: jnp.zeros_like(v) for k, v in params[-1].items()}
    return list(params[:-1]) + [last]


def _net_on_target(model, start, x, y, task, rates, steps):
    """GD from ``start`` on ``(x, y)`` at each rate of ``rates``; the run with the lowest
    validation error (diverged runs skipped): ``(test error, rate)``."""
    best, failure = None, None
    for lr in rates:
        try:
            p = train_net(model, start, x, y, lr=lr, steps=steps).params
        except DivergenceError as err:
            failure = err
            continue
        val = km.unexplained_variance(centred_predict(model, p, start, task.x_val), task.y_val)
        if best is None or val < best[0]:
            best = (val, lr, p)
    if best is None:
        failure.add_note(f"every rate in {tuple(rates)} diverged; add a smaller one")
        raise failure
    return km.unexplained_variance(centred_predict(model, best[2], start, task.x_test),
                                   task.y_test), best[1]


def _pretrain(model, p0, x, y, s, how):
    if how == "one_step":
        return one_step_params(model, p0, x, y, lr=s["one_step_lr"])
    return train_net(model, p0, x, y, lr=s["lr"], steps=s["steps"]).params


@V.checked
def transfer_experiment(key: V.Key, ms: V.Sizes = (16, 32, 64, 128, 256), *,
                        g1: str = "he1_he3", g2: str = "relu", n_pre: V.PositiveInt = 2048,
                        seeds: V.PositiveInt = 3, pretraining: str = "one_step",
                        rates: Sequence[float] = (0.1, 0.01),
                        learners: Sequence[str] = TRANSFER_LEARNERS, dtype=jnp.float32,
                        **settings) -> TransferResult:
    """Learn ``g1(w . x)`` from ``n_pre`` samples, then ``g2(w . x)`` (same ``w``) from ``m``.

    The source samples are :func:`pretrain_set` rows with ``g1`` targets, the target's
    training samples the first ``m`` pool rows with ``g2`` targets, and validation and
    test sets (``g2``) are fixed per seed (:func:`make_task`). ``pretraining``: one of
    :data:`PRETRAINING`. Both nets (``finetune``, ``target_only``) train ``steps`` GD
    steps at each of ``rates`` and keep the run with the lowest validation error (the
    kernels' ridge is chosen the same way); diverged runs are skipped. The data-scaling
    rate ``lr = 0.5`` makes fine-tuning from one-big-step features diverge.
    ``settings``: as :func:`data_scaling`.

    Raises:
      ValueError: ``m`` outside ``[2, 4096]``, ``n_pre`` outside ``[8, 8192]``, an
        unknown learner, pretraining or setting (named).
    """
    s = settings_from(settings, "transfer_experiment")
    ms = np.asarray(sorted(int(m) for m in ms))
    if ms.size == 0 or ms[0] < 2 or ms[-1] > 4096:
        raise ValueError(f"every m must be in [2, 4096], got {ms.tolist()}")
    n_pre = check_n_pre(n_pre)
    V.check_choice("pretraining", pretraining, PRETRAINING)
    rates = tuple(float(V.check_positive_float("rates", r)) for r in rates)
    if not rates:
        raise ValueError("rates must hold at least one learning rate")
    bad = set(learners) - set(TRANSFER_LEARNERS)
    if bad:
        raise ValueError(f"unknown learners {sorted(bad)}; choose from {TRANSFER_LEARNERS}")
    errors = {name: np.zeros((seeds, ms.size)) for name in learners}
    chosen = {name: np.zeros((seeds, ms.size)) for name in ("finetune", "target_only")
              if name in learners}
    digests = []
    for i, kk in enumerate(jax.random.split(key, seeds)):
        k_task, k_init = jax.random.split(kk)
        src = make_task(k_task, s, dtype, g=g1)
        tgt = make_task(k_task, s, dtype, g=g2)  # same key and sizes: the same inputs and w
        digests.append(eval_digest(tgt))
        model = net_model(s["d"], s["width"], s["depth"], parametrization=s["parametrization"])
        p0 = model.init(k_init, dtype=dtype)
        pre = _zero_readout(_pretrain(model, p0, *pretrain_set(src, n_pre), s, pretraining))
        kernels = {"probe": readout_kernel_fn(model, pre), "linearized_init": entk_fn(model, p0),
                   "ntk": ntk_fn(model)}
        for j, m in enumerate(ms):
            x, y = tgt.train_set(int(m))
            for name in learners:
                if name in kernels:
                    errors[name][i, j] = kernel_error(kernels[name], tgt, int(m))
            if "target_one_step" in learners:
                p1 = one_step_params(model, p0, x, y, lr=s["one_step_lr"])
                errors["target_one_step"][i, j] = kernel_error(readout_kernel_fn(model, p1), tgt,
                                                               int(m))
            for name, start in (("finetune", pre), ("target_only", p0)):
                if name in learners:
                    errors[name][i, j], chosen[name][i, j] = _net_on_target(
                        model, start, x, y, tgt, rates, s["steps"])
    return TransferResult(ms, errors, g1, g2, n_pre, pretraining, rates, chosen, tuple(digests))
