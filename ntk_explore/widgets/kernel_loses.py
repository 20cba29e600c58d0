"""Notebook 09's app: the trained net against its kernels on a single-index task.

Everything a slider can show is computed once, at construction, over the slider grid
(:func:`~ntk_explore.topics.kernel_loses.data_scaling` for the rich net, the lazy control
and the kernels, :func:`~ntk_explore.topics.kernel_loses.pretrained_curves` for ``n_pre``),
so a move is a lookup and a redraw. The "check a setting" box validates a new setting with
:func:`~ntk_explore.topics.kernel_loses.validate_settings` and shows its message (or
its estimated cost) instead of starting a run that would hang or plot NaNs.
"""

from __future__ import annotations

import html

import ipywidgets as W
import jax
import jax.numpy as jnp

from ..core import metrics as km
from ..plots import kernel_loses as plots
from ..topics import kernel_loses as kl
from ._app import App
from ._display import show_figure, show_png

__all__ = ["KernelLosesApp", "ExtendKernelApp"]

_STYLE = {"description_width": "initial"}


class _Merged:
    """Curves of several sweeps on the same sizes, as one object the figure functions read;
    ``eval_sets``: the validation/test-set digests of every sweep it draws from."""

    def __init__(self, ns, errors, eval_sets=()):
        self.ns, self.errors, self.eval_sets = ns, errors, tuple(eval_sets)

    def exponent(self, name):
        return km.fit_exponent(self.ns, self.errors[name])


