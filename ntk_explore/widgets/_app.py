"""The one base class of every app: controls, a readout, a figure output, caches and
background warm-up, all wired the same way.

An app builds its controls, then calls :meth:`App._wire` with the controls whose change
should recompute (``update``) and lists its layout rows in :meth:`App.rows`. Caches are
:class:`~ntk_explore.explore.LRU` objects from :meth:`App.cache`; background compilation
of nearby settings goes through :meth:`App.warm_up` (the explore layer's runner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import ipywidgets as W
from IPython.display import display

from ..explore import LRU, run_in_background

__all__ = ["App"]


class App:
    """Base of the notebook apps: ``readout`` (HTML), ``out`` (the figure), ``widget()``."""

    _CACHE_SIZE = 32  # results kept by :meth:`_cached` (small objects: losses, curves)

    def _wire(self, controls: Iterable[W.Widget], on_change: Callable | None = None) -> None:
        """Create ``readout`` and ``out``; call ``on_change`` (default ``update``) on every
        value change of ``controls``."""
        self.controls = tuple(controls)
        self.readout, self.out = W.HTML(), W.Output()
        self._memo = LRU(self._CACHE_SIZE)
        callback = on_change or (lambda _change: self.update())
        for w in self.controls:
            w.observe(callback, names="value")

    def _wire_toggle(self, description: str) -> None:
        """One ``button`` (a ToggleButton, off) as the app's only control: for apps whose
        work is too long to run by default."""
        self.button = W.ToggleButton(value=False, layout=W.Layout(width="auto"),
                                     description=description)
        self._wire([self.button])

    def _switched_off(self, *attributes: str) -> bool:
        """If ``button`` is off: set ``attributes`` to ``None``, say so, clear the figure,
        and return True (``update`` then returns)."""
        if self.button.value:
            return False
        for name in attributes:
            setattr(self, name, None)
        self.readout.value = "off: switch the button on to compute"
        self.out.clear_output()
        return True

    def _cached(self, key, compute: Callable[[], object]):
        """The result for ``key`` (a tuple of settings), computed on a miss."""
        return self._memo.get_or(key, compute)

    @staticmethod
    def cache(size: int) -> LRU:
        """A bounded cache of results (least recently used evicted first)."""
        return LRU(size)

    @staticmethod
    def warm_up(jobs: Sequence[Callable[[], object]], enabled: bool = True):
        """Run ``jobs`` (compile-ahead work) in the background thread; ``None`` if disabled."""
        return run_in_background(jobs) if enabled else None

    def update(self) -> None:
        raise NotImplementedError

    def rows(self) -> list[W.Widget]:
        """The control rows above the readout and the figure (default: one row)."""
        return [W.HBox(list(self.controls))]

    def widget(self) -> W.Widget:
        return W.VBox(list(self.rows()) + [self.readout, self.out])

    def _ipython_display_(self):
        display(self.widget())
