"""Pool-based active learning with eNTK look-ahead (Mohamadi, Bae and Sutherland).

"What would the net predict if I retrained it with one more labelled point?"
is approximated by linearising the net ``f_L`` trained on the labelled set
``L`` and doing kernel regression with its tangent kernel ``K`` at those
weights::

    f_{L+c}(x) ~ f_L(x) + K(x, X') K(X', X')^-1 (y' - f_L(X')),   X' = X_L + {c}

Adding ``c`` appends one row and column to ``K(X_L, X_L)``, so its Cholesky
factor grows by one row (:func:`cholesky_append`) and the change in
predictions caused by ``c`` is a rank-one term (:func:`lookahead_delta`)::

    u = K_LL^-1 k_Lc,   s = k_cc - k_Lc . u   (Schur complement)
    delta(x) = (k(x, c) - K(x, X_L) u) (r_c - u . r_L) / s

with residuals ``r = y - f_L``. Given one factorisation of ``K_LL`` each
candidate costs ``O(m**2 + E m)`` (``m`` labels, ``E`` evaluation points)
instead of an ``O(m**3)`` re-solve. The kernel is the pNTK (``pNTK (x) I_k``;
see :mod:`ntk_explore.topics.pntk_study`), so the update is rank one; a full-eNTK
version would append ``k x k`` blocks, which :func:`cholesky_append` supports.

The acquisition score of a candidate is the mean squared change of the
predictions on evaluation points, with the candidate's unknown label replaced
by the net's predicted class (an expected-model-change criterion).

A candidate already in the labelled set has a Schur complement of zero (up to the
jitter): with the residual it already has, the look-ahead change is zero (kernel
regression interpolates it already), with another one the update is 0/0. Gradient descent
on a duplicated point does change the net, so candidates are always drawn from the
unlabelled pool (:func:`retrain_check` refuses an overlap).

Source: :data:`LOOKAHEAD` (Mohamadi, Bae & Sutherland 2022).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import threading
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ..core import validation as V
from ..core.datasets import Task
from ..core.kernels import mlp_pntk
from ..core.models import MLP, init_from_draw, mlp
from ..core.training import gd_checkpoints, precompile_gd
from ..core.verdicts import Source

__all__ = [
    "LOOKAHEAD", "cholesky_append", "Lookahead", "lookahead_prepare", "lookahead_delta",
    "lookahead_scores", "lookahead_resolve", "STRATEGIES", "AcquisitionCurve",
    "acquisition_curve", "RetrainCheck", "retrain_check", "pseudo_targets", "precompile",
    "final_accuracy",
]

STRATEGIES = ("random", "uncertainty", "lookahead")

LOOKAHEAD = Source("Mohamad Amin Mohamadi, Wonho Bae, Danica J. Sutherland",
                   "Making Look-Ahead Active Learning Strategies Feasible with Neural Tangent "
                   "Kernels", 2022, "NeurIPS 2022, arXiv:2206.12569",
                   "https://arxiv.org/abs/2206.12569")
"""The paper behind the eNTK look-ahead acquisition of this module."""


@V.checked
def cholesky_append(chol, b, c):
    """Cholesky factor of ``[[A, b], [b^T, c]]`` from ``chol = cholesky(A)`` (lower).

    ``chol (m, m)``, ``b (m, q)``, ``c (q, q)`` -> ``(m + q, m + q)`` lower
    factor, in ``O(m**2 q + q**3)``. Raises ``LinAlgError`` if the Schur
    complement ``c - b^T A^-1 b`` is not positive definite.
    """
    chol, b, c = (np.asarray(a, np.float64) for a in (chol, b, c))
    m, q = b.shape
    if chol.shape != (m, m) or c.shape != (q, q):
        raise ValueError(f"need chol (m, m), b (m, q), c (q, q); got {chol.shape}, {b.shape}, "
                         f"{c.shape}")
    l21 = scipy.linalg.solve_triangular(chol, b, lower=True)  # (m, q)
    l22 = np.linalg.cholesky(c - l21.T @ l21)  # (q, q)
    return np.block([[chol, np.zeros((m, q))], [l21.T, l22]])


class Lookahead(NamedTuple):
    """Factorised labelled-set kernel: ``chol (m, m)``, residuals ``resid (m, k)``,
    ``alpha = K_LL^-1 resid (m, k)``."""

    chol: np.ndarray
    resid: np.ndarray
    alpha: np.ndarray


@V.checked
def lookahead_prepare(k_ll, resid, *, jitter: V.NonNegativeFloat = 1e-10) -> Lookahead:
    """Factorise ``k_ll (m, m)`` once (with ``jitter * mean diag``); ``resid (m, k)``."""
    K = np.asarray(k_ll, np.float64)
    r = np.asarray(resid, np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or r.shape[:1] != K.shape[:1]:
        raise ValueError(f"need k_ll (m, m) and resid (m, k), got {K.shape} and {r.shape}")
    K = K + jitter * float(np.mean(np.diag(K))) * np.eye(K.shape[0])
    chol = np.linalg.cholesky(K)
    return Lookahead(chol, r, scipy.linalg.cho_solve((chol, True), r))


@V.checked
def lookahead_delta(la: Lookahead, k_lc, k_cc, k_el, k_ec, r_c):
    """Change of eval predictions when candidate(s) ``c`` join the labelled set.

    Args:
      la: from :func:`lookahead_prepare`.
      k_lc: ``(m, P)`` kernel between labelled points and ``P`` candidates.
      k_cc: ``(P,)`` candidates' kernel diagonal.
      k_el: ``(E, m)``; k_ec: ``(E, P)`` kernels from evaluation points.
      r_c: ``(P, k)`` candidates' residuals ``y_c - f_L(x_c)``.

    Returns:
      ``delta (P, E, k)``: for each candidate alone, predicted output change
      on the eval points beyond the labelled-set term ``K_EL alpha``.
    """
    k_lc, k_el, k_ec = (np.asarray(a, np.float64) for a in (k_lc, k_el, k_ec))
    u = scipy.linalg.cho_solve((la.chol, True), k_lc)  # (m, P)
    schur = np.asarray(k_cc, np.float64) - np.sum(k_lc * u, axis=0)  # (P,)
    coef = (np.asarray(r_c, np.float64) - u.T @ la.resid) / schur[:, None]  # (P, k)
    direction = k_ec - k_el @ u  # (E, P)
    return direction.T[:, :, None] * coef[:, None, :]


@V.checked
def lookahead_resolve(k_all, resid_all, k_eval_all):
    """Reference by a full solve: ``K_eval,all K_all^-1 resid_all``.

    ``k_all (m', m')``, ``resid_all (m', k)``, ``k_eval_all (E, m')`` -> ``(E, k)``.
    """
    K = np.asarray(k_all, np.float64)
    return np.asarray(k_eval_all, np.float64) @ np.linalg.solve(K, np.asarray(resid_all, np.float64))


@V.checked
def pseudo_targets(outputs, n_classes: V.PositiveInt):
    """Centred one-hot of the predicted class: ``(P, k) -> (P, k)``."""
    pred = np.asarray(outputs).argmax(1)
    return np.eye(n_classes)[pred] - 1.0 / n_classes


@V.checked
def lookahead_scores(kernel, labelled, candidates, evals, f, y_labelled, *,
                     jitter: V.NonNegativeFloat = 1e-10) -> np.ndarray:
    """Mean squared look-ahead change on ``evals`` per candidate: ``(P,)``.

    ``kernel (N, N)`` on all pool points; ``labelled (m,)``, ``candidates (P,)``
    and ``evals (E,)`` index it; ``f (N, k)`` current outputs;
    ``y_labelled (m, k)`` targets. Candidates' labels are the predicted classes.
    """
    K = np.asarray(kernel, np.float64)
    f = np.asarray(f, np.float64)
    la = lookahead_prepare(K[np.ix_(labelled, labelled)], y_labelled - f[labelled],
                           jitter=jitter)
    r_c = pseudo_targets(f[candidates], f.shape[1]) - f[candidates]
    delta = lookahead_delta(la, K[np.ix_(labelled, candidates)], np.diag(K)[candidates],
                            K[np.ix_(evals, labelled)], K[np.ix_(evals, candidates)], r_c)
    return np.mean(np.sum(delta**2, axis=-1), axis=-1)


@dataclasses.dataclass(frozen=True)
class AcquisitionCurve:
    """Test accuracy ``accuracy (R,)`` after ``labels (R,)`` labelled points."""

    strategy: str
    labels: np.ndarray
    accuracy: np.ndarray


class _Net:
    """The centred net of one (model, key) with jitted outputs and a cache of fits.

    Training goes through :func:`~ntk_explore.core.training.gd_checkpoints` (centred) with the
    labelled set padded (masked rows) to a multiple of ``_BUCKET`` points, so a
    few compiled GD loops per width serve every labelled-set size. A fit is
    cached by (start, labelled indices, targets, steps): every strategy of one
    seed starts from the same labelled set, so round 0 trains once.
    """

    _BUCKET = 32

    def __init__(self, model: MLP, key: jax.Array):
        # every width up to 1024 cuts its init from one compiled draw (no compile per width)
        self.model = model
        self.params0 = init_from_draw(model, key,
                                      draw_size=dataclasses.replace(model, width=1024).num_params)
        self._fits: collections.OrderedDict = collections.OrderedDict()
        self._both_src, self._both = None, None

    def _bucket(self, n: int) -> int:
        return -(-int(n) // self._BUCKET) * self._BUCKET

    def precompile(self, task: Task, sizes: Sequence[int], lr: float = 1.0) -> None:
        """Compile ahead of time the GD loops for labelled sets of these sizes, the
        outputs and the pool pNTK (nothing is trained or cached)."""
        dtype = jnp.zeros(()).dtype
        d, k, p = task.x.shape[1], task.y.shape[1], self.params0
        for size in sorted({self._bucket(n) for n in sizes}):
            precompile_gd(self.model, p, size, d, k, dtype, center=True)
        self.pool_and_test(p, task)
        mlp_pntk(self.model)(jnp.asarray(task.x), None, p)

    def outputs(self, params, x) -> np.ndarray:
        """Centred outputs ``f(params, x) - f(params0, x)``: ``(n, d) -> (n, k)``."""
        return np.asarray(_centered_outputs(self.model, params, self.params0, jnp.asarray(x)))

    def pool_and_test(self, params, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """Centred outputs on the pool ``(N, k)`` and the test set ``(T, k)``, in one call of
        one shape (one compile per width)."""
        src = self._both_src
        if src is None or src[0] is not task.x or src[1] is not task.x_test:  # once per task
            self._both_src, self._both = (task.x, task.x_test), np.concatenate([task.x, task.x_test])
        f = self.outputs(params, self._both)
        return f[:task.x.shape[0]], f[task.x.shape[0]:]

    def fit(self, task: Task, idx, y, lr: float, steps: int, start=None):
        """GD on pool points ``idx`` with targets ``y (m, k)`` from ``params0`` (or ``start``)."""
        idx, y = np.asarray(idx), np.asarray(y, np.float64)
        x = np.asarray(task.x)[idx]
        data = hashlib.sha1(x.tobytes() + y.tobytes() + str(x.shape).encode()).hexdigest()
        tag = (None if start is None else id(start), data, lr, steps)
        if tag in self._fits:
            self._fits.move_to_end(tag)
            return self._fits[tag][1]
        bucket = self._bucket(idx.size)
        params = gd_checkpoints(self.model, self.params0, x, y, lr=lr, steps=steps,
                                start=None if start is None else (0, start),
                                pad_min=bucket, center=True)[steps]
        self._fits[tag] = (start, params)  # keeps ``start`` alive so its id stays unique
        while len(self._fits) > 48:
            self._fits.popitem(last=False)
        return params


@jax.jit
def _centered_outputs(model: MLP, params, params0, x):
    return model.apply(params, x) - model.apply(params0, x)


_NETS: collections.OrderedDict = collections.OrderedDict()
_NETS_LOCK = threading.Lock()  # an app's background precompile shares this cache


def _centered_net(model: MLP, key: jax.Array) -> _Net:
    """One :class:`_Net` per (model, key), shared across strategies and seeds (bounded)."""
    tag = (model, np.asarray(jax.random.key_data(key)).tobytes())
    with _NETS_LOCK:
        if tag in _NETS:
            _NETS.move_to_end(tag)
        else:
            _NETS[tag] = _Net(model, key)
            while len(_NETS) > 12:
                _NETS.popitem(last=False)
        return _NETS[tag]


@V.checked
def precompile(task: Task, widths: V.Sizes, *, key: V.Key,
               sizes: V.Sizes, lr: V.PositiveFloat = 1.0) -> None:
    """Compile what :func:`acquisition_curve` runs for nets of these widths and labelled
    sets of these sizes, so that a later call there only computes."""
    for width in widths:
        model = mlp(task.x.shape[1], int(width), 1, task.y.shape[1])
        _centered_net(model, key).precompile(task, sizes, lr)


def _choose(strategy, rng, net: _Net, params, f, task, labelled, pool_left, evals, count):
    """``count`` pool points to label next; ``f (N, k)``: the net's pool outputs."""
    if strategy == "random":
        return rng.choice(pool_left, count, replace=False)
    if strategy == "uncertainty":
        top2 = np.sort(f[pool_left], axis=1)[:, -2:]
        return pool_left[np.argsort(top2[:, 1] - top2[:, 0])[:count]]  # smallest margin
    K = np.asarray(mlp_pntk(net.model)(jnp.asarray(task.x), None, params))
    scores = lookahead_scores(K, labelled, pool_left, evals, f, task.y[labelled])
    return pool_left[np.argsort(-scores)[:count]]


