"""The slider path of notebook 07's output-scale app: the digits MLP at any ``gamma``,
each computed once (:func:`~ntk_explore.topics.natural.mlp_at_gamma`) and cached."""

from __future__ import annotations

import jax
import numpy as np

from ..core.metrics import Exponent
from ..topics import natural as N
from ._cache import LRU

__all__ = ["GammaExplorer"]


class GammaExplorer:
    """The MLP of a :class:`~ntk_explore.topics.natural.DigitsCurves` run at any output scale.

    The run's ``rich`` and ``lazy`` learners are already the net at ``settings.rich_gamma``
    and at ``gamma = 1``: they seed the cache, so those two settings cost nothing. Any
    other ``gamma`` trains ``seeds x sizes`` nets through
    :func:`~ntk_explore.topics.natural.mlp_at_gamma` (the same splits, inits and stopping
    rule); the last ``size`` of them are kept.
    """

    def __init__(self, curves: N.DigitsCurves, *, key: jax.Array | None = None, size: int = 16):
        self.curves, self.key = curves, jax.random.key(0) if key is None else key
        self._runs = LRU(size)
        s = curves.settings
        for name, gamma in (("rich", s.rich_gamma), ("lazy", 1.0)):
            if name in curves.mse:
                self._runs.put(float(gamma), (curves.mse[name], curves.err[name],
                                              curves.stopped[name]))

    def run(self, gamma: float, progress: bool = False):
        """``(test MSE, test error, stopping step)``, each ``(seeds, S)``, at ``gamma``."""
        return self._runs.get_or(float(gamma), lambda: N.mlp_at_gamma(
            self.curves.settings, float(gamma), key=self.key, progress=progress))

    def at(self, gamma: float, progress: bool = False) -> N.DigitsCurves:
        """The run's curves with one more learner, ``'net'``: the MLP at ``gamma``."""
        return self.curves.with_learner("net", *self.run(gamma, progress))

    def computed(self) -> tuple[np.ndarray, list[Exponent]]:
        """The output scales computed so far (sorted) and the net's exponent at each."""
        gammas = np.array(sorted(self._runs))
        return gammas, [self.at(g).exponent("net") for g in gammas]
