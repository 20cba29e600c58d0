"""Notebook 03's app: how far features and the eNTK move in training, vs width."""

from __future__ import annotations

import ipywidgets as W
import jax
import jax.numpy as jnp

from ..core import validation as V
from ..core.training import DivergenceError
from ..plots.features import feature_change_figure
from ..topics.features import (
    DEFAULTS,
    MUP_MIN_WIDTH,
    claim_task,
    feature_sweeps,
    feature_task,
    precompile_sweep,
)
from ._app import App
from ._display import show_figure

__all__ = ["FeatureWidthApp", "QUICK"]

# What a slider move trains when the full sweep for that setting is not cached yet:
# one seed and widths up to 512 (about a tenth of the full sweep's work), so that the
# view answers in about a second on 2 CPU cores. 384 gives muP's fit (widths >= 256)
# three points. The readout and the figure title say which sweep is shown.
QUICK = dict(widths=(64, 128, 256, 384, 512), seeds=1)


class FeatureWidthApp(App):
    """Feature change, eNTK change and CKA vs width for one training set-up.

    Controls: parametrization, alpha (output scale; lr is divided by alpha**2
    and the output centred), base learning rate, depth, training steps. A new
    combination first shows a *quick* sweep (:data:`QUICK`: 1 seed, widths 64
    to 512; about a second on 2 CPU cores); the button computes the *full* sweep
    (``seeds x widths`` of the defaults, 5-20 s), which is then shown whenever
    that setting comes back. One training run is measured at every step count
    of the slider up to the chosen one, so moving the steps slider down is
    free. Attributes after each update: ``sweep``, ``slopes`` (feature,
    kernel), ``figure``, ``full`` (whether ``sweep`` is the full sweep).
    """

    def __init__(self, *, key=None, dtype=jnp.float32, warm_up: bool = True, **overrides):
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; choose from {sorted(DEFAULTS)}")
        self.cfg = {**DEFAULTS, **overrides}
        V.check_option("lr", self.cfg["lr"], [0.1, 0.2, 0.4, 0.8, 1.0])
        V.check_option("depth", self.cfg["depth"], (1, 2, 3))
        V.check_option("steps", self.cfg["steps"], [30, 100, 300, 1000])
        self.cfg["widths"] = tuple(sorted(V.check_int_list("widths", self.cfg["widths"])))
        key = V.check_key("key", jax.random.key(0) if key is None else key)
        c = self.cfg
        if all(c[k] == DEFAULTS[k] for k in ("n", "d", "scale")):
            self.task, self.key = claim_task(key, dtype)  # the nets the verdicts judge
        else:
            k_task, self.key = jax.random.split(key)
            self.task = feature_task(k_task, n=c["n"], d=c["d"], scale=c["scale"], dtype=dtype)
        self._full, self._quick = self.cache(32), self.cache(64)
        style = {"description_width": "initial"}
        self.parametrization = W.Dropdown(options=["ntk", "mup", "standard"], value="ntk",
                                          description="parametrization", style=style)
        self.alpha = W.SelectionSlider(options=[0.25, 0.5, 1.0, 2.0, 4.0], value=1.0,
                                       description="alpha", continuous_update=False)
        self.lr = W.SelectionSlider(options=[0.1, 0.2, 0.4, 0.8, 1.0], value=c["lr"],
                                    description="base lr", continuous_update=False)
        self.depth = W.IntSlider(value=c["depth"], min=1, max=3, description="depth",
                                 continuous_update=False)
        self.steps = W.SelectionSlider(options=[30, 100, 300, 1000], value=c["steps"],
                                       description="GD steps", continuous_update=False)
        self.full_button = W.Button(
            description="full sweep", tooltip=f"{c['seeds']} seeds, widths "
            f"{min(c['widths'])}-{max(c['widths'])} for this setting (5-20 s on 2 CPU cores)")
        self.full_button.on_click(lambda _b: self.show_full())
        self._wire((self.parametrization, self.alpha, self.lr, self.depth, self.steps))
        self.sweep = self.slopes = self.figure = None
        self.full = False
        self.sweep_for()  # the starting setting in full
        self.update()
        # while idle: compile the quick sweep's segments for the other depths
        self._warm = self.warm_up(
            [lambda d=d: precompile_sweep(self.task, QUICK["widths"], d) for d in (2, 1, 3)],
            warm_up)

    def _settings(self, parametrization, alpha, lr, depth, steps):
        return (parametrization or self.parametrization.value, alpha or self.alpha.value,
                lr or self.lr.value, depth or self.depth.value, steps or self.steps.value)

    def _compute(self, cache, args, widths, seeds):
        """Train one sweep at ``args`` measured at every slider step count up to its own."""
        p, a, r, dep, s = args
        points = [t for t in self.steps.options if t < s] + [s]
        out = feature_sweeps(self.task, widths, key=self.key, steps=points, parametrization=p,
                             alpha=a, lr=r, depth=dep, seeds=seeds)
        for t, sweep in out.items():
            cache.put((p, a, r, dep, t), sweep)
        if s not in out:
            raise out.divergence
        return out[s]

    def sweep_for(self, parametrization=None, alpha=None, lr=None, depth=None, steps=None):
        """The full sweep for these settings (current slider values where ``None``), cached."""
        args = self._settings(parametrization, alpha, lr, depth, steps)
        sweep = self._full.get(args)
        if sweep is None:
            sweep = self._compute(self._full, args, self.cfg["widths"], self.cfg["seeds"])
        return sweep

    def quick_sweep_for(self, parametrization=None, alpha=None, lr=None, depth=None,
                        steps=None):
        """The :data:`QUICK` sweep for these settings, cached."""
        args = self._settings(parametrization, alpha, lr, depth, steps)
        sweep = self._quick.get(args)
        if sweep is None:
            sweep = self._compute(self._quick, args, QUICK["widths"], QUICK["seeds"])
        return sweep

    def min_width(self, parametrization: str) -> int:
        return MUP_MIN_WIDTH if parametrization == "mup" else 0

    def show_full(self):
        """Compute (or fetch) the full sweep for the current setting and show it."""
        try:
            self.sweep_for()
        except DivergenceError:
            pass  # update() reports it
        self.update()

    def update(self):
        p = self.parametrization.value
        args = self._settings(None, None, None, None, None)
        full = self._full.get(args)
        try:
            self.sweep = full if full is not None else self.quick_sweep_for()
        except DivergenceError as err:
            self.sweep = self.slopes = None
            self.readout.value = f"<b style='color:#c00'>{err}</b>"
            self.out.clear_output()
            return
        self.full = full is not None
        sw = self.sweep
        what = (f"{'full' if self.full else 'quick'} sweep: {sw.loss.shape[0]} seed"
                f"{'s' if sw.loss.shape[0] > 1 else ''}, widths {sw.widths[0]}-{sw.widths[-1]}")
        fits = [sw.fit(q, self.min_width(p)) for q in ("feature", "kernel")]
        self.slopes = tuple(f.slope for f in fits)
        self.readout.value = (
            f"<b>{p}</b>, alpha {self.alpha.value:g} ({what}"
            f"{'' if self.full else '; the button trains the full one'}): feature-change slope "
            f"<b>{fits[0].slope:.2f}</b> (95% CI {fits[0].ci95[0]:.2f} to {fits[0].ci95[1]:.2f}), "
            f"eNTK-change slope <b>{fits[1].slope:.2f}</b> (95% CI {fits[1].ci95[0]:.2f} to "
            f"{fits[1].ci95[1]:.2f}); feature change at width {sw.widths[-1]}: "
            f"{sw.mean('feature')[-1]:.3f}; final train loss at most "
            f"{sw.loss.max():.2g}. Lazy theory: -0.5 and -1; muP theory: 0 for the features, and "
            "a kernel change that does not fall.")
        self.figure = feature_change_figure({p: sw}, {p: self.min_width(p)})
        self.figure.suptitle(f"{what}; lr {sw.lr:g}, depth {self.depth.value}, {sw.steps} GD "
                             "steps", fontsize=9)
        self.png = show_figure(self.out, self.figure)

    def rows(self):
        return [W.HBox([self.parametrization, self.alpha, self.lr]),
                W.HBox([self.depth, self.steps, self.full_button])]
