"""Explorer for "how to prepare your task head": HP steps, smoothing, head, FT lr."""

from __future__ import annotations

import threading

import ipywidgets as W
import jax
import numpy as np

from ..core import validation as V
from ..plots.finetune import finetune_figure
from ..topics import finetune as F
from ._app import App
from ._display import show_figure

__all__ = ["FinetuneApp", "FT_LRS", "SMOOTHINGS", "QUICK"]


def _pm(se: float) -> str:
    """``'± 0.012'``; a standard error that rounds to 0 or cannot be computed says so."""
    if not np.isfinite(se):
        return "(one seed: no error bar)"
    return f"± {se:.3f}" if se >= 5e-4 else "± < 0.001 (the seeds agree)"


FT_LRS = (0.5, 1.0, 2.0, 4.0, 6.0)
SMOOTHINGS = (0.0, 0.1, 0.3)
# What a slider move fine-tunes when the full sweep for that setting is not cached yet:
# 2 seeds (the fewest with a standard error) x 50 FT steps, about 1/15 of the full
# sweep's work, so that the view answers in about a second on 2 CPU cores. The figure
# title and the readout say which sweep is shown.
QUICK = dict(seeds=2, ft_steps=50)


class FinetuneApp(App):
    """Energy, feature change and accuracy vs HP steps, and the first FT step.

    Each (head, smoothing, FT lr) combination runs a :func:`~ntk_explore.topics.finetune.tau_sweep`
    over the whole tau grid. The starting setting runs in full (``seeds`` x ``ft_steps``);
    a new combination first shows a *quick* sweep (:data:`QUICK`) and the button runs the
    full one, which is then shown whenever that setting comes back. Head probing depends
    only on (head, smoothing) and is shared by every FT lr; moving the tau slider only
    recomputes the first-step decomposition (seed 0). Attributes after each update:
    ``sweep``, ``step`` (:class:`~ntk_explore.topics.finetune.FirstStep`), ``figure``, ``full``.
    """

    def __init__(self, *, seeds: int = 5, taus=F.TAUS, tau: int = 100, ft_steps: int = 300,
                 key=None, data=None, pretrained=None, warm_up: bool = True, ft_lrs=FT_LRS):
        # the slider shows taus in the order head probing needs them (sorted)
        taus = tuple(sorted(V.check_int_list("taus", taus, minimum=0)))
        V.check_option("tau", tau, taus)
        seeds = V.check_positive_int("seeds", seeds, minimum=2)
        ft_steps = V.check_positive_int("ft_steps", ft_steps)
        self.key = V.check_key("key", jax.random.key(0) if key is None else key)
        k_pre, self.k_heads = jax.random.split(self.key)
        self.data = F.digits_transfer() if data is None else data
        self.pre = (F.pretrain_backbone(self.data, key=k_pre) if pretrained is None
                    else pretrained)
        self.seeds, self.taus, self.ft_steps = seeds, tuple(taus), ft_steps
        self.quick = dict(seeds=min(QUICK["seeds"], seeds),
                          ft_steps=min(QUICK["ft_steps"], ft_steps))
        self._sweeps, self._quick, self._probed = self.cache(32), self.cache(64), self.cache(8)
        self._probe_lock = threading.Lock()
        style = {"description_width": "initial"}
        self.tau = W.SelectionSlider(options=self.taus, value=tau, description="HP steps tau",
                                     continuous_update=False, style=style)
        self.smoothing = W.SelectionSlider(options=SMOOTHINGS, value=0.0, style=style,
                                           description="HP label smoothing s", readout=True,
                                           continuous_update=False)
        self.head = W.Dropdown(options=["linear", "mlp"], value="linear", description="head")
        ft_lrs = tuple(V.check_positive_float(f"ft_lrs[{i}]", v) for i, v in enumerate(ft_lrs))
        self.ft_lr = W.SelectionSlider(options=ft_lrs, value=ft_lrs[0], description="FT lr",
                                       continuous_update=False, style=style)
        self.full_button = W.Button(description="full sweep",
                                    tooltip=f"{seeds} seeds x {ft_steps} FT steps for this "
                                    "setting (10-20 s on 2 CPU cores)")
        self.full_button.on_click(lambda _b: self.show_full())
        self._wire((self.tau, self.smoothing, self.head, self.ft_lr))
        self.sweep = self.step = self.figure = None
        self.full = False
        self.sweep_for(self.head.value, self.smoothing.value, self.ft_lr.value)
        self.update()
        self._warm = self.warm_up([self._warm_up_job], warm_up)  # the other head, while idle

    def _warm_up_job(self):
        """Compile the other head's programs and probe its heads at the starting smoothing
        for the quick view (3000 HP steps of the mlp head take 1-3 s on 2 CPU cores)."""
        d, other = self.data, "mlp" if self.head.value == "linear" else "linear"
        hd = F.head(other, self.pre.model.width, d.y_train.shape[1])
        hp = hd.init(jax.random.key(0), d.x_train.dtype)
        F.finetune(self.pre, hd, hp, d, lr=0.1, steps=0)
        F.first_step(self.pre.model, self.pre.params, hd, hp, d.x_train, d.y_train, 0.1)
        self.probed(other, self.smoothing.value, self.quick["seeds"])

    def probed(self, head: str, smoothing: float, seeds: int) -> F.Probed:
        """Heads after HP for every tau, for at least ``seeds`` seeds (cached; one thread
        at a time, so a move waits for the warm-up's probing instead of repeating it)."""
        with self._probe_lock:
            got = self._probed.get((head, smoothing))
            if got is None or len(got.heads) < seeds:
                got = F.probe_heads(self.pre, self.data, key=self.k_heads, head_kind=head,
                                    taus=self.taus, seeds=seeds, smoothing=smoothing)
                self._probed.put((head, smoothing), got)
            return got

    def _sweep(self, head, smoothing, ft_lr, seeds, ft_steps) -> F.TauSweep:
        return F.tau_sweep(self.pre, self.data, key=self.k_heads, taus=self.taus, seeds=seeds,
                           head_kind=head, smoothing=smoothing, ft_lr=ft_lr, ft_steps=ft_steps,
                           probed=self.probed(head, smoothing, seeds))

    def sweep_for(self, head: str, smoothing: float, ft_lr: float) -> F.TauSweep:
        """The full tau sweep (``seeds`` x ``ft_steps``) for one setting (cached)."""
        k = (head, smoothing, ft_lr)
        if self._sweeps.get(k) is None:
            self._sweeps.put(k, self._sweep(head, smoothing, ft_lr, self.seeds, self.ft_steps))
        return self._sweeps.get(k)

    def quick_sweep_for(self, head: str, smoothing: float, ft_lr: float) -> F.TauSweep:
        """The quick tau sweep (:data:`QUICK`) for one setting (cached)."""
        k = (head, smoothing, ft_lr)
        if self._quick.get(k) is None:
            self._quick.put(k, self._sweep(head, smoothing, ft_lr, **self.quick))
        return self._quick.get(k)

    def first_step(self, head: str, smoothing: float, tau: int, eta: float) -> F.FirstStep:
        """First FT step after ``tau`` HP steps for seed 0 of the sweep."""
        d = self.data
        hd = F.head(head, self.pre.model.width, d.y_train.shape[1])
        hp = self.probed(head, smoothing, 1).heads[0][self.taus.index(tau)]
        return F.first_step(self.pre.model, self.pre.params, hd, hp, d.x_train, d.y_train, eta)

    def show_full(self):
        """Run (or fetch) the full sweep for the current setting and show it."""
        self.sweep_for(self.head.value, self.smoothing.value, self.ft_lr.value)
        self.update()

    def update(self):
        h, s, lr, tau = self.head.value, self.smoothing.value, self.ft_lr.value, self.tau.value
        full = self._sweeps.get((h, s, lr))
        self.full = full is not None
        self.sweep = full if self.full else self.quick_sweep_for(h, s, lr)
        self.step = self.first_step(h, s, tau, lr)
        i = self.taus.index(tau)
        sw = self.sweep
        what = (f"{'full' if self.full else 'quick'} sweep: {sw.energy.shape[0]} seeds x "
                f"{sw.ft_steps} FT steps" + ("" if self.full else ", the button runs the full one"))
        self.readout.value = (
            f"HP steps tau = <b>{tau}</b>, HP label smoothing s = <b>{s:g}</b>, head {h}, FT lr "
            f"<b>{lr:g}</b> ({what}): energy <b>{sw.mean('energy')[i]:.3f}</b>, feature change "
            f"<b>{sw.mean('feature_change')[i]:.3f}</b> {_pm(sw.sem('feature_change')[i])}, "
            f"CKA(features before, after FT) {sw.mean('cka')[i]:.3f} (1 = unchanged), accuracy "
            f"<b>{sw.mean('accuracy')[i]:.3f}</b> {_pm(sw.sem('accuracy')[i])}; Spearman(energy, "
            f"feature change) over tau <b>{sw.spearman():.2f}</b>; first-step residual "
            f"{self.step.residual:.2g} (± = 1 standard error over seeds)")
        bad = int(sw.n_diverged.sum())
        if bad:
            self.readout.value += (f" <b style='color:#c00'>warning: {bad} of {sw.energy.size} FT "
                                   f"runs diverged at lr {lr:g}; they are left out of the means "
                                   "(the figure's title says how many)</b>")
        self.figure = finetune_figure(sw, self.step, tau,
                                      title_prefix="" if self.full else "quick view: ")
        self.png = show_figure(self.out, self.figure)

    def rows(self):
        return [W.HBox([self.tau, self.smoothing]), W.HBox([self.head, self.ft_lr, self.full_button])]
