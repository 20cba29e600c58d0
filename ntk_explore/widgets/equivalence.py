"""Notebook 02 apps: three learners on one task, and the published kernel table."""

from __future__ import annotations

import dataclasses
import html
from concurrent.futures import ThreadPoolExecutor

import ipywidgets as W
import jax
import numpy as np

from ..core import validation as V
from ..core.training import DivergenceError
from ..plots.equivalence import table_figure, three_learners_figure
from ..topics.equivalence import precompile_net, regression_task, three_learners
from ..topics.ntk_table import (
    KERNEL_METHODS,
    PAPER_TABLE,
    NetConfig,
    TableNetRun,
    TableResult,
    kernel_rmse,
    simulate_trial,
)
from ._app import App
from ._display import show_figure as _show

__all__ = ["ThreeLearnersApp", "TableApp", "WIDTHS"]

WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_STYLE = {"description_width": "initial"}
_CACHE_SIZE = 12  # results (a few hundred kB each) kept per app for moves back


class ThreeLearnersApp(App):
    """Net, linearization and infinite-width NTK trained on one task.

    Sliders: width (log scale), depth, learning rate, GD steps, output scale
    alpha; dropdowns: parametrization, task; checkbox: centre ``f0``.
    Attributes after each update: ``result`` (a
    :class:`~ntk_explore.topics.equivalence.ThreeLearners`), ``figure``, ``readout``.
    """

    def __init__(self, *, width: int = 256, depth: int = 2, lr: float = 0.1, steps: int = 400,
                 task: str = "1d", key=None, warm_up: bool = True):
        V.check_option("width", width, WIDTHS)
        V.check_option("depth", depth, (1, 2, 3))
        V.check_in_range("lr", lr, 1e-3, 1.0)
        V.check_option("steps", steps, range(10, 3001, 10))
        V.check_choice("task", task, ("1d", "sphere"))
        self.key = V.check_key("key", jax.random.key(0) if key is None else key)
        k_task, self.k_init = jax.random.split(self.key)
        self.tasks = {name: regression_task(name, key=k_task) for name in ("1d", "sphere")}
        c = dict(continuous_update=False, style=_STYLE)
        self.width = W.SelectionSlider(options=WIDTHS, value=width, description="width m", **c)
        self.depth = W.IntSlider(value=depth, min=1, max=3, description="depth L", **c)
        self.lr = W.FloatLogSlider(value=lr, base=10, min=-3, max=0, step=0.1,
                                   description="learning rate", **c)
        self.steps = W.IntSlider(value=steps, min=10, max=3000, step=10,
                                 description="GD steps", **c)
        self.alpha = W.FloatLogSlider(value=1.0, base=2, min=-2, max=4, step=0.5,
                                      description="output scale alpha", **c)
        self.parametrization = W.Dropdown(options=["ntk", "mup", "standard"], value="ntk",
                                          description="parametrization", style=_STYLE)
        self.task = W.Dropdown(options=list(self.tasks), value=task, description="task")
        self.center = W.Checkbox(value=False, description="centre f0 (train f - f0)")
        self._wire(self._controls())
        self.result = self.figure = None
        self._results = self.cache(_CACHE_SIZE)
        self.update()
        # warm_up=False: no background compilation of nearby settings (e.g. on a busy host)
        self._warmup = self.warm_up(self._warmup_jobs(), warm_up)

    def _warmup_jobs(self):
        """Compile the net for the widths, depths and task a user is likely to pick next
        (nearest first); each new width or depth otherwise costs ~2 s of compilation."""
        w, d, name = self.width.value, self.depth.value, self.task.value
        i = WIDTHS.index(w) if w in WIDTHS else 4
        near = sorted((abs(j - i), WIDTHS[j]) for j in range(len(WIDTHS)) if j != i)
        widths = [v for _, v in near if v <= 2048]
        settings = [(name, v, d) for v in widths[:3]]
        settings += [(name, w, dd) for dd in (1, 2, 3) if dd != d]
        settings += [(t, w, d) for t in self.tasks if t != name]
        settings += [(name, v, d) for v in widths[3:6]]
        return [lambda t=t, v=v, dd=dd: precompile_net(self.tasks[t], width=v, depth=dd)
                for t, v, dd in settings]

    def _controls(self):
        return (self.width, self.depth, self.lr, self.steps, self.alpha, self.parametrization,
                self.task, self.center)

    def settings(self) -> dict:
        return dict(width=self.width.value, depth=self.depth.value,
                    parametrization=self.parametrization.value, alpha=self.alpha.value,
                    lr=self.lr.value, steps=self.steps.value, center=self.center.value)

    def result_for(self, *, task: str | None = None, **changes):
        """The :class:`~ntk_explore.topics.equivalence.ThreeLearners` at the current settings
        with ``changes`` (any key of :meth:`settings`, e.g. ``width=32``), without moving a
        control: from the app's cache, or computed and kept there, so that moving the
        controls to those settings later shows it at once."""
        unknown = set(changes) - set(self.settings())
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; the settings are "
                            f"{sorted(self.settings())}")
        name = self.task.value if task is None else V.check_choice("task", task, tuple(self.tasks))
        kw = {k: changes.get(k, v) for k, v in self.settings().items()}
        return self._results.get_or((name,) + tuple(kw.values()),
                                    lambda: three_learners(self.tasks[name], key=self.k_init, **kw))

    def update(self):
        task = self.tasks[self.task.value]
        try:
            self.result = self.result_for()
        except DivergenceError as err:
            self.result = None
            self.readout.value = f"<b style='color:red'>{html.escape(str(err))}</b>"
            return
        r = self.result
        inf = ("no infinite-width NTK for 'standard' (it grows with width)"
               if r.infinite is None else
               f"infinite NTK {r.infinite.test_loss[-1]:.4f}; net-to-NTK distance "
               f"{r.final_distance_to_ntk:.4f}")
        self.readout.value = (
            f"t = {r.times[-1]:.3g} (lr/alpha² = {r.lr_eff:.3g}): test loss net "
            f"<b>{r.net.test_loss[-1]:.4f}</b>, linearized {r.linear.test_loss[-1]:.4f}, {inf}; "
            f"net-to-linearization RMS distance <b>{r.net_lin_distance[-1]:.4f}</b>; eNTK moved "
            f"<b>{100 * r.kernel_motion[-1]:.2f}%</b>; the linearized model is stable for "
            f"learning rates below {r.lr_limit:.3g}")
        self.figure = three_learners_figure(task, r)
        self.png = _show(self.out, self.figure)

    def rows(self):
        return [W.HBox([self.width, self.depth, self.parametrization]),
                W.HBox([self.lr, self.steps, self.alpha]),
                W.HBox([self.task, self.center])]


