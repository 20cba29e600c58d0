"""Apps for notebooks 07-08: data scaling, pNTK vs eNTK, look-ahead active learning.

Each app caches its results by slider values (a small LRU), so moving back to a
setting is instant. A new setting recomputes through the library's explorers
(:class:`~ntk_explore.explore.ScalingExplorer`,
:class:`~ntk_explore.explore.GapExplorer`, and the cached fits of
:mod:`ntk_explore.topics.active`), which resume GD from checkpoints, reuse kernels and
compiled programs, and compile every width's programs when the app is built:
about a second on 2 CPU cores, a few seconds for the largest width or step count.
"""

from __future__ import annotations

import ipywidgets as W
import jax

from .. import explore
from ..core import validation as V
from ..plots import beyond as plots
from ..topics import active, pntk_study, scaling
from ._app import App
from ._display import show_figure as _show

__all__ = ["ScalingApp", "ExtendCurveApp", "PntkApp", "ActiveApp"]

_STYLE = {"description_width": "initial"}


class ScalingApp(App):
    """Test loss vs n for the net and its kernels on one task.

    Sliders: width, GD steps, pretraining samples. Attributes after each
    update: ``curves`` (:class:`~ntk_explore.topics.scaling.ScalingCurves`),
    ``exponents`` (learner -> Exponent), ``figure``.

    Computation goes through a :class:`~ntk_explore.explore.ScalingExplorer`:
    GD checkpoints at every slider step count (more steps resume training,
    fewer are a lookup), kernels and losses reused across moves, and with
    ``precompile`` every width's programs compiled once at construction.
    """

    def __init__(self, task=None, *, ns=(32, 64, 128, 256, 512), width=256, steps=500,
                 n_pre=128, key=None, precompile=True):
        V.check_option("width", width, (64, 128, 256, 512, 1024))
        V.check_option("steps", steps, (100, 250, 500, 1000, 2000))
        V.check_option("n_pre", n_pre, (16, 32, 64, 128, 256))
        ns = tuple(sorted(V.check_int_list("ns", ns)))  # the explorer's order
        self.task = scaling.digits_task() if task is None else task
        self.ns, self.key = ns, V.check_key("key", jax.random.key(0) if key is None else key)
        self.width = W.SelectionSlider(options=(64, 128, 256, 512, 1024), value=width,
                                       description="width", continuous_update=False,
                                       style=_STYLE)
        self.steps = W.SelectionSlider(options=(100, 250, 500, 1000, 2000), value=steps,
                                       description="GD steps", continuous_update=False,
                                       style=_STYLE)
        self.n_pre = W.SelectionSlider(options=(16, 32, 64, 128, 256), value=n_pre,
                                       description="pretraining samples",
                                       continuous_update=False, style=_STYLE)
        # Keeps GD checkpoints at every slider step count (more steps resume, fewer are
        # a lookup), one compiled loop per width and the infinite NTK across moves.
        self.explorer = explore.ScalingExplorer(self.task, self.ns, key=self.key,
                                                save_at=self.steps.options,
                                                max_width=max(self.width.options))
        self._wire([self.width, self.steps, self.n_pre])
        self.update()
        if precompile:  # a few seconds now, so that a width move only computes
            self.explorer.precompile([w for w in self.width.options if w != width],
                                     self.n_pre.options)

    def compute(self):
        args = (self.width.value, self.steps.value, self.n_pre.value)
        return self._cached(args, lambda: self.explorer.curves(*args))

    def update(self):
        self.curves = self.compute()
        self.exponents = self.curves.exponents()
        self.readout.value = "; ".join(
            f"{plots.LEARNER_NAMES.get(name, name)}: alpha <b>{e.alpha:.2f}</b> "
            f"[{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]"
            for name, e in self.exponents.items())
        self.figure = plots.scaling_figure(self.curves)
        self.png = _show(self.out, self.figure)


