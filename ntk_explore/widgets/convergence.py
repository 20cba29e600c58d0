"""The first notebook: the eNTK at a chosen width against the infinite-width NTK."""

from __future__ import annotations

import ipywidgets as W
import jax
from IPython.display import display

from .. import plots
from ..datasets import circle
from ..models import mlp
from ..regimes import entk_convergence, entk_error
from ._display import show_figure

__all__ = ["EntkWidthApp", "WIDTHS"]

WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class EntkWidthApp:
    """eNTK at a chosen width next to the infinite-width NTK, and error vs width.

    Sliders: width (log-spaced), seed; dropdowns: activation, parametrization
    (those two re-run the width sweep, a few seconds). Attributes after each
    update: ``error`` (relative Frobenius error shown), ``figure``.
    """

    def __init__(self, *, n_points: int = 48, depth: int = 2, seeds: int = 5,
                 widths=WIDTHS, width: int = 256, key=None):
        self.x, self.theta = circle(n_points)
        self.depth, self.seeds, self.widths = depth, seeds, tuple(widths)
        self.key = jax.random.key(0) if key is None else key
        self._sweeps: dict = {}
        style = {"description_width": "initial"}
        self.width = W.SelectionSlider(options=self.widths, value=width, description="width n",
                                       continuous_update=False, style=style)
        self.seed = W.IntSlider(value=0, min=0, max=seeds - 1, description="init seed",
                                continuous_update=False, style=style)
        self.activation = W.Dropdown(options=["relu", "erf", "tanh"], value="relu",
                                     description="activation")
        self.parametrization = W.Dropdown(options=["ntk", "mup"], value="ntk",
                                          description="parametrization", style=style)
        self.readout = W.HTML()
        self.out = W.Output()
        for w in (self.width, self.seed, self.activation, self.parametrization):
            w.observe(lambda _change: self.update(), names="value")
        self.error = None
        self.figure = None
        self.update()

    def sweep(self):
        """The width sweep for the current activation/parametrization (cached)."""
        key = (self.activation.value, self.parametrization.value)
        if key not in self._sweeps:
            self._sweeps[key] = entk_convergence(
                self.x, self.widths, key=self.key, seeds=self.seeds, depth=self.depth,
                activation=key[0], parametrization=key[1])
        return self._sweeps[key]

    def update(self):
        sweep = self.sweep()
        model = mlp(2, self.width.value, self.depth, activation=self.activation.value,
                    parametrization=self.parametrization.value)
        seed_key = jax.random.fold_in(self.key, self.seed.value)
        self.error, entk, ntk_inf = entk_error(model, self.x, seed_key, sweep.ntk_inf)
        fit = sweep.fit
        self.readout.value = (
            f"width <b>{self.width.value}</b>: relative error <b>{self.error:.4f}</b>; "
            f"fitted slope over widths {fit.slope:.3f} (95% CI {fit.ci95[0]:.2f} to "
            f"{fit.ci95[1]:.2f}; theory -0.5)")
        self.figure = plots.entk_vs_width_figure(self.theta, entk[:, :, 0, 0], ntk_inf,
                                                 self.width.value, self.error, sweep)
        self.png = show_figure(self.out, self.figure)

    def widget(self) -> W.Widget:
        controls = W.HBox([self.width, self.seed])
        choices = W.HBox([self.activation, self.parametrization])
        return W.VBox([controls, choices, self.readout, self.out])

    def _ipython_display_(self):
        display(self.widget())