def _table_html(result: TableResult, extra: TableResult | None = None) -> str:
    head = ("<tr><th>method</th><th>paper (n=1000, 50 trials)</th>"
            f"<th>reproduced, {result.form} (n={result.n}, {result.trials} trials)</th>")
    if extra is not None:
        head += f"<th>reproduced, {extra.form}</th>"
    rows = [head + "</tr>"]
    for m, mean, se in result.rows():
        p = PAPER_TABLE[m]
        cells = f"<td>{m}</td><td>{p[0]:.4f} ± {p[1]:.4f}</td><td>{mean:.4f} ± {se:.4f}</td>"
        if extra is not None:
            cells += (f"<td>{extra.mean(m):.4f} ± {extra.se(m):.4f}</td>"
                      if m in extra.rmse else "<td>–</td>")
        rows.append(f"<tr>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table><small>mean test RMSE ± standard error</small>"


class TableApp(App):
    """The published table next to a small reproduction, with trainable NN1/NN2.

    Kernel rows are computed once per form on ``trials`` data sets of ``n``
    points; the nets train on the first ``net_trials`` of them. Sliders: the
    nets' epochs, learning rate and width; checkboxes: full-batch GD, train on
    all training points (no Keras-style 30% validation split). Attributes:
    ``kernels`` (as-coded), ``kernels_corrected``, ``nets`` (NN1/NN2 RMSE
    arrays), ``result`` (combined :class:`TableResult`), ``figure``.
    """

    def __init__(self, *, n: int = 300, trials: int = 10, net_trials: int = 2,
                 epochs: int = 30, lr: float = 0.004, width: int = 256, seed: int = 11342,
                 warm_up: bool = True):
        V.check_option("epochs", epochs, range(5, 601, 5))
        V.check_in_range("lr", lr, 10**-3.5, 0.1)
        V.check_option("width", width, (64, 128, 256, 512, 1024))
        n, trials = V.check_positive_int("n", n, minimum=4), V.check_positive_int("trials", trials)
        net_trials = V.check_positive_int("net_trials", net_trials, maximum=trials)
        self.n, self.trials, self.net_trials, self.seed = n, trials, net_trials, seed
        self.data = {f: self._datasets(f) for f in ("as-coded", "corrected")}
        self.kernels = self._kernel_table("as-coded")
        self.kernels_corrected = self._kernel_table("corrected")
        c = dict(continuous_update=False, style=_STYLE)
        self.epochs = W.IntSlider(value=epochs, min=5, max=600, step=5,
                                  description="net epochs (NN2: 2x)", **c)
        self.lr = W.FloatLogSlider(value=lr, base=10, min=-3.5, max=-1, step=0.25,
                                   description="net learning rate", **c)
        self.width = W.SelectionSlider(options=(64, 128, 256, 512, 1024), value=width,
                                       description="net width", **c)
        self.full_batch = W.Checkbox(value=False, description="full-batch GD (else SGD, batch 8)")
        self.all_points = W.Checkbox(value=False, description="use all training points")
        self._wire((self.epochs, self.lr, self.width, self.full_batch, self.all_points))
        self.nets = self.result = self.figure = None
        self._runs = self.cache(4 * net_trials * 2)  # resumable net runs, <= 4 MB each
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="ntk-explore-table")
        self.update()
        # warm_up=False: no background compilation of nearby settings (e.g. on a busy host)
        self._warmup = self.warm_up(self._warmup_jobs(), warm_up)

    def _warmup_jobs(self):
        """Compile the nets' training for the settings a user is likely to pick next
        (each new width / batch mode / split otherwise costs ~2 s of compilation)."""
        cfg, widths = self.config(), self.width.options
        i = widths.index(cfg.width)
        near = [widths[j] for j in (i + 1, i - 1, i + 2, i - 2) if 0 <= j < len(widths)]
        variants = [dataclasses.replace(cfg, width=near[0]),
                    dataclasses.replace(cfg, holdout=0.0 if cfg.holdout else 0.3),
                    dataclasses.replace(cfg, batch_size=None if cfg.batch_size else 8)]
        variants += [dataclasses.replace(cfg, width=w) for w in near[1:]]
        data = self.data["as-coded"][0]

        def compile_for(c, d):  # a throwaway run of a few epochs compiles everything
            TableNetRun(data, d, c, key=jax.random.key(0), every=1).rmse(1)
        return [lambda c=c, d=d: compile_for(c, d) for c in variants for d in (2, 1)]

    def _datasets(self, form):
        rng = np.random.default_rng(self.seed)
        return [simulate_trial(rng, n=self.n, form=form) for _ in range(self.trials)]

    def _kernel_table(self, form) -> TableResult:
        scores = {m: np.zeros(self.trials) for m in KERNEL_METHODS}
        for t, data in enumerate(self.data[form]):
            for m, v in kernel_rmse(data, form=form).items():
                scores[m][t] = v
        return TableResult(scores, form, self.n, self.trials)

    def config(self) -> NetConfig:
        return NetConfig(width=self.width.value, epochs=self.epochs.value, lr=self.lr.value,
                         batch_size=None if self.full_batch.value else 8,
                         holdout=0.0 if self.all_points.value else 0.3)

    def _net_run(self, t: int, depth: int, cfg: NetConfig) -> TableNetRun:
        """The cached run of net ``depth`` on trial ``t`` (all epochs of one setting)."""
        def make():
            key = jax.random.split(jax.random.fold_in(jax.random.key(self.seed), t))[depth - 1]
            return TableNetRun(self.data["as-coded"][t], depth, cfg, key=key,
                               every=5 * cfg.epochs_for(depth) // cfg.epochs)
        return self._runs.get_or((t, depth, cfg.width, cfg.lr, cfg.batch_size, cfg.holdout), make)

    def net_scores(self, cfg: NetConfig) -> dict:
        """``{'NN1': (net_trials,), 'NN2': ...}`` test RMSEs, as ``train_table_net`` gives them.

        Runs are cached per setting and resumed when only the epochs grow; the two
        depths train in parallel threads (compilation included)."""
        def depth_scores(d):
            runs = [self._net_run(t, d, cfg) for t in range(self.net_trials)]
            for r in runs:  # dispatch every run before waiting on any
                r.advance(cfg.epochs_for(d))
            return np.array([r.rmse(cfg.epochs_for(d)) for r in runs])

        return dict(zip(("NN1", "NN2"), self._pool.map(depth_scores, (1, 2))))

    def update(self):
        cfg = self.config()
        self.nets = self.net_scores(cfg)
        self.result = TableResult({**self.kernels.rmse, **self.nets}, "as-coded", self.n,
                                  self.trials)
        nn1, ntkj1 = np.nanmean(self.nets["NN1"]), self.kernels.mean("NTKJ1")
        self.readout.value = (
            _table_html(self.result, self.kernels_corrected)
            + f"<p>NN1 / NTKJ1 (its own infinite-width NTK) RMSE ratio: <b>{nn1 / ntkj1:.2f}</b> "
            f"(nets: {self.net_trials} trials, width {cfg.width}, {cfg.epochs} epochs, "
            f"lr {cfg.lr:.4g}, {'full batch' if cfg.batch_size is None else 'batch 8'}, "
            f"holdout {cfg.holdout:.0%})</p>")
        self.figure = table_figure(self.result, PAPER_TABLE)
        self.png = _show(self.out, self.figure)

    def rows(self):
        return [W.HBox([self.epochs, self.lr, self.width]),
                W.HBox([self.full_batch, self.all_points])]

    def widget(self) -> W.Widget:  # the table beside the figure
        return W.VBox([W.VBox(self.rows()), W.HBox([self.readout, self.out])])