class ExtendCurveApp(App):
    """A toggle button, off by default, that extends the eNTK-at-init curve to ``n_max``.

    The sizes are ``log_sizes(32, n_max, 10)`` on ``task`` (default
    ``teacher_task(n_pool=n_max)``; any :class:`~ntk_explore.topics.scaling.Task` with a
    pool of at least ``n_max`` points); ``width``, ``parametrization`` and ``ridge`` go to
    the one-hidden-layer MLP and the regression; from
    :data:`~ntk_explore.topics.scaling.MATFREE_FROM` on, the kernel regression runs
    matrix-free (:func:`~ntk_explore.topics.scaling.entk_init_curve`).
    ``seconds`` is the label's time estimate. Switching it on computes (once; cached)
    and shows the curve; off hides it. Attributes while on: ``curves``, ``exponent``,
    ``figure`` (all ``None`` while off).
    """

    def __init__(self, task=None, *, n_max=16384, width=256, parametrization="ntk", ridge=1e-3,
                 seconds=20, key=None):
        self.ns = scaling.log_sizes(32, n_max, 10)
        self.task = scaling.teacher_task(n_pool=n_max) if task is None else task
        self.width, self.key = width, jax.random.key(0) if key is None else key
        self.parametrization, self.ridge = parametrization, ridge
        self._wire_toggle(f"extend the eNTK curve to n = {n_max:,} (matrix-free, ~{seconds} s)")
        self.update()

    def update(self):
        if self._switched_off("curves", "exponent", "figure"):
            return
        self.readout.value = f"computing n = {self.ns.tolist()} ..."
        self.curves = self._cached((), lambda: scaling.entk_init_curve(
            self.task, self.ns, key=self.key, width=self.width,
            parametrization=self.parametrization, ridge=self.ridge))
        e = self.exponent = self.curves.exponent("entk_init")
        loss = self.curves.losses["entk_init"]
        self.readout.value = (f"eNTK at init, n = {self.ns[0]}..{self.ns[-1]:,}: alpha "
                              f"<b>{e.alpha:.2f}</b> [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]; test "
                              f"loss at n = {self.ns[-1]:,}: {loss[-1]:.4f}")
        self.figure = plots.extended_scaling_figure(self.curves, scaling.MATFREE_FROM,
                                                    ridge=self.ridge)
        self.png = _show(self.out, self.figure)


class PntkApp(App):
    """pNTK/eNTK gap vs width at init and after training, for ``k`` outputs.

    Sliders: outputs k, training steps. Attributes: ``init_sweep``,
    ``trained_sweep`` (:class:`~ntk_explore.topics.pntk_study.GapSweep`), ``cost_rows``
    (:class:`~ntk_explore.topics.pntk_study.CostRow` per ``cost_ks``), ``figure``. The
    defaults are :data:`~ntk_explore.topics.pntk_study.VERDICT_SETTINGS`, so
    ``pntk_study.pntk_verdict(app.sweep(10, 0))`` is the tour's verdict.
    """

    def __init__(self, *, n_points=None, widths=None, seeds=None, k=10, train_steps=200,
                 cost_ks=(1, 2, 5, 10), cost_repeats=5, key=None):
        V.check_option("k", k, (2, 5, 10))
        V.check_option("train_steps", train_steps, (50, 200, 1000))
        d = pntk_study.VERDICT_SETTINGS
        n_points = V.check_positive_int("n_points", d["n_points"] if n_points is None else n_points,
                                        minimum=2)
        self.task = scaling.digits_task()
        self.x = self.task.x[:n_points]
        self.widths = tuple(sorted(V.check_int_list("widths", d["widths"] if widths is None
                                                    else widths)))  # GapExplorer's order
        self.seeds = V.check_positive_int("seeds", d["seeds"] if seeds is None else seeds, minimum=2)
        self.key = V.check_key("key", jax.random.key(d["seed"]) if key is None else key)
        self.k = W.SelectionSlider(options=(2, 5, 10), value=k, description="outputs k",
                                   continuous_update=False, style=_STYLE)
        self.train_steps = W.SelectionSlider(options=(50, 200, 1000), value=train_steps,
                                             description="training steps",
                                             continuous_update=False, style=_STYLE)
        self.cost_rows = pntk_study.cost_vs_k(cost_ks, key=self.key, repeats=cost_repeats)
        # One padded max(k)-output net per width serves every k (no recompile per k);
        # GD checkpoints at the slider's step counts (more steps resume).
        self.explorer = explore.GapExplorer(
            self.x, self.widths, key=self.key, seeds=self.seeds, k_max=max(self.k.options),
            y=self.task.y[: self.x.shape[0], : max(self.k.options)],
            save_at=self.train_steps.options)
        self._wire([self.k, self.train_steps])
        self.update()

    def sweep(self, k: int, steps: int):
        """The :class:`~ntk_explore.topics.pntk_study.GapSweep` for ``k`` outputs after
        ``steps`` GD steps (0: at init), cached."""
        return self._cached((int(k), int(steps)), lambda: self.explorer.sweep(k, steps))

    def update(self):
        k, steps = self.k.value, self.train_steps.value
        self.init_sweep, self.trained_sweep = self.sweep(k, 0), self.sweep(k, steps)
        fi, ft = self.init_sweep.fit, self.trained_sweep.fit
        self.readout.value = (f"k = {k}: gap slope at init <b>{fi.slope:.3f}</b> "
                              f"[{fi.ci95[0]:.2f}, {fi.ci95[1]:.2f}]; after {steps} steps "
                              f"<b>{ft.slope:.3f}</b> [{ft.ci95[0]:.2f}, {ft.ci95[1]:.2f}] "
                              f"(theory -0.5; 95% intervals of the fits)")
        self.figure = plots.pntk_figure([self.init_sweep, self.trained_sweep],
                                        ["init", f"after {steps} GD steps"], self.cost_rows)
        self.png = _show(self.out, self.figure)


