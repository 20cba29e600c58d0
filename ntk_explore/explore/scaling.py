"""The slider path of notebook 07: :func:`~ntk_explore.topics.scaling.data_scaling` with
caches, resumed GD and compiled-ahead programs."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core.kernels import mlp_pntk, regress
from ..core.metrics import test_loss
from ..core.models import MLP, init_from_draw, mlp
from ..core.training import precompile_gd
from ..topics import scaling as S
from ._cache import LRU as _LRU

__all__ = ["ScalingExplorer"]


@jax.jit
def _pntk_and_outputs(model: MLP, params, rows, cols):
    """pNTK ``(R, C)`` between ``rows`` and ``cols`` and the outputs ``(R, k)`` on ``rows``."""
    return mlp_pntk(model)(rows, cols, params), model.apply(params, rows)


class ScalingExplorer:
    """:func:`~ntk_explore.topics.scaling.data_scaling` for one task, sizes and init, with
    caches for slider moves.

    :meth:`curves` returns the same :class:`ScalingCurves` as
    ``data_scaling(task, ns, key=key, width=width, steps=steps, n_pre=n_pre, ...)``
    (up to float rounding) but reuses what earlier calls computed:

    * GD checkpoints per (width, training set) at the step counts in
      ``save_at``: more steps resume from the last checkpoint (GD is
      deterministic, so the iterates are the same), fewer steps are a lookup;
    * one compiled GD segment per (width, padded size): sets below ``pad_min``
      points are padded to it with masked rows, so few sizes compile;
    * one pNTK evaluation per parameter set on ``[x[:n_max]; x_test] x x[:n_max]``,
      sliced for every ``n`` (instead of two kernels per ``n``), which also
      gives the net's test outputs;
    * the infinite-width NTK (independent of width, steps and ``n_pre``) and each
      learner's losses under the settings it depends on.

    Caches are bounded: checkpoints of the ``max_widths`` most recent widths,
    losses of the 256 most recent settings.
    """

    def __init__(self, task: S.Task, ns: Sequence[int], *, key: jax.Array, depth: int = 1,
                 lr: float = 1.0, parametrization: str = "ntk", kernel: str = "pntk",
                 ridge: float = 0.0, learners: Sequence[str] = S.LEARNERS,
                 save_at: Sequence[int] = (), max_widths: int = 2, pad_min: int = 128,
                 max_width: int = 1024):
        self.ns = S.check_sizes(ns, task.x.shape[0])
        S.check_learners(learners, kernel)
        self.task, self.key, self.depth, self.lr = task, key, depth, lr
        self.parametrization, self.kernel, self.ridge = parametrization, kernel, ridge
        self.learners, self.save_at = tuple(learners), tuple(int(s) for s in save_at)
        self.pad_min = pad_min
        # inits of every width up to max_width share one compiled normal draw (init_from_draw)
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
            return model, init_from_draw(model, self.key, draw_size=self.draw_size), {}
        return self._nets.get_or(width, make)

    def trained(self, width: int, steps: int, n: int, pretrain: bool = False):
        """Params after ``steps`` GD steps on the first ``n`` pool points (or
        ``x_extra`` points if ``pretrain``), resumed from the cached checkpoints."""
        model, params0, trajectories = self._net(width)
        x, y = (self.task.x_extra, self.task.y_extra) if pretrain else (self.task.x, self.task.y)
        saved = trajectories.setdefault((pretrain, n), {})
        if steps not in saved:
            s0 = max((s for s in saved if s < steps), default=0)
            saved.update(S.train_centered(model, params0, x[:n], y[:n], lr=self.lr, steps=steps,
                                        start=(s0, saved[s0]) if s0 else None,
                                        save_at=self.save_at, pad_min=self.pad_min))
        return saved[steps]

    def precompile(self, widths: Sequence[int], n_pres: Sequence[int] = ()) -> None:
        """Compile, ahead of time, what :meth:`curves` runs at these widths (the GD loop of
        every padded training-set size, and the kernel/outputs function), so that a
        later move to any of them only computes. Nothing is trained or cached."""
        sizes = {max(int(n), self.pad_min) for n in list(self.ns) + list(n_pres)}
        t = self.task
        dtype = self._x.dtype
        for width in widths:
            model = mlp(t.x.shape[1], int(width), self.depth, t.y.shape[1],
                        parametrization=self.parametrization)
            p = init_from_draw(model, self.key, draw_size=self.draw_size)
            for size in sorted(sizes):
                precompile_gd(model, p, size, t.x.shape[1], t.y.shape[1], dtype, center=True)
            if self.kernel == "pntk" or "net" in self.learners:
                _pntk_and_outputs.lower(model, p, self._rows, self._x).compile()

    def _sliced_losses(self, kernel, ns=None) -> list:
        """Kernel ``(n_max + T, n_max)`` on ``[x[:n_max]; x_test] x x[:n_max]`` -> test loss
        of kernel regression on the first ``n`` points, for each ``n`` in ``ns`` (default all)."""
        kernel = np.asarray(kernel, np.float64)
        n_max, t = int(self.ns[-1]), self.task
        # The rows [x[:n_max]; x_test] x x[:n_max] are computed as one rectangular float32
        # block: its square part is symmetric only to float32 accuracy (relu's infinite NTK
        # goes through arccos near the diagonal), beyond kernel_regression's float64
        # symmetry check, so the training block is symmetrised here.
        return [test_loss(regress(_sym(kernel[:n, :n]), t.y[:n], kernel[n_max:, :n], self.ridge),
                          t.y_test) for n in (self.ns if ns is None else ns)]

    def _kernel_losses(self, model, params, n=None) -> list:
        """Test losses of kernel regression with the kernel at ``params``, per ``n``."""
        t, ns = self.task, self.ns if n is None else [n]
        if self.kernel == "entk":
            return [test_loss(S.kernel_predict(model, params, t.x[:m], t.y[:m], t.x_test,
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

    def curves(self, width: int, steps: int, n_pre: int = 128) -> S.ScalingCurves:
        """:class:`~ntk_explore.topics.scaling.ScalingCurves` at one (width, steps, n_pre)
        setting; see :func:`~ntk_explore.topics.scaling.data_scaling`."""
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
                S.infinite_ntk(model, self._rows, self._x)))
        return S.ScalingCurves(t.name, self.ns, {name: losses[name] for name in learners},
                             width, steps, n_pre, self.kernel)


def _sym(k: np.ndarray) -> np.ndarray:
    """``(k + k.T) / 2`` of a square ``(n, n)`` kernel block."""
    return 0.5 * (k + k.T)
