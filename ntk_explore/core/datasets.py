"""Inputs and tasks: synthetic ones with known ground truth, and scikit-learn's
``load_digits`` (shipped with scikit-learn; nothing is downloaded), loaded by one
function (:func:`digits`) for every task built on it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import validation as V

__all__ = ["DigitsSplit", "digits_split", "standardised_digits", "KINDS", "Toy", "make_toy", "point_kinds",
           "circle", "sphere", "digits", "Task", "digits_task", "teacher_task", "DigitsTransfer",
           "digits_transfer"]


@V.checked
def circle(n: V.PositiveInt, dtype=None) -> tuple[jax.Array, np.ndarray]:
    """``n`` equally spaced points on the unit circle: ``(x (n, 2), angle (n,))``.

    Kernels of rotation-invariant nets are functions of the angle between two
    points, so heat maps over this grid are easy to read.
    """
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
    x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return jnp.asarray(x, dtype=dtype or jnp.zeros(()).dtype), theta


@V.checked
def sphere(key: V.Key, n: V.PositiveInt, d: V.PositiveInt, dtype=None) -> jax.Array:
    """``n`` points uniform on the unit sphere in ``R^d``: ``(n, d)``."""
    x = jax.random.normal(key, (n, d), dtype or jnp.zeros(()).dtype)
    return x / jnp.linalg.norm(x, axis=1, keepdims=True)


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


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, labels = load_digits(return_X_y=True)
    x.setflags(write=False)
    labels.setflags(write=False)
    return x, labels


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``load_digits`` (shipped with it, nothing is downloaded): pixels
    scaled to ``[0, 1]`` ``(1797, 64)`` and labels ``(1797,)``; loaded once."""
    x, labels = _load_digits()
    return x / 16.0, np.array(labels)


def _digits_arrays():
    x, labels = digits()
    x = (x - x.mean(0)[None, :]) / (x.std(0)[None, :] + 0.1)  # standardised pixels
    return x, labels


@V.checked
def digits_task(*, seed: V.NonNegativeInt = 0, n_test: V.PositiveInt = 400,
                n_extra: V.NonNegativeInt = 256) -> Task:
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
def teacher_task(*, seed: V.NonNegativeInt = 0, d: V.PositiveInt = 8, n_pool: V.PositiveInt = 1024,
                 n_test: V.PositiveInt = 400, n_extra: V.NonNegativeInt = 256,
                 teacher_width: V.PositiveInt = 4) -> Task:
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


class DigitsTransfer(NamedTuple):
    """``load_digits`` split by class: inputs scaled to [0, 1].

    ``x_source`` ``(Ns, 64)``, ``y_source`` ``(Ns, ks)`` one-hot; target train
    ``x_train`` ``(Nt, 64)``, ``y_train`` ``(Nt, kt)`` one-hot; target test
    ``x_test`` ``(Nv, 64)``, ``labels_test`` ``(Nv,)`` integers in ``[0, kt)``.
    """

    x_source: jax.Array
    y_source: jax.Array
    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    labels_test: np.ndarray


def _one_hot(labels, k, dtype):
    return jnp.asarray(np.eye(k)[labels], dtype)


@V.checked
def digits_transfer(*, source: V.NonNegativeInts = (0, 1, 2, 3, 4),
                    target: V.NonNegativeInts = (5, 6, 7, 8, 9), n_train: V.PositiveInt = 300,
                    split_seed: V.NonNegativeInt = 0, dtype=None) -> DigitsTransfer:
    """Source task = classes ``source``; target = classes ``target`` (relabelled
    ``0..kt-1``), ``n_train`` target points for training, the rest for test.
    The split is a fixed permutation (``split_seed``) so every run sees the same data."""
    if set(source) & set(target):
        raise ValueError(f"source {source} and target {target} classes overlap")
    x, labels = digits()
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    src = np.isin(labels, source)
    ls = np.searchsorted(np.array(sorted(source)), labels[src])
    tgt = np.flatnonzero(np.isin(labels, target))
    if not 0 < n_train < len(tgt):
        raise ValueError(f"n_train must be in [1, {len(tgt) - 1}], got {n_train}")
    tgt = np.random.default_rng(split_seed).permutation(tgt)
    lt = np.searchsorted(np.array(sorted(target)), labels[tgt])
    tr, te = tgt[:n_train], tgt[n_train:]
    kt = len(target)
    return DigitsTransfer(jnp.asarray(x[src], dtype), _one_hot(ls, len(source), dtype),
                          jnp.asarray(x[tr], dtype), _one_hot(lt[:n_train], kt, dtype),
                          jnp.asarray(x[te], dtype), lt[n_train:])


# ---------------------------------------------------------------------------
# a Gaussian mixture with known true conditionals p* (notebook 05)

KINDS = ("easy", "hard", "mislabelled")


# ---------------------------------------------------------------------------
# the toy task