class KernelLosesApp(App):
    """Sliders: output scale ``alpha`` (1 = the rich net, ``lazy_alpha`` = the lazy control) and,
    when more than one was computed, pretraining samples ``n_pre``; learner check boxes (redraw
    only). Attributes after each update: ``curves`` (what the figure shows), ``exponents``
    (learner -> Exponent), ``figure_png`` (``None`` when no learner is ticked); ``message``
    after :meth:`check` (or a refused control value, :class:`~ntk_explore.widgets._app.App`).

    Every curve was measured on the same validation and test sets for a given seed
    (:func:`~ntk_explore.topics.kernel_loses.make_task`); :meth:`eval_sets` lists them for
    the curves on screen.

    Args:
      curves: a :func:`~ntk_explore.topics.kernel_loses.data_scaling` result holding
        ``net``, ``lazy`` and ``entk_init`` (``ntk``, ``pretrained`` optional; computed here
        when ``None``).
      pretrained: ``{n_pre: Curves}`` from
        :func:`~ntk_explore.topics.kernel_loses.pretrained_curves` for other ``n_pre``
        values (computed here for ``n_pres`` when ``None`` and ``curves`` is ``None``).
      key, sizes, seeds, n_pres, settings: what to compute when ``curves`` is ``None``.
    """

    def __init__(self, curves=None, pretrained=None, *, key=None,
                 sizes=(128, 256, 512, 1024, 2048), seeds=2, n_pres=(512,),
                 dtype=jnp.float32, **settings):
        key = jax.random.key(0) if key is None else key
        n_pres = tuple(int(n) for n in n_pres)
        if curves is None:
            kl.validate_settings(n_max=max(sizes), n_pre=n_pres[-1],
                                 **{k: v for k, v in settings.items()
                                    if k in ("d", "r", "width", "depth", "steps")})
            curves = kl.data_scaling(key, sizes, seeds=seeds, dtype=dtype,
                                     learners=("net", "lazy", "entk_init", "ntk", "pretrained"),
                                     **{**settings, "n_pre": n_pres[-1]})
            if pretrained is None:
                pretrained = kl.pretrained_curves(key, n_pres[:-1], curves.ns, seeds=seeds,
                                                  dtype=dtype, **settings)
        self.base = curves
        self.pre = dict(pretrained or {})
        if "pretrained" in curves.errors:
            self.pre[int(curves.settings["n_pre"])] = curves
        self.ns = curves.ns
        self.alphas = {1.0: "net", float(curves.settings["lazy_alpha"]): "lazy"}
        self.alpha = W.SelectionSlider(options=list(self.alphas), value=1.0,
                                       description="output scale alpha (1 = rich)",
                                       continuous_update=False, style=_STYLE)
        options = sorted(self.pre) or [int(curves.settings["n_pre"])]
        self.n_pre = W.SelectionSlider(options=options, value=options[-1],
                                       description="pretraining samples n_pre",
                                       continuous_update=False, style=_STYLE)
        self.show = {name: W.Checkbox(value=True, description=plots.LABELS[name], indent=False)
                     for name in ("net", "entk_init", "ntk", "pretrained")
                     if name == "net" or (name == "pretrained" and self.pre)
                     or name in curves.errors}
        # the "check a setting" box: plain integer fields (nothing clamped), checked on click
        self.check_r = W.IntText(value=1, description="r", style=_STYLE)
        self.check_n_pre = W.IntText(value=512, description="n_pre", style=_STYLE)
        self.check_width = W.IntText(value=256, description="width", style=_STYLE)
        self.check_steps = W.IntText(value=1000, description="steps", style=_STYLE)
        self.check_button = W.Button(description="check this setting")
        self.check_out = W.HTML()
        self.check_button.on_click(lambda _b: self.check())
        self._wire([self.alpha, self.n_pre, *self.show.values()])
        self.figure_png = None
        self._live = plots.ScalingLive(self.ns, self._series())  # every curve drawn once
        self._pngs = {}  # rendered frame per (alpha, n_pre, learners shown)
        self.update()

    def _series(self) -> dict:
        """Every curve a frame can show: ``{key: (label, color, errors, exponent)}``."""
        out = {}
        for name in ("net", "lazy", "entk_init", "ntk"):
            if name in self.base.errors:
                errors = self.base.errors[name]
                out[name] = (plots.LABELS[name], plots.COLORS[name], errors,
                             km.fit_exponent(self.ns, errors))
        for n_pre, c in sorted(self.pre.items()):
            errors = c.errors["pretrained"]
            out[f"pretrained:{n_pre}"] = (f"{plots.LABELS['pretrained']} (n_pre = {n_pre})",
                                          plots.COLORS["pretrained"], errors,
                                          km.fit_exponent(self.ns, errors))
        return out

    def current(self) -> _Merged:
        """The curves the sliders select: net at ``alpha`` (as ``'net'``), kernels, pretrained."""
        base = self.base
        errors = {"net": base.errors[self.alphas[self.alpha.value]]}
        sources = [base]
        for name in ("entk_init", "ntk"):
            if name in base.errors:
                errors[name] = base.errors[name]
        if self.pre:
            pre = self.pre[self.n_pre.value]
            errors["pretrained"] = pre.errors["pretrained"]
            sources.append(pre)
        shown = {k: v for k, v in errors.items() if k in self.show and self.show[k].value}
        digests = {d for c in sources for d in getattr(c, "eval_sets", ())}
        return _Merged(self.ns, shown, sorted(digests))

    def eval_sets(self) -> tuple:
        """The validation/test-set digests (one per seed) behind the curves on screen: one
        set of digests per seed whatever the sliders say."""
        return self.curves.eval_sets

    def _frame_keys(self) -> tuple:
        keys = {"net": self.alphas[self.alpha.value], "entk_init": "entk_init", "ntk": "ntk",
                "pretrained": f"pretrained:{self.n_pre.value}"}
        return tuple(keys[k] for k in self.curves.errors)

    def update(self):
        self.curves = self.current()
        if not self.curves.errors:
            self.exponents, self.figure_png = {}, None
            self.out.clear_output()
            self.readout.value = "<b>no learner ticked</b>: tick at least one to draw the figure"
            return
        self.exponents = {k: self.curves.exponent(k) for k in self.curves.errors}
        label = {**plots.LABELS, "net": plots.LABELS[self.alphas[self.alpha.value]]}
        rows = ", ".join(f"{label[k]} {e.slope:.2f} [{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]"
                         for k, e in self.exponents.items())
        pre = f", n_pre = <b>{self.n_pre.value}</b>" if self.pre else ""
        self.readout.value = (f"alpha = <b>{self.alpha.value:g}</b>{pre}; exponents (95%): {rows}")
        keys = self._frame_keys()
        png = self._pngs.get(keys)
        if png is None:  # only the shown curves, legend and title are redrawn (LiveFigure)
            png = self._pngs[keys] = self._live.render(
                keys, f"net at alpha = {self.alpha.value:g} against its kernels "
                "(ridge chosen on validation data)")
        self.figure_png = show_png(self.out, png)

    def check(self) -> str:
        """Validate the "check a setting" box; shows and returns the message."""
        try:
            secs = kl.validate_settings(r=int(self.check_r.value), n_pre=int(self.check_n_pre.value),
                                        width=int(self.check_width.value),
                                        steps=int(self.check_steps.value), n_max=int(self.ns[-1]))
            self.message = f"ok: the largest GD run would take about {secs:.1f} s"
        except ValueError as err:
            self.message = f"cannot run this setting: {err}"
        self.check_out.value = f"<span>{html.escape(self.message)}</span>"
        return self.message

    def rows(self) -> list:
        sliders = [self.alpha] + ([self.n_pre] if len(self.n_pre.options) > 1 else [])
        return [W.HBox(sliders), W.HBox(list(self.show.values()))]

    def widget(self) -> W.Widget:
        checks = W.HBox([self.check_r, self.check_n_pre, self.check_width, self.check_steps,
                         self.check_button])
        return W.VBox(self.rows() + [self.readout, self.out, checks, self.check_out])


