"""Notebook 07's app: one slider moves the digits MLP's output scale from lazy to rich."""

from __future__ import annotations

import ipywidgets as W
import jax

from ..core import validation as V
from ..explore.natural import GammaExplorer
from ..plots import natural as plots
from ._app import App
from ._display import show_figure as _show

__all__ = ["GammaApp", "GAMMAS"]

GAMMAS = (1, 2, 4, 8, 16, 32)
"""The slider's output scales: 1 is the NTK scaling (lazy), ``sqrt(width)`` the mean-field one."""


class GammaApp(App):
    """Test MSE against n of the MLP at output scale ``gamma`` beside its kernels, and its
    exponent against ``gamma`` with the kernels' exponents as bands.

    ``curves``: a :func:`~ntk_explore.topics.natural.digits_scaling` run with the learners
    ``rich``, ``lazy``, ``entk`` and ``ntk``; ``settings.rich_gamma`` and 1 must be slider
    options (those two are read from the run; any other value trains the net at every size
    and seed, about ten seconds at the notebook's settings on 2 cores). Attributes after
    each update: ``net`` (the curves with learner ``'net'``), ``exponent``, ``vs_ntk``,
    ``vs_entk`` (paired slope differences), ``figure``.
    """

    def __init__(self, curves, *, gammas=GAMMAS, gamma: float | None = None, key=None):
        gammas = tuple(gammas)
        rich = curves.settings.rich_gamma
        for value, what in ((rich, "the run's rich output scale"), (1, "gamma = 1")):
            if not any(abs(g - value) < 1e-9 for g in gammas):
                raise ValueError(f"{what} ({value:g}) must be one of the slider's options {gammas}")
        gamma = rich if gamma is None else gamma
        V.check_option("gamma", gamma, gammas)
        missing = {"rich", "lazy", "entk", "ntk"} - set(curves.mse)
        if missing:
            raise ValueError(f"the run needs the learners rich, lazy, entk and ntk; missing "
                             f"{sorted(missing)}")
        self.explorer = GammaExplorer(curves, key=V.check_key("key", jax.random.key(0)
                                                              if key is None else key))
        self.gamma = W.SelectionSlider(options=gammas, value=gamma, description="output scale gamma",
                                       continuous_update=False, style={"description_width": "initial"})
        self._wire([self.gamma])
        self.update()

    def update(self):
        g = float(self.gamma.value)
        self.net = self.explorer.at(g, progress=True)
        e = self.exponent = self.net.exponent("net")
        self.vs_ntk, self.vs_entk = self.net.paired("net", "ntk"), self.net.paired("net", "entk")
        self.readout.value = (
            f"MLP at gamma {g:g}: alpha <b>{e.alpha:.2f}</b> [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]; "
            f"alpha minus the infinite NTK's (paired per seed) <b>{-self.vs_ntk.mean:+.2f}</b> "
            f"[{-self.vs_ntk.ci95[1]:+.2f}, {-self.vs_ntk.ci95[0]:+.2f}], minus the eNTK's "
            f"<b>{-self.vs_entk.mean:+.2f}</b> [{-self.vs_entk.ci95[1]:+.2f}, "
            f"{-self.vs_entk.ci95[0]:+.2f}]")
        gammas, exps = self.explorer.computed()
        options = self.gamma.options
        self.figure = plots.gamma_figure(self.net, g, gammas, exps,
                                         span=(min(options), max(options)))
        self.png = _show(self.out, self.figure)