class ActiveApp(App):
    """Acquisition curves (random, uncertainty, eNTK look-ahead) on ``load_digits``.

    Sliders: points per round, width. Attributes: ``curves`` (strategy -> list
    of :class:`~ntk_explore.topics.active.AcquisitionCurve` over seeds), ``final``
    (strategy -> mean final accuracy), ``check`` (the look-ahead vs retraining
    :class:`~ntk_explore.topics.active.RetrainCheck`, at the default width), ``figure``.
    With ``precompile``, the programs of every width and labelled-set size are compiled
    in the background after construction, so that a later move only computes.
    """

    CANDIDATES = (3, 50, 200, 400, 800, 1100)
    """Pool indices whose look-ahead change is compared with retraining."""

    def __init__(self, *, seeds=2, rounds=5, steps=300, per_round=10, width=256, key=None,
                 precompile=True):
        V.check_option("per_round", per_round, (5, 10, 20))
        V.check_option("width", width, (128, 256, 512))
        V.check_key("key", key, optional=True)
        self.task = scaling.digits_task()
        self.seeds, self.rounds, self.steps = seeds, rounds, steps
        self.key = jax.random.key(0) if key is None else key
        self.per_round = W.SelectionSlider(options=(5, 10, 20), value=per_round,
                                           description="labels per round",
                                           continuous_update=False, style=_STYLE)
        self.width = W.SelectionSlider(options=(128, 256, 512), value=width,
                                       description="width", continuous_update=False,
                                       style=_STYLE)
        self.check_width = width
        self.check = active.retrain_check(self.task, self.CANDIDATES, key=self.key, width=width,
                                          steps=steps, retrain_steps=steps, n_eval=150)
        self._wire([self.per_round, self.width])
        self.update()
        sizes = [20 + r * p for p in self.per_round.options for r in range(rounds + 1)]
        self._warm = self.warm_up(
            [lambda: active.precompile(self.task, self.width.options, key=self.key, sizes=sizes)],
            precompile)

    def _curves(self, per_round, width):
        def compute():
            return {s: [active.acquisition_curve(
                self.task, s, key=jax.random.fold_in(self.key, seed), seed=seed,
                per_round=per_round, rounds=self.rounds, width=width, steps=self.steps)
                for seed in range(self.seeds)] for s in active.STRATEGIES}
        return self._cached((per_round, width), compute)

    def update(self):
        self.curves = self._curves(self.per_round.value, self.width.value)
        self.final = {s: active.final_accuracy(runs)[0] for s, runs in self.curves.items()}
        labels = self.curves["random"][0].labels[-1]
        self.readout.value = f"test accuracy at {labels} labels (mean of {self.seeds} seeds): " + "; ".join(
            f"{plots.STRATEGY_NAMES.get(s, s)} <b>{a:.3f}</b>" for s, a in self.final.items())
        self.figure = plots.active_figure(self.curves, self.check, self.check_width)
        self.png = _show(self.out, self.figure)