@V.checked
def acquisition_curve(task: Task, strategy: str, *, key: V.Key, seed: V.NonNegativeInt = 0,
                      n_init: V.PositiveInt = 20, per_round: V.PositiveInt = 10, rounds: V.PositiveInt = 8,
                      width: V.PositiveInt = 256, steps: V.NonNegativeInt = 400, lr: V.PositiveFloat = 1.0,
                      n_eval: V.PositiveInt = 300) -> AcquisitionCurve:
    """Accuracy vs number of labels for one acquisition ``strategy`` (see :data:`STRATEGIES`).

    The net (ReLU MLP, one hidden layer, NTK parametrization, centred) is
    retrained from the same init on the labelled set each round (``steps``
    of full-batch GD at ``lr``); ``per_round`` points are then acquired.
    ``seed`` picks the initial labelled set and the ``n_eval`` evaluation
    points used by the look-ahead score. Returns ``rounds + 1`` points.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
    if task.labels is None:
        raise ValueError("acquisition_curve needs a classification task (labels)")
    rng = np.random.default_rng(seed)
    N = task.x.shape[0]
    labelled = rng.choice(N, n_init, replace=False)
    evals = rng.choice(N, min(n_eval, N), replace=False)
    model = mlp(task.x.shape[1], width, 1, task.y.shape[1])
    net = _centered_net(model, key)
    counts, accs = [], []
    for r in range(rounds + 1):
        params = net.fit(task, labelled, task.y[labelled], lr, steps)
        f, f_test = net.pool_and_test(params, task)
        pred = f_test.argmax(1)
        counts.append(labelled.size)
        accs.append(float(np.mean(pred == task.labels_test)))
        if r < rounds:
            left = np.setdiff1d(np.arange(N), labelled)
            new = _choose(strategy, rng, net, params, f, task, labelled, left, evals, per_round)
            labelled = np.concatenate([labelled, new])
    return AcquisitionCurve(strategy, np.array(counts), np.array(accs))


def final_accuracy(runs: Sequence[AcquisitionCurve]) -> tuple[float, float, float]:
    """``(mean, lowest, highest)`` test accuracy at the last round over ``runs`` (one per seed)."""
    last = np.array([c.accuracy[-1] for c in runs], np.float64)
    return float(last.mean()), float(last.min()), float(last.max())


class RetrainCheck(NamedTuple):
    """Look-ahead vs actual retraining for a few candidates.

    ``predicted (C, E, k)``: look-ahead ``delta_c``; ``actual (C, E, k)``:
    outputs after retraining with ``c`` minus outputs after retraining without;
    ``cosine (C,)`` between them; ``rel_error (C,)`` ``||pred - actual|| / ||actual||``;
    ``scores_pred``/``scores_actual (C,)`` mean squared changes; ``labelled (m,)`` the
    labelled pool indices the net was trained on (disjoint from ``candidates``).
    """

    candidates: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    cosine: np.ndarray
    rel_error: np.ndarray
    scores_pred: np.ndarray
    scores_actual: np.ndarray
    labelled: np.ndarray

    @property
    def length_ratio(self) -> np.ndarray:
        """``||predicted_c|| / ||actual_c||`` per candidate: ``(C,)``. With the cosine it
        gives the relative error: ``err^2 = 1 + r^2 - 2 r cos``."""
        c = len(self.candidates)
        return (np.linalg.norm(self.predicted.reshape(c, -1), axis=1)
                / np.linalg.norm(self.actual.reshape(c, -1), axis=1))


@V.checked
def retrain_check(task: Task, candidates: V.NonNegativeInts, *, key: V.Key, labelled=None,
                  n_labelled: V.PositiveInt = 40, width: V.PositiveInt = 256, steps: V.NonNegativeInt = 400,
                  retrain_steps: V.NonNegativeInt = 400, lr: V.PositiveFloat = 1.0,
                  n_eval: V.PositiveInt = 200, seed: V.NonNegativeInt = 0) -> RetrainCheck:
    """Compare the look-ahead change with warm-start retraining on ``L + {c}``.

    The net is trained on ``labelled`` (default: ``n_labelled`` random pool
    points); for each candidate, it is retrained from those weights for
    ``retrain_steps`` with the candidate added under its predicted label, and
    the change of outputs on ``n_eval`` pool points, minus the change from
    retraining as long without it, is compared with the look-ahead ``delta_c``
    (eval points exclude ``L`` and the candidates). The default labelled set is drawn
    from the pool without the candidates; a given ``labelled`` must not contain any.
    """
    rng = np.random.default_rng(seed)
    N = task.x.shape[0]
    cands = np.asarray(candidates)
    if labelled is None:
        labelled = rng.choice(np.setdiff1d(np.arange(N), cands), n_labelled, replace=False)
    labelled = np.asarray(labelled)
    both = np.intersect1d(labelled, cands)
    if both.size:
        raise ValueError(f"candidates {both.tolist()} are already labelled: a labelled point "
                         "has no look-ahead change (kernel regression interpolates it already)")
    others = np.setdiff1d(np.arange(N), np.concatenate([labelled, cands]))
    evals = rng.choice(others, min(n_eval, others.size), replace=False)
    model = mlp(task.x.shape[1], width, 1, task.y.shape[1])
    net = _centered_net(model, key)
    params = net.fit(task, labelled, task.y[labelled], lr, steps)
    X = jnp.asarray(task.x)
    f = net.pool_and_test(params, task)[0].astype(np.float64)
    K = np.asarray(mlp_pntk(model)(X, None, params), np.float64)
    la = lookahead_prepare(K[np.ix_(labelled, labelled)], task.y[labelled] - f[labelled])
    y_c = pseudo_targets(f[cands], f.shape[1])
    delta = lookahead_delta(la, K[np.ix_(labelled, cands)], np.diag(K)[cands],
                            K[np.ix_(evals, labelled)], K[np.ix_(evals, cands)], y_c - f[cands])
    none = _retrained_change(net, params, task, labelled, None, None, evals, f, lr,
                             retrain_steps)
    actual = np.stack([_retrained_change(net, params, task, labelled, c, yc, evals, f, lr,
                                         retrain_steps) - none for c, yc in zip(cands, y_c)])
    p2, a2 = delta.reshape(len(cands), -1), actual.reshape(len(cands), -1)
    cos = np.sum(p2 * a2, 1) / (np.linalg.norm(p2, axis=1) * np.linalg.norm(a2, axis=1))
    return RetrainCheck(cands, delta, actual, cos,
                        np.linalg.norm(p2 - a2, axis=1) / np.linalg.norm(a2, axis=1),
                        np.mean(np.sum(delta**2, -1), -1), np.mean(np.sum(actual**2, -1), -1),
                        labelled)


def _retrained_change(net: _Net, params, task, labelled, c, y_c, evals, f, lr, steps):
    idx, y = labelled, task.y[labelled]
    if c is not None:
        idx = np.append(labelled, c)
        y = np.concatenate([y, y_c[None, :]])
    new = net.fit(task, idx, y, lr, steps, start=params)
    return net.pool_and_test(new, task)[0][evals].astype(np.float64) - f[evals]
