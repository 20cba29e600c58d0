"""Notebook 00's tour: every claim's verdict as a table, from the saved run or live."""

from __future__ import annotations

import math
import time
from html import escape

from IPython.display import HTML, display

from ..core.verdicts import Verdict, range_text
from ..topics import tour
from ._app import App

__all__ = ["verdict_table", "TourApp"]

COLOURS = {"holds": "#1a7f37", "does not hold": "#b42318", "inconclusive": "#9a6700"}


def _cite(s) -> str:
    return f"{escape(s.authors)} ({s.year}), <a href='{s.url}'>{escape(s.title)}</a>"


def _num(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def verdict_table(verdicts: list[Verdict], *, links: bool = True, why: bool = True) -> str:
    """An HTML table of ``verdicts``: claim and sources, the measured number, its interval,
    the claimed range (and why that threshold), the verdict and the notebook."""
    rows = []
    for v in verdicts:
        lo, hi = v.interval
        claim = f"{escape(v.claim)}<br><small>" + "<br>".join(_cite(s) for s in v.sources) + "</small>"
        measured = f"<b>{_num(v.measured)}</b><br><small>{escape(v.measured_what)}"
        measured += f"; {escape(v.detail)}</small>" if v.detail else "</small>"
        expected = f"{escape(range_text(*v.expected))}<br><small>{escape(v.expected_what)}"
        expected += f". <i>Why:</i> {escape(v.why)}</small>" if why and v.why else "</small>"
        nb = f"<a href='{v.notebook}'>{v.notebook[:2]}</a>" if links else v.notebook[:2]
        rows.append(
            f"<tr><td style='text-align:left'>{claim}</td><td style='text-align:left'>{measured}</td>"
            f"<td style='text-align:left'>[{_num(lo)}, {_num(hi)}]<br><small>{escape(v.interval_what)}"
            f"</small></td><td style='text-align:left'>{expected}</td>"
            f"<td style='color:{COLOURS[v.status]}'><b>{escape(v.status)}</b></td><td>{nb}</td></tr>")
    head = ("<tr><th>claim and sources</th><th>measured</th><th>interval</th><th>claim predicts</th>"
            "<th>verdict</th><th>notebook</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _counts(verdicts) -> str:
    n = {s: sum(v.status == s for v in verdicts) for s in COLOURS}
    return ", ".join(f"{k} {s}" for s, k in n.items()) + f" (of {len(verdicts)} claims)"


class TourApp(App):
    """The saved tour (dated) and a toggle that recomputes every verdict live.

    ``saved``: a :class:`~ntk_explore.topics.tour.SavedTour` (default: the one shipped with
    the package). Switching the toggle on runs
    :func:`~ntk_explore.topics.tour.run_all` with notebook 09's verdicts (a few minutes on
    2 CPU cores) and shows its table instead. Attributes: ``verdicts``, ``source``.
    """

    def __init__(self, saved: tour.SavedTour | None = None):
        self.saved = saved or tour.saved_verdicts()
        self._wire_toggle(f"recompute every verdict now (the saved run took "
                          f"{self.saved.seconds / 60:.0f} min)")
        self.live = None
        self.update()

    def update(self) -> None:
        if self.button.value:
            if self.live is None:
                self.readout.value = "running every experiment of the tour ..."
                t0 = time.perf_counter()
                self.live = (tour.run_all(include_kernel_loses=True), time.perf_counter() - t0)
            self.verdicts, seconds = self.live
            self.source = f"computed just now in {seconds:.0f} s"
        else:
            self.verdicts = list(self.saved.verdicts)
            self.source = (f"saved run of {self.saved.date} ({self.saved.machine}, "
                           f"{self.saved.seconds:.0f} s)")
        self.readout.value = f"{_counts(self.verdicts)}; {escape(self.source)}"
        with self.out:
            self.out.clear_output(wait=True)
            display(HTML(verdict_table(self.verdicts)))

    def rows(self):
        return [self.button]
