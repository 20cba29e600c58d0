"""Learning paths and distillation explorer (notebook 05)."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..core import validation as V
from ..plots import zigzag as P
from ..topics import zigzag as Z
from ._app import App
from ._display import show_png

__all__ = ["ZigzagApp", "pick_points"]


def pick_points(kinds: np.ndarray, per_kind: int = 2) -> list[int]:
    """The first ``per_kind`` training points of each kind (easy, hard, mislabelled)."""
    return [int(i) for kind in Z.KINDS for i in np.flatnonzero(kinds == kind)[:per_kind]]


class ZigzagApp(App):
    """Learning paths on the simplex, target quality vs teacher length, students.

    Sliders: marker epoch (moves the markers; redraws one panel), label noise (the
    mixture's variance: a level is trained the first time it is chosen, then cached;
    ``precompute=True`` trains every level at construction), teacher length and
    moving-average rate (retrain the three students, cached). Checkboxes pick the points
    drawn.

    The task and teacher at each noise level come from :func:`~ntk_explore.topics.zigzag.teacher_runs`
    with seed ``seed``; pass ``seed_run`` (one of its results at the starting ``noise``,
    ``n_train`` and ``teacher_epochs``) to start from a teacher already trained.

    Attributes after each update: ``toy``, ``run`` (teacher), ``curve``
    (:class:`~ntk_explore.topics.zigzag.StopCurve`), ``dist``
    (:class:`~ntk_explore.topics.zigzag.Distillation`), ``figure``.
    """

    def __init__(self, *, seed: int = 0, seed_run: Z.SeedRun | None = None, n_train: int = 600,
                 teacher_epochs: int = 200, student_epochs: int = 100, noise: float = 4.0,
                 rate: float = 0.98, noises=(2.0, 3.0, 4.0, 6.0), precompute: bool = False):
        noises = tuple(sorted(V.check_positive_float(f"noises[{i}]", v) for i, v in enumerate(noises)))
        V.check_option("noise", noise, noises)
        V.check_in_range("rate", rate, 0.8, 0.995)
        self.teacher_epochs = V.check_positive_int("teacher_epochs", teacher_epochs)
        self.n_train = V.check_positive_int("n_train", n_train)
        self.seed = V.check_nonnegative_int("seed", seed)
        self.student_epochs = V.check_positive_int("student_epochs", student_epochs)
        self.model = Z.toy_model()
        self._teachers: dict = {}
        self._students: dict = {}
        self._curves: dict = {}
        if seed_run is not None:
            if (seed_run.toy.noise != noise or seed_run.toy.x.shape[0] != n_train
                    or len(seed_run.run.epochs) != teacher_epochs + 1):
                raise ValueError(f"seed_run was trained at noise {seed_run.toy.noise}, "
                                 f"{seed_run.toy.x.shape[0]} points, {len(seed_run.run.epochs) - 1} "
                                 f"epochs; the app starts at noise {noise}, {n_train} points, "
                                 f"{teacher_epochs} epochs")
            self._teachers[noise] = seed_run
        style = {"description_width": "initial"}
        slider = dict(continuous_update=False, style=style)
        self.noise = W.SelectionSlider(options=noises, value=noise,
                                       description="label noise (variance)", **slider)
        self.rate = W.FloatSlider(value=rate, min=0.8, max=0.995, step=0.005,
                                  readout_format=".3f", description="EMA rate", **slider)
        self.stop = W.IntSlider(value=1, min=1, max=teacher_epochs,
                                description="teacher epochs", **slider)
        self.step = W.IntSlider(value=0, min=0, max=teacher_epochs,
                                description="marker epoch", **slider)
        self._wire(())
        self.boxes: list[W.Checkbox] = []
        self.box_row = W.HBox()
        self.figure = self.view = None
        self._loading = False
        if precompute:  # every noise level's teacher and default students, up front
            for level in noises:
                r = self.teacher(level)
                self.students(level, self._default_stop(r.run), rate)
                self.stop_curve(level, rate)
        self._load_teacher(first=True)
        for w in (self.rate, self.stop):
            w.observe(lambda _c: None if self._loading else self.update(), names="value")
        self.step.observe(lambda _c: self.redraw_paths(), names="value")
        self.noise.observe(lambda _c: self._load_teacher(), names="value")

    # -- cached computation -------------------------------------------------
    def teacher(self, noise: float) -> Z.SeedRun:
        """Task, teacher and student key for this noise level (cached)."""
        if noise not in self._teachers:
            self._teachers[noise] = Z.teacher_runs(self.seed, 1, epochs=self.teacher_epochs,
                                                   noise=noise, n_train=self.n_train)[0]
        return self._teachers[noise]

    def stop_curve(self, noise: float, rate: float):
        """Target quality vs teacher length for this noise level and rate (cached)."""
        k = (noise, round(rate, 4))
        if k not in self._curves:
            r = self.teacher(noise)
            self._curves[k] = Z.targets_vs_stop(r.toy, r.run, rate=rate)
        return self._curves[k]

    def students(self, noise: float, stop: int, rate: float):
        """The three students for these settings (cached)."""
        k = (noise, stop, round(rate, 4))
        if k not in self._students:
            r = self.teacher(noise)
            self._students[k] = Z.distill(r.toy, self.model, r.run, r.student_key, stop=stop,
                                          rate=rate, student_epochs=self.student_epochs)
        return self._students[k]

    @staticmethod
    def _default_stop(run) -> int:
        """Where the teacher-length slider starts: at 100% train accuracy (or the end)."""
        return run.memorized_at if run.memorized_at is not None else len(run.epochs) - 1

    # -- callbacks -----------------------------------------------------------
    def _load_teacher(self, first: bool = False):
        r = self.teacher(self.noise.value)
        self.toy, self.run = r.toy, r.run
        self.kinds = Z.point_kinds(self.toy)
        self._loading = True  # one update below, not a second one from the stop slider
        try:
            self.stop.value = self._default_stop(self.run)
        finally:
            self._loading = False
        self.boxes = [W.Checkbox(value=True, description=f"#{i} {self.kinds[i]}", indent=False,
                                 layout=W.Layout(width="150px"))
                      for i in pick_points(self.kinds)]
        for b in self.boxes:
            b.observe(lambda _c: self.redraw_paths(), names="value")
        self.box_row.children = self.boxes
        self.update()

    def selected(self) -> list[int]:
        return [int(b.description.split()[0][1:]) for b in self.boxes if b.value]

    def _step(self) -> int:
        return min(self.step.value, len(self.run.epochs) - 1)

    def redraw_paths(self):
        """Marker step or chosen points changed: redraw the simplex panel only."""
        if self.view is None:
            return self.update()
        self.view.update_paths(self.selected(), self._step())
        self.png = show_png(self.out, self.view.render())

    def update(self):
        """Teacher, stop or rate changed: new targets and students, a new figure."""
        noise, stop, rate = self.noise.value, self.stop.value, self.rate.value
        self.curve = self.stop_curve(noise, rate)
        self.dist = self.students(noise, stop, rate)
        step = self._step()
        mem = self.run.memorized_at
        mem_epoch = None if mem is None else int(self.run.epochs[mem])
        t = self.dist.targets
        d = {k: Z.distance_to_pstar(getattr(t, k), self.toy.pstar)
             for k in ("onehot", "teacher", "filtered")}
        self.readout.value = (
            f"100% train accuracy at epoch <b>{mem_epoch}</b>; teacher stopped at "
            f"<b>{stop}</b>. Mean distance to p*: one-hot {d['onehot']:.3f}, teacher "
            f"{d['teacher']:.3f}, filtered <b>{d['filtered']:.3f}</b>. Student test ECE: "
            f"{self.dist.onehot.ece:.3f} / {self.dist.teacher.ece:.3f} / "
            f"<b>{self.dist.filtered.ece:.3f}</b> (one-hot / teacher / filtered).")
        self.view = P.ZigzagFigure(self.run.paths, self.selected(), self.toy.pstar,
                                   self.toy.y, self.kinds, step, self.curve, self.dist,
                                   stop, mem_epoch, self.run.epochs)
        self.figure = self.view.figure
        self.png = show_png(self.out, self.view.render())

    def rows(self):
        return [W.HBox([self.step, self.noise]), W.HBox([self.stop, self.rate]), self.box_row]