class ExtendKernelApp(App):
    """A toggle, off by default, that extends the eNTK-at-init curve past the kernel matrix.

    Switching it on runs :func:`~ntk_explore.topics.kernel_loses.entk_init_extended`
    (once; cached) with ``key``, ``sizes`` and ``settings`` and draws
    :func:`~ntk_explore.plots.kernel_loses.extended_figure`, beside ``curves`` (a
    ``data_scaling`` result) when given; off hides it. ``seconds`` is the label's
    time estimate. Attributes while on: ``extended``, ``exponent``, ``figure``
    (``None`` while off).
    """

    def __init__(self, key, sizes=(256, 512, 1024, 2048, 4096, 8192, 16384), *, curves=None,
                 seconds=30, **settings):
        self.key, self.sizes, self.curves, self.settings = key, tuple(sizes), curves, settings
        self._wire_toggle(f"extend the eNTK at init to n = {max(self.sizes):,} "
                          f"(matrix-free, ~{seconds} s)")
        self.update()

    def update(self):
        if self._switched_off("extended", "exponent", "figure"):
            return
        self.readout.value = f"computing n = {list(self.sizes)} ..."
        ext = self.extended = self._cached((), lambda: kl.entk_init_extended(
            self.key, self.sizes, **self.settings))
        e = self.exponent = ext.exponent()
        free = ext.matfree
        self.readout.value = (
            f"eNTK at init, n = {ext.ns[0]}..{ext.ns[-1]:,}: exponent <b>{e.slope:.2f}</b> "
            f"[{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]; error at n = {ext.ns[-1]:,}: "
            f"<b>{ext.errors[-1]:.3f}</b>; matrix-free sizes took {ext.seconds[free].sum():.0f} s "
            f"({int(ext.iterations[free].sum())} CG iterations, ridge "
            f"{ext.rel_ridge[free][0]:g} x trace/n)")
        self.figure = plots.extended_figure(ext, self.curves)
        self.png = show_figure(self.out, self.figure)
