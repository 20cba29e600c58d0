"""The slider path of notebook 08's pNTK app: :func:`~ntk_explore.topics.pntk_study.gap_vs_width`
for every output count and step count, with caches and resumed GD."""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core.kernels import mlp_ntk
from ..core.models import MLP, init_from_draw, mlp
from ..core.training import gd_segment
from ..topics import pntk_study as P

__all__ = ["GapExplorer"]


def _pad_outputs(params, k_max: int):
    """Readout ``w (k, width)``, ``b (k,)`` -> zero-padded ``(k_max, width)``, ``(k_max,)``
    (in NumPy: no per-``k`` compile)."""
    last = {}
    for name, v in params[-1].items():
        v = np.asarray(v)
        last[name] = jnp.asarray(np.concatenate([v, np.zeros((k_max - v.shape[0],) + v.shape[1:],
                                                             v.dtype)]))
    return list(params[:-1]) + [last]


@functools.partial(jax.jit, static_argnums=1)
def _masked_gap(model: MLP, mode: str, params, x, mask):
    """pNTK/eNTK gap of the first ``sum(mask)`` outputs of ``model`` (``mask (k_max,)``).

    The eNTK of those outputs is the masked block of the full eNTK; their pNTK is
    ``m^T eNTK m / k`` (``mode='sum'``: the gradient of ``sum_{c<k} f_c / sqrt(k)``)
    or ``eNTK[..., 0, 0]`` (``'first'``).
    """
    e = mlp_ntk(model)(x, None, params) * (mask[:, None] * mask[None, :])[None, None]
    k = jnp.sum(mask)
    p = jnp.sum(e, axis=(2, 3)) / k if mode == "sum" else e[:, :, 0, 0]
    diff = e - p[:, :, None, None] * jnp.diag(mask)[None, None]
    return jnp.linalg.norm(diff) / jnp.linalg.norm(e)


class GapExplorer:
    """:func:`~ntk_explore.topics.pntk_study.gap_vs_width` for every ``out_dim <= k_max`` and
    step count, with caches.

    :meth:`sweep` returns the same :class:`GapSweep` as
    ``gap_vs_width(x, widths, key=key, seeds=seeds, out_dim=k, y=y[:, :k],
    train_steps=steps, ...)`` (up to float rounding), computed once per width
    with a ``k_max``-output net whose readout rows ``>= k`` are zero and masked
    out of the loss and the kernels. That net's first ``k`` outputs, its
    training and its eNTK block are exactly those of the ``k``-output net, so
    a new ``k`` or ``steps`` recompiles nothing: every init comes from one
    normal draw per seed (:func:`~ntk_explore.core.models.init_from_draw`), and per
    width there is one GD segment (:func:`~ntk_explore.core.training.gd_segment`, the
    outputs ``>= k`` masked out of the loss) and one gap function.
    GD checkpoints at ``save_at`` steps are kept for the ``max_ks`` most recent
    ``k``: more steps resume from the last one, fewer are a lookup.
    """

    def __init__(self, x, widths: Sequence[int], *, key: jax.Array, seeds: int = 3,
                 k_max: int = 10, depth: int = 1, y=None, lr: float = 1.0, mode: str = "sum",
                 save_at: Sequence[int] = (), max_ks: int = 2):
        if seeds < 2:
            raise ValueError(f"seeds must be >= 2, got {seeds}")
        if mode not in ("sum", "first"):
            raise ValueError(f"unknown pNTK mode {mode!r}; choose 'sum' or 'first'")
        self.x = jnp.asarray(x)
        self.widths = np.asarray(sorted(int(w) for w in widths))
        self.key, self.seeds, self.k_max, self.depth = key, seeds, int(k_max), depth
        self.lr, self.mode, self.save_at = lr, mode, tuple(int(s) for s in save_at)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and self.y.shape != (self.x.shape[0], self.k_max):
            raise ValueError(f"y must be (n, k_max) = {(self.x.shape[0], self.k_max)}, got {self.y.shape}")
        self._runs = collections.OrderedDict()  # k -> {(width, seed): {step: params}}
        self._max_ks = max_ks

    def _padded_model(self, width: int) -> MLP:
        return mlp(self.x.shape[1], int(width), self.depth, self.k_max)

    def init(self, width: int, seed: int, k: int):
        """Params of ``mlp(d, width, depth, k).init(fold_in(key, seed))``, padded to ``k_max`` outputs."""
        model = mlp(self.x.shape[1], int(width), self.depth, k)
        params = init_from_draw(model, jax.random.fold_in(self.key, seed),
                                draw_size=self._padded_model(self.widths[-1]).num_params)
        return _pad_outputs(params, self.k_max)

    def _mask(self, k: int):
        return jnp.asarray(np.arange(self.k_max) < k, self.x.dtype)

    def _trained(self, width: int, seed: int, k: int, steps: int):
        if k not in self._runs:
            self._runs[k] = {}
            while len(self._runs) > self._max_ks:
                self._runs.popitem(last=False)
        self._runs.move_to_end(k)
        saved = self._runs[k].setdefault((width, seed), {0: self.init(width, seed, k)})
        if steps not in saved:
            s0 = max(s for s in saved if s < steps)
            params = saved[s0]
            y = jnp.asarray(np.where(np.arange(self.k_max) < k, self.y, 0.0), self.x.dtype)
            for s in sorted({v for v in self.save_at if s0 < v < steps} | {steps}):
                params = gd_segment(self._padded_model(width), params, self.x, y, self.lr,
                                    s - s0, out_mask=self._mask(k))
                saved[s], s0 = params, s
        return saved[steps]

    def sweep(self, out_dim: int, train_steps: int = 0) -> P.GapSweep:
        """:class:`GapSweep` for ``out_dim`` outputs after ``train_steps`` GD steps."""
        k, steps = int(out_dim), int(train_steps)
        if not 1 <= k <= self.k_max:
            raise ValueError(f"out_dim must be in [1, {self.k_max}], got {out_dim}")
        if steps and self.y is None:
            raise ValueError("train_steps > 0 needs targets y of shape (n, k_max)")
        gaps = np.zeros((self.seeds, self.widths.size))
        for j, width in enumerate(self.widths):
            for s in range(self.seeds):
                params = self._trained(int(width), s, k, steps)
                gaps[s, j] = float(_masked_gap(self._padded_model(width), self.mode, params,
                                               self.x, self._mask(k)))
        return P.GapSweep(self.widths, gaps, steps)
