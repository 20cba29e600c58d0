"""What makes sliders fast, in one layer that every app uses the same way.

* :class:`LRU` -- the bounded cache of results and runs (``_cache``);
* :func:`run_in_background` -- background warm-up (compiling the settings a user is
  likely to pick next) that stops cleanly at interpreter exit (``_background``);
* explorers -- a topic's computation with caches, resumed training and compiled-ahead
  programs: :class:`ScalingExplorer` (notebook 07), :class:`GapExplorer` (08).

Layer rule: ``explore`` imports the core and the topics; widgets import it; the core
and the topics never do. Nothing here changes a number: every explorer equals its
topic function (the tests check it).
"""

from ._background import run_in_background
from ._cache import LRU
from .pntk import GapExplorer
from .scaling import ScalingExplorer

__all__ = ["LRU", "run_in_background", "ScalingExplorer", "GapExplorer"]
