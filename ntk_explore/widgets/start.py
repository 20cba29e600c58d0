"""Notebook 00's app: one width slider over a net, its linearization and NTK regression."""

from __future__ import annotations

import ipywidgets as W
import jax
import numpy as np
from tqdm.auto import tqdm

from ..plots.start import first_look_figure
from ..topics.equivalence import regression_task, three_learners
from ._app import App
from ._display import show_figure

__all__ = ["FirstLookApp", "FIRST_LOOK_WIDTHS"]

FIRST_LOOK_WIDTHS = (16, 64, 256, 1024)
"""Hidden widths of the start page's slider (one hidden layer)."""


class FirstLookApp(App):
    """The 1-D task ``y = sin(2x)`` from 16 points, learnt three ways at each width.

    At construction every width of ``widths`` is trained for ``seeds`` initialisations
    (:func:`~ntk_explore.topics.equivalence.three_learners`: a one-hidden-layer ReLU net
    in NTK parametrization, its linearization at initialisation, and kernel regression
    with the infinite-width NTK, all by the same gradient descent); the slider then only
    redraws. Attributes: ``results`` (width -> list of per-seed results), ``motion`` and
    ``distance`` ``(W,)`` seed means, ``figure``.
    """

    def __init__(self, widths=FIRST_LOOK_WIDTHS, *, seeds: int = 3, steps: int = 400,
                 lr: float = 0.1, width: int = 256):
        if width not in widths:
            raise ValueError(f"width must be one of the slider's widths {tuple(widths)}, got {width}")
        self.task = regression_task("1d", key=jax.random.key(0))
        runs = [(w, s) for w in widths for s in range(seeds)]
        self.results = {w: [] for w in widths}
        for w, s in tqdm(runs, desc="training nets", leave=False):
            self.results[w].append(three_learners(self.task, key=jax.random.key(s + 1), width=w,
                                                  depth=1, lr=lr, steps=steps, records=4,
                                                  kernel_records=2))
        self.widths = tuple(widths)
        self.motion = np.array([np.mean([r.kernel_motion[-1] for r in self.results[w]])
                                for w in widths])
        self.distance = np.array([np.mean([r.net_lin_distance[-1] for r in self.results[w]])
                                  for w in widths])
        self.width = W.SelectionSlider(options=self.widths, value=width, description="width",
                                       continuous_update=False)
        self._wire((self.width,))
        self.figure = None
        self.update()

    def update(self) -> None:
        w = self.width.value
        r = self.results[w][0]
        curves = {"net": r.net.test_out[-1], "linearized": r.linear.test_out[-1],
                  "NTK regression": r.infinite.test_out[-1]}
        j = self.widths.index(w)
        self.readout.value = (
            f"width <b>{w}</b>: the eNTK moved by <b>{self.motion[j]:.3f}</b> of its size during "
            f"training, and the trained net is <b>{self.distance[j]:.3f}</b> (RMS) from its "
            f"linearization (means over {len(self.results[w])} initialisations)")
        t = self.task
        self.figure = first_look_figure(t.x_train, t.y_train, t.x_test, t.y_test, curves,
                                        self.widths, self.motion, self.distance, w)
        self.png = show_figure(self.out, self.figure)

    def rows(self):
        return [self.width]
