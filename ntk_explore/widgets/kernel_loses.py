"""Notebook 09's app: the trained net against its kernels on a single-index task.

Everything a slider can show is computed once, at construction, over the slider grid
(:func:`~ntk_explore.topics.kernel_loses.alpha_sweep` for the output scale ``alpha``,
:func:`~ntk_explore.topics.kernel_loses.pretrained_curves` for ``n_pre``), so a move is a
lookup and a redraw. The "check a setting" box validates a new setting with
:func:`~ntk_explore.topics.kernel_loses.validate_settings` and shows its message (or
its estimated cost) instead of starting a run that would hang or plot NaNs.
"""

from __future__ import annotations

import ipywidgets as W
import jax
import jax.numpy as jnp
from IPython.display import display

from ..core import kernel_metrics as km
from ..plots import kernel_loses as plots
from ..topics import kernel_loses as kl
from ._display import show_figure

__all__ = ["KernelLosesApp"]

_STYLE = {"description_width": "initial"}


class _Merged:
    """Curves of several sweeps on the same sizes, as one object the figure functions read."""

    def __init__(self, ns, errors):
        self.ns, self.errors = ns, errors

    def exponent(self, name):
        return km.fit_exponent(self.ns, self.errors[name])


class KernelLosesApp:
    """Sliders: output scale ``alpha`` (rich 1 -> lazy), pretraining samples ``n_pre``;
    learner check boxes (redraw only). Attributes after each update: ``curves`` (what the
    figure shows), ``exponents`` (learner -> Exponent), ``figure_png``, ``message``.

    Args:
      key: seeds the tasks and inits (the same for every slider value).
      sizes, seeds: the data-scaling grid; ``alphas``, ``n_pres``: the slider grids.
      settings: passed to :func:`~ntk_explore.topics.kernel_loses.data_scaling`.
    """

    def __init__(self, *, key=None, sizes=(128, 256, 512, 1024, 2048), seeds=2,
                 alphas=(1.0, 16.0), n_pres=(128, 512), dtype=jnp.float32, **settings):
        key = jax.random.key(0) if key is None else key
        kl.validate_settings(n_max=max(sizes), **{k: v for k, v in settings.items()
                                                  if k in ("d", "r", "width", "depth", "steps")})
        self.sweep = kl.alpha_sweep(key, alphas, sizes, seeds=seeds, dtype=dtype, **settings)
        self.pre = kl.pretrained_curves(key, n_pres, sizes, seeds=seeds, dtype=dtype, **settings)
        self.base = self.sweep[float(alphas[0])]  # holds the fixed kernels
        self.ns = self.base.ns
        self.alpha = W.SelectionSlider(options=[float(a) for a in alphas], value=float(alphas[0]),
                                       description="output scale alpha (1 = rich)",
                                       continuous_update=False, style=_STYLE)
        self.n_pre = W.SelectionSlider(options=[int(n) for n in n_pres], value=int(n_pres[-1]),
                                       description="pretraining samples n_pre",
                                       continuous_update=False, style=_STYLE)
        self.show = {name: W.Checkbox(value=True, description=plots.LABELS[name], indent=False)
                     for name in ("net", "entk_init", "ntk", "pretrained")}
        self.check_r = W.BoundedIntText(value=1, min=-10**6, max=10**6, description="r", style=_STYLE)
        self.check_n_pre = W.BoundedIntText(value=512, min=-10**9, max=10**9, description="n_pre",
                                            style=_STYLE)
        self.check_width = W.BoundedIntText(value=256, min=1, max=10**7, description="width",
                                            style=_STYLE)
        self.check_steps = W.BoundedIntText(value=1000, min=1, max=10**8, description="steps",
                                            style=_STYLE)
        self.check_button = W.Button(description="check this setting")
        self.check_out = W.HTML()
        self.readout, self.out = W.HTML(), W.Output()
        self.check_button.on_click(lambda _b: self.check())
        for w in (self.alpha, self.n_pre, *self.show.values()):
            w.observe(lambda _change: self.update(), names="value")
        self.message = ""
        self.update()

    def current(self) -> _Merged:
        """The curves the sliders select: net at ``alpha`` (as ``'net'``), kernels, pretrained."""
        base = self.base
        errors = {"net": self.sweep[self.alpha.value].errors["lazy"],
                  "entk_init": base.errors["entk_init"], "ntk": base.errors["ntk"],
                  "pretrained": self.pre[self.n_pre.value].errors["pretrained"]}
        return _Merged(self.ns, {k: v for k, v in errors.items() if self.show[k].value})

    def update(self):
        self.curves = self.current()
        if not self.curves.errors:
            self.readout.value = "<b>tick at least one learner</b>"
            return
        self.exponents = {k: self.curves.exponent(k) for k in self.curves.errors}
        rows = ", ".join(f"{plots.LABELS[k]} {e.slope:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]"
                         for k, e in self.exponents.items())
        self.readout.value = (f"alpha = <b>{self.alpha.value:g}</b>, n_pre = "
                              f"<b>{self.n_pre.value}</b>; exponents (95%): {rows}")
        fig = plots.scaling_figure(self.curves, title=f"net at alpha = {self.alpha.value:g} "
                                   "against its kernels (ridge chosen on validation data)")
        self.figure_png = show_figure(self.out, fig)

    def check(self) -> str:
        """Validate the "check a setting" box; shows and returns the message."""
        try:
            secs = kl.validate_settings(r=int(self.check_r.value), n_pre=int(self.check_n_pre.value),
                                        width=int(self.check_width.value),
                                        steps=int(self.check_steps.value), n_max=int(self.ns[-1]))
            self.message = f"ok: the largest GD run would take about {secs:.1f} s"
        except ValueError as err:
            self.message = f"cannot run this setting: {err}"
        self.check_out.value = f"<span>{self.message}</span>"
        return self.message

    def widget(self) -> W.Widget:
        checks = W.HBox([self.check_r, self.check_n_pre, self.check_width, self.check_steps,
                         self.check_button])
        return W.VBox([W.HBox([self.alpha, self.n_pre]), W.HBox(list(self.show.values())),
                       self.readout, self.out, checks, self.check_out])

    def _ipython_display_(self):
        display(self.widget())
