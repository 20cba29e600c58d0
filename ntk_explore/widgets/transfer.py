"""Notebook 04's app: five learners on a small target task, and the sign-flip test."""

from __future__ import annotations

import ipywidgets as W
import jax
import jax.numpy as jnp

from ..core import validation as V
from ..plots.transfer import TransferFigure
from ..topics.transfer import transfer_experiment
from ._app import App
from ._display import show_png

__all__ = ["TransferApp"]


class TransferApp(App):
    """Target test error vs target samples for every learner and both target signs.

    The experiment runs once at construction (about 30-60 s on 2 CPU cores at
    the defaults) over the whole grid of target sizes; the ``target samples``
    slider only picks which size the sign-flip panel shows. Attributes after
    each update: ``result``, ``benefits`` (learner -> (benefit for +B, for -B)),
    ``figure``. Keyword arguments go to
    :func:`~ntk_explore.topics.transfer.transfer_experiment`.
    """

    def __init__(self, *, key=None, dtype=jnp.float32, **kwargs):
        key = V.check_key("key", jax.random.key(0) if key is None else key)
        self.result = transfer_experiment(key=key, dtype=dtype, **kwargs)
        sizes = [int(m) for m in self.result.sizes]
        self.m = W.SelectionSlider(options=sizes, value=sizes[0], description="target samples m",
                                   continuous_update=False, style={"description_width": "initial"})
        self._wire((self.m,))
        self.benefits = self.figure = self.view = None
        self.update()

    def update(self):
        r, m = self.result, self.m.value
        j = list(r.sizes).index(m)
        pairs = {"(3) tangent-space start": ("lin_init_from_A", "lin_init"),
                 "(2) fine-tuning": ("finetune", "scratch"),
                 "(4) pretrained eNTK": ("lin_pretrained", "lin_init")}
        self.benefits = {name: tuple(float(r.effect(a, b, s)[:, j].mean()) for s in r.signs)
                         for name, (a, b) in pairs.items()}
        rows = "".join(f"<li>{name}: {plus:+.3f} on +B, {minus:+.3f} on -B</li>"
                       for name, (plus, minus) in self.benefits.items())
        self.readout.value = (f"m = <b>{m}</b> target samples; transfer benefit (drop in "
                              f"relative test MSE, &gt; 0 helps):<ul>{rows}</ul>")
        if self.view is None:
            self.view = TransferFigure(r, m)
        else:
            self.view.update(m)
        self.figure = self.view.figure
        self.png = show_png(self.out, self.view.render())

    def rows(self):
        return [self.m]
