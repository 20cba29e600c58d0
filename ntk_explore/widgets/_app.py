"""The one base class of every app: controls, a readout, a figure output, caches and
background warm-up, all wired the same way.

An app builds its controls, then calls :meth:`App._wire` with the controls whose change
should recompute (``update``) and lists its layout rows in :meth:`App.rows`. Caches are
:class:`~ntk_explore.explore.LRU` objects from :meth:`App.cache`; background compilation
of nearby settings goes through :meth:`App.warm_up` (the explore layer's runner).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence

import ipywidgets as W
from IPython.display import display

from ..explore import LRU, run_in_background

_REFUSED = "<span style='color:#b42318'>"
RANGED = (W.FloatSlider, W.IntSlider, W.BoundedFloatText, W.BoundedIntText)


def _label(w) -> str:
    return (getattr(w, "description", "") or type(w).__name__).rstrip(":")


def _allowed(w, value) -> tuple[bool, str]:
    """Whether control ``w`` can take ``value``, and its domain in words."""
    if isinstance(w, W.FloatLogSlider):
        lo, hi = w.base ** w.min, w.base ** w.max
        return (isinstance(value, (int, float)) and lo <= value <= hi), f"[{lo:g}, {hi:g}]"
    if isinstance(w, RANGED):
        return (isinstance(value, (int, float)) and w.min <= value <= w.max), f"[{w.min}, {w.max}]"
    options = getattr(w, "options", None)
    if options is not None and not isinstance(w, W.SelectMultiple):
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        return value in values, f"one of {values}"
    return True, ""


def _make_strict(w, refuse: Callable[[str], None]) -> None:
    """Refuse (keep the old value, say why) what ``w`` would clamp or reject."""
    original = w._trait_validators.get("value")

    def validate(obj, proposal):
        ok, domain = _allowed(obj, proposal["value"])
        if not ok:
            refuse(f"{_label(obj)} cannot be {proposal['value']!r}: it must be {domain}; "
                   f"kept {obj.value!r}")
            return obj.value
        return original(obj, proposal) if original is not None else proposal["value"]

    w._register_validator(validate, ("value",))

__all__ = ["App"]


class App:
    """Base of the notebook apps: ``readout`` (HTML), ``out`` (the figure), ``widget()``."""

    _CACHE_SIZE = 32  # results kept by :meth:`_cached` (small objects: losses, curves)

    # What a move may fail with, shown in the readout (anything else is a bug and propagates).
    REFUSALS = (ValueError, TypeError, MemoryError, RuntimeError)

    def _wire(self, controls: Iterable[W.Widget], on_change: Callable | None = None) -> None:
        """Create ``readout`` and ``out``; call ``on_change`` (default ``update``) on every
        value change of ``controls``.

        Every control is strict: a value it cannot take (outside a slider's range, not one
        of its options), which ipywidgets would silently clamp or reject deep inside
        traitlets, is refused with a message in the readout and the control keeps its
        value. A move whose computation fails with one of :data:`REFUSALS` (a setting the
        library refuses, a diverged run) puts the control back to its last good value and
        says why, so the figure and the readout always describe the controls' settings.
        """
        self.controls = tuple(controls)
        self.readout, self.out = W.HTML(), W.Output()
        self._memo = LRU(self._CACHE_SIZE)
        self.message = ""
        self._reverting = False
        callback = on_change or (lambda _change: self.update())
        for w in self.controls:
            _make_strict(w, self._refuse)
            w.observe(lambda change, cb=callback: self._moved(change, cb), names="value")

    def _moved(self, change, callback) -> None:
        if self._reverting:
            return
        try:
            callback(change)
            self.message = ""
        except self.REFUSALS as err:
            self._reverting = True
            try:
                change["owner"].value = change["old"]
            finally:
                self._reverting = False
            self._refuse(f"{_label(change['owner'])} = {change['new']!r} cannot run: {err}; "
                         f"back to {change['old']!r}")

    def _refuse(self, text: str) -> None:
        """Show ``text`` (a refused value or setting) in the readout; kept in ``message``."""
        self.message = text
        previous = self.readout.value
        if previous.startswith(_REFUSED):  # replace an earlier refusal, keep the readout
            previous = previous.split("<br>", 1)[-1]
        self.readout.value = f"{_REFUSED}{html.escape(text)}</span><br>{previous}"

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

    def _warmup_jobs(self) -> list[Callable[[], object]]:
        """Compile-ahead work for the settings a user is likely to pick next (the hook an
        app overrides; none by default)."""
        return []

    def rewarm(self) -> None:
        """Run :meth:`_warmup_jobs` again in the background: after ``jax.clear_caches()``
        has dropped the compiled programs (a notebook frees memory that way), the next
        slider moves would otherwise compile them again while the reader waits."""
        self._warmup = self.warm_up(self._warmup_jobs())

    def update(self) -> None:
        raise NotImplementedError

    def rows(self) -> list[W.Widget]:
        """The control rows above the readout and the figure (default: one row)."""
        return [W.HBox(list(self.controls))]

    def widget(self) -> W.Widget:
        return W.VBox(list(self.rows()) + [self.readout, self.out])

    def _ipython_display_(self):
        display(self.widget())