class Toy(NamedTuple):
    """Gaussian-mixture task with known ``p*``.

    Inputs are stored divided by ``sqrt(noise + 2/3)`` (unit variance per
    coordinate, so the net's outputs at init are O(1)); ``p*`` is that of the
    unscaled mixture, which is the same function of the sample.

    Attributes:
      x: ``(n, d)`` training inputs (scaled); y: ``(n,)`` int labels drawn from ``p*``;
      onehot: ``(n, k)``; pstar: ``(n, k)`` true conditionals;
      x_test, y_test, pstar_test: the same for ``n_test`` test points;
      mu: ``(k, d)`` class means; noise: the per-coordinate variance.
    """

    x: np.ndarray
    y: np.ndarray
    onehot: np.ndarray
    pstar: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pstar_test: np.ndarray
    mu: np.ndarray
    noise: float


def _pstar(x, mu, noise):
    """``p*(c | x)`` of shape ``(n, k)`` for ``x`` ``(n, d)``, ``mu`` ``(k, d)``."""
    sq = jnp.sum((x[:, None, :] - mu[None, :, :]) ** 2, axis=-1)  # (n, k)
    return jax.nn.softmax(-sq / (2.0 * noise), axis=-1)


def _sample(key, mu, noise, n):
    ky, kx = jax.random.split(key)
    k, d = mu.shape
    y = jax.random.randint(ky, (n,), 0, k)
    x = mu[y] + jnp.sqrt(noise) * jax.random.normal(kx, (n, d), mu.dtype)
    return x, y


@V.checked
def make_toy(key: V.Key, *, dim: V.PositiveInt = 30, n_train: V.PositiveInt = 600,
             n_test: V.PositiveInt = 3000, classes: V.PositiveInt = 3,
             noise: V.PositiveFloat = 4.0) -> Toy:
    """Draw the Gaussian-mixture task of notebook 05 (:mod:`ntk_explore.topics.zigzag`):
    ``y`` uniform over ``classes``, ``x | y ~ N(mu_y, noise I)``; ``noise`` is the variance.

    Returns a :class:`Toy` with ``x`` ``(n_train, dim)``, ``pstar`` ``(n_train, classes)``.
    """
    if classes < 2:
        raise ValueError(f"classes must be at least 2, got {classes}")
    kmu, ktr, kte = jax.random.split(key, 3)
    mu = jax.random.randint(kmu, (classes, dim), -1, 2).astype(jnp.zeros(()).dtype)
    x, y = _sample(ktr, mu, noise, n_train)
    xt, yt = _sample(kte, mu, noise, n_test)
    onehot = jax.nn.one_hot(y, classes, dtype=mu.dtype)
    scale = 1.0 / np.sqrt(noise + 2.0 / 3.0)  # unit variance per input coordinate
    return Toy(*(np.asarray(a) for a in (scale * x, y, onehot, _pstar(x, mu, noise),
                                         scale * xt, yt, _pstar(xt, mu, noise), mu)),
               float(noise))


@V.checked
def point_kinds(toy: Toy, easy_threshold: V.UnitInterval = 0.9) -> np.ndarray:
    """``(n,)`` strings: 'mislabelled' (label != argmax p*), 'easy'
    (p*(label) > easy_threshold), else 'hard'."""
    n = len(toy.y)
    p_label = toy.pstar[np.arange(n), toy.y]
    kinds = np.where(p_label > easy_threshold, "easy", "hard").astype(object)
    kinds[toy.pstar.argmax(1) != toy.y] = "mislabelled"
    return kinds


# ---------------------------------------------------------------------------
# load_digits split for the real-image experiment (notebook 07)


class DigitsSplit(NamedTuple):
    """One seed's split of ``load_digits``: indices into the 1797 images.

    ``pool (n_pool,)``, ``val (n_val,)``, ``test (T,)``; ``x (1797, 64)`` standardised
    pixels, ``y (1797, 10)`` one-hot minus 0.1, ``labels (1797,)``.
    """

    pool: np.ndarray
    val: np.ndarray
    test: np.ndarray
    x: np.ndarray
    y: np.ndarray
    labels: np.ndarray

    def rows(self, n: int) -> np.ndarray:
        """Indices ``[pool[:n]; val; test]``: the rows a kernel needs for ``n`` training points."""
        return np.concatenate([self.pool[:n], self.val, self.test])


def standardised_digits() -> tuple[np.ndarray, np.ndarray]:
    x, labels = digits()
    x = (x - x.mean(0)) / (x.std(0) + 0.1)
    return x.astype(np.float32), labels


def digits_split(seed: int, *, n_pool: int = 1200, n_val: int = 100) -> DigitsSplit:
    """``load_digits`` shuffled by ``seed``: pool, validation and test indices (see
    :class:`DigitsSplit`)."""
    x, labels = standardised_digits()
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    y = (np.eye(10)[labels] - 0.1).astype(np.float32)
    return DigitsSplit(perm[:n_pool], perm[n_pool:n_pool + n_val], perm[n_pool + n_val:],
                       x, y, labels)
