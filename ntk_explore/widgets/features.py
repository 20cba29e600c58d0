"""Notebook 03's app: how far features and the eNTK move in training, vs width."""

from __future__ import annotations

import ipywidgets as W
import jax
import jax.numpy as jnp
from IPython.display import display

from ..features import DEFAULTS, MUP_MIN_WIDTH, feature_sweep, feature_task
from ..plots.features import feature_change_figure
from ._display import show_figure

__all__ = ["FeatureWidthApp"]


class FeatureWidthApp:
    """Feature change, eNTK change and CKA vs width for one training set-up.

    Controls: parametrization, alpha (output scale; lr is divided by alpha**2
    and the output centred), base learning rate, depth, training steps. Each
    new combination trains ``seeds x len(widths)`` nets (10-30 s on 2 CPU
    cores at the defaults); combinations already seen come from a cache.
    Attributes after each update: ``sweep``, ``slopes`` (feature, kernel),
    ``figure``.
    """

    def __init__(self, *, key=None, dtype=jnp.float32, **overrides):
        self.cfg = {**DEFAULTS, **overrides}
        key = jax.random.key(0) if key is None else key
        k_task, self.key = jax.random.split(key)
        c = self.cfg
        self.task = feature_task(k_task, n=c["n"], d=c["d"], scale=c["scale"], dtype=dtype)
        self._cache: dict = {}
        style = {"description_width": "initial"}
        self.parametrization = W.Dropdown(options=["ntk", "mup", "standard"], value="ntk",
                                          description="parametrization", style=style)
        self.alpha = W.SelectionSlider(options=[0.25, 0.5, 1.0, 2.0, 4.0], value=1.0,
                                       description="alpha", continuous_update=False)
        self.lr = W.SelectionSlider(options=[0.1, 0.2, 0.4, 0.8, 1.0], value=c["lr"],
                                    description="base lr", continuous_update=False)
        self.depth = W.IntSlider(value=c["depth"], min=1, max=3, description="depth",
                                 continuous_update=False)
        self.steps = W.SelectionSlider(options=[30, 100, 300, 1000], value=c["steps"],
                                       description="GD steps", continuous_update=False)
        self.readout = W.HTML()
        self.out = W.Output()
        for w in (self.parametrization, self.alpha, self.lr, self.depth, self.steps):
            w.observe(lambda _change: self.update(), names="value")
        self.sweep = self.slopes = self.figure = None
        self.update()

    def sweep_for(self, parametrization=None, alpha=None, lr=None, depth=None, steps=None):
        """The sweep for these settings (current slider values where ``None``), cached."""
        args = (parametrization or self.parametrization.value, alpha or self.alpha.value,
                lr or self.lr.value, depth or self.depth.value, steps or self.steps.value)
        if args not in self._cache:
            p, a, r, dep, s = args
            self._cache[args] = feature_sweep(
                self.task, self.cfg["widths"], key=self.key, parametrization=p, alpha=a,
                lr=r, depth=dep, steps=s, seeds=self.cfg["seeds"])
        return self._cache[args]

    def min_width(self, parametrization: str) -> int:
        return MUP_MIN_WIDTH if parametrization == "mup" else 0

    def update(self):
        p = self.parametrization.value
        self.sweep = self.sweep_for()
        fits = [self.sweep.fit(q, self.min_width(p)) for q in ("feature", "kernel")]
        self.slopes = tuple(f.slope for f in fits)
        self.readout.value = (
            f"<b>{p}</b>, alpha {self.alpha.value:g}: feature-change slope "
            f"<b>{fits[0].slope:.2f}</b> (95% CI {fits[0].ci95[0]:.2f} to {fits[0].ci95[1]:.2f}), "
            f"eNTK-change slope <b>{fits[1].slope:.2f}</b> (95% CI {fits[1].ci95[0]:.2f} to "
            f"{fits[1].ci95[1]:.2f}); feature change at width {self.sweep.widths[-1]}: "
            f"{self.sweep.mean('feature')[-1]:.3f}; final train loss at most "
            f"{self.sweep.loss.max():.2g}. Lazy theory: -0.5 and -1; muP: 0 and 0.")
        self.figure = feature_change_figure({p: self.sweep}, {p: self.min_width(p)})
        self.png = show_figure(self.out, self.figure)

    def widget(self) -> W.Widget:
        row1 = W.HBox([self.parametrization, self.alpha, self.lr])
        row2 = W.HBox([self.depth, self.steps])
        return W.VBox([row1, row2, self.readout, self.out])

    def _ipython_display_(self):
        display(self.widget())
