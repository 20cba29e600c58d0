"""Explorer for "how to prepare your task head": HP steps, smoothing, head, FT lr."""

from __future__ import annotations

import ipywidgets as W
import jax
import numpy as np
from IPython.display import display

from .. import finetune as F
from ..plots.finetune import finetune_figure
from ._display import show_figure

__all__ = ["FinetuneApp", "FT_LRS", "SMOOTHINGS"]

FT_LRS = (0.5, 1.0, 2.0, 4.0, 6.0)
SMOOTHINGS = (0.0, 0.1, 0.3)


class FinetuneApp:
    """Energy, feature change and accuracy vs HP steps, and the first FT step.

    Each (head, smoothing, FT lr) combination runs one :func:`~ntk_explore.finetune.tau_sweep`
    over the whole tau grid (a few seconds, cached); moving the tau slider only
    recomputes the first-step decomposition (seed 0). Attributes after each
    update: ``sweep``, ``step`` (:class:`~ntk_explore.finetune.FirstStep`), ``figure``.
    """

    def __init__(self, *, seeds: int = 5, taus=F.TAUS, tau: int = 100, ft_steps: int = 300,
                 key=None, data=None, pretrained=None):
        self.key = jax.random.key(0) if key is None else key
        k_pre, self.k_heads = jax.random.split(self.key)
        self.data = F.digits_transfer() if data is None else data
        self.pre = (F.pretrain_backbone(self.data, key=k_pre) if pretrained is None
                    else pretrained)
        self.seeds, self.taus, self.ft_steps = seeds, tuple(taus), ft_steps
        self._sweeps: dict = {}
        style = {"description_width": "initial"}
        self.tau = W.SelectionSlider(options=self.taus, value=tau, description="HP steps tau",
                                     continuous_update=False, style=style)
        self.smoothing = W.SelectionSlider(options=SMOOTHINGS, value=0.0, style=style,
                                           description="HP label smoothing",
                                           continuous_update=False)
        self.head = W.Dropdown(options=["linear", "mlp"], value="linear", description="head")
        self.ft_lr = W.SelectionSlider(options=FT_LRS, value=FT_LRS[0], description="FT lr",
                                       continuous_update=False, style=style)
        self.readout = W.HTML()
        self.out = W.Output()
        for w in (self.tau, self.smoothing, self.head, self.ft_lr):
            w.observe(lambda _change: self.update(), names="value")
        self.sweep = self.step = self.figure = None
        self.update()

    def sweep_for(self, head: str, smoothing: float, ft_lr: float) -> F.TauSweep:
        """The tau sweep for one setting (cached)."""
        k = (head, smoothing, ft_lr)
        if k not in self._sweeps:
            self._sweeps[k] = F.tau_sweep(self.pre, self.data, key=self.k_heads, taus=self.taus,
                                          seeds=self.seeds, head_kind=head, smoothing=smoothing,
                                          ft_lr=ft_lr, ft_steps=self.ft_steps)
        return self._sweeps[k]

    def first_step(self, head: str, smoothing: float, tau: int, eta: float) -> F.FirstStep:
        """First FT step after ``tau`` HP steps for seed 0 of the sweep."""
        d = self.data
        hd = F.head(head, self.pre.model.width, d.y_train.shape[1])
        z = F.backbone_features(self.pre.model, self.pre.params, d.x_train)
        hp0 = hd.init(jax.random.fold_in(self.k_heads, 0), z.dtype)
        hp = F.head_probe(hd, hp0, z, F.smooth_labels(d.y_train, smoothing), [tau])[0]
        return F.first_step(self.pre.model, self.pre.params, hd, hp, d.x_train, d.y_train, eta)

    def update(self):
        h, s, lr, tau = self.head.value, self.smoothing.value, self.ft_lr.value, self.tau.value
        self.sweep = self.sweep_for(h, s, lr)
        self.step = self.first_step(h, s, tau, lr)
        i = self.taus.index(tau)
        sw = self.sweep
        self.readout.value = (
            f"tau=<b>{tau}</b>: energy <b>{sw.mean('energy')[i]:.3f}</b>, feature change "
            f"<b>{sw.mean('feature_change')[i]:.3f}</b> ± {sw.sem('feature_change')[i]:.3f}, "
            f"CKA {sw.mean('cka')[i]:.3f}, accuracy <b>{sw.mean('accuracy')[i]:.3f}</b> ± "
            f"{sw.sem('accuracy')[i]:.3f}; Spearman(energy, feature change) over tau "
            f"<b>{sw.spearman():.2f}</b>; first-step residual {self.step.residual:.2g}")
        if np.isnan(sw.feature_change).any():
            self.readout.value += (" <b style='color:#c00'>warning: some FT runs diverged at "
                                   f"lr {lr:g} (left out of the means)</b>")
        self.figure = finetune_figure(sw, self.step, tau)
        self.png = show_figure(self.out, self.figure)

    def widget(self) -> W.Widget:
        return W.VBox([W.HBox([self.tau, self.smoothing]), W.HBox([self.head, self.ft_lr]),
                       self.readout, self.out])

    def _ipython_display_(self):
        display(self.widget())
