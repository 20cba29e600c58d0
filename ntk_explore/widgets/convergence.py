"""The first notebook: the eNTK at a chosen width against the infinite-width NTK."""

from __future__ import annotations

import warnings

import ipywidgets as W
import jax

from .. import by_device, on_accelerator, plots
from ..core import validation as V
from ..core.datasets import circle
from ..topics.regimes import CONVERGENCE, entk_convergence_grid
from ._app import App
from ._display import show_png

__all__ = ["EntkWidthApp", "WIDTHS", "WIDTHS_ACCELERATOR", "default_widths"]

WIDTHS = tuple(CONVERGENCE.widths)
"""Default widths on the CPU (:data:`~ntk_explore.topics.regimes.CONVERGENCE`): all six
sweeps take seconds on 2 cores, and the random draw for width 4096 alone (17M normals,
~330 MB of temporaries) would push the notebook past Binder's 1 GB."""
WIDTHS_ACCELERATOR = WIDTHS + (4096, 8192, 16384)
"""Default widths on a GPU/TPU: three more doublings of the width."""


ACTIVATIONS = ("relu", "erf", "tanh")
PARAMETRIZATIONS = ("ntk", "mup")  # the infinite-width NTK needs one of these


def default_widths() -> tuple[int, ...]:
    """:data:`WIDTHS_ACCELERATOR` when JAX runs on a GPU/TPU, else :data:`WIDTHS`."""
    return by_device(WIDTHS, WIDTHS_ACCELERATOR)


SLOW_SECONDS = 10.0
"""Apps warn before a construction estimated to take longer than this."""


def sweep_seconds(n_points: int, widths, seeds: int, depth: int) -> float:
    """Rough CPU seconds of the app's up-front sweep (6 activation x parametrization
    pairs): dominated by ``seeds * sum(width**2) * depth`` parameter draws and
    ``n**2 * width`` kernel work per layer, at ~2e8 flop-equivalents per second (the
    default 48 points, widths 16..2048, 5 seeds take about 5 s on 2 busy cores)."""
    work = sum(seeds * depth * (w * w + 6 * n_points**2 * w) for w in widths)
    return work / 2e8 * (0.25 if on_accelerator() else 1.0)


def _warn_if_slow(n_points, widths, seeds, depth) -> None:
    est = sweep_seconds(n_points, widths, seeds, depth)
    if est > SLOW_SECONDS:
        warnings.warn(f"EntkWidthApp: the sweep over widths {min(widths)}..{max(widths)} "
                      f"x {seeds} seeds x {n_points} points is estimated at about {est:.0f} s "
                      f"(over {SLOW_SECONDS:.0f} s); use fewer widths, seeds or points",
                      UserWarning, stacklevel=3)


class EntkWidthApp(App):
    """eNTK at a chosen width next to the infinite-width NTK, and error vs width.

    Sliders: width (log-spaced; default widths from :func:`default_widths`, up to
    16384 on a GPU), seed; dropdowns: activation, parametrization.
    Construction sweeps every width x seed x activation x parametrization once
    and keeps every eNTK (:func:`~ntk_explore.topics.regimes.entk_convergence_grid`), so
    every control afterwards only redraws. Attributes after each update:
    ``error`` (relative Frobenius error shown), ``figure``, ``png`` (bytes shown).
    """

    def __init__(self, *, n_points: int = CONVERGENCE.n_points, depth: int = CONVERGENCE.depth,
                 seeds: int = CONVERGENCE.seeds, widths=None, width: int = 256, key=None):
        n_points = V.check_positive_int("n_points", n_points, minimum=2)
        depth = V.check_positive_int("depth", depth)
        seeds = V.check_positive_int("seeds", seeds, minimum=2)
        # The sweep sorts its widths; the slider must show them in the same order, or
        # the label and the kernel shown would belong to different widths.
        widths = tuple(sorted(V.check_int_list(
            "widths", default_widths() if widths is None else widths)))
        width = V.check_positive_int("width", width)
        if width not in widths:
            raise ValueError(f"width must be one of widths {list(widths)}, got {width}")
        _warn_if_slow(n_points, widths, seeds, depth)
        self.x, self.theta = circle(n_points)
        self.depth, self.seeds, self.widths = depth, seeds, widths
        self.key = V.check_key("key", jax.random.key(CONVERGENCE.seed) if key is None else key)
        # Every (activation, parametrization) pair is swept up front, sharing one
        # compiled function and one random draw per width and seed, so the
        # dropdowns only redraw.
        with warnings.catch_warnings():
            # neural-tangents warns that tanh's infinite kernel is computed numerically
            # (Gauss-Hermite, deg 64); tests check it against wide finite nets (test_kernels).
            warnings.filterwarnings("ignore", "Numerical Activation Layer", UserWarning)
            warnings.filterwarnings("ignore", "Using JAX autodiff", UserWarning)
            self._sweeps: dict = entk_convergence_grid(
                self.x, self.widths, key=self.key, seeds=seeds, depth=depth,
                activations=ACTIVATIONS, parametrizations=PARAMETRIZATIONS, keep_kernels=True)
        # One live figure per sweep, built now, so a dropdown move only redraws.
        j = self.widths.index(width)
        self._views: dict = {
            pair: plots.EntkWidthFigure(self.theta, sw.kernels[0, j][:, :, 0, 0], sw.ntk_inf,
                                        width, float(sw.errors[0, j]), sw)
            for pair, sw in self._sweeps.items()}
        style = {"description_width": "initial"}
        self.width = W.SelectionSlider(options=self.widths, value=width, description="width m",
                                       continuous_update=False, style=style)
        self.seed = W.IntSlider(value=0, min=0, max=seeds - 1, description="init seed",
                                continuous_update=False, style=style)
        self.activation = W.Dropdown(options=ACTIVATIONS, value="relu",
                                     description="activation")
        self.parametrization = W.Dropdown(options=PARAMETRIZATIONS, value="ntk",
                                          description="parametrization", style=style)
        self._wire((self.width, self.seed, self.activation, self.parametrization))
        self.error = None
        self.figure = None
        self.update()

    @property
    def sweeps(self) -> dict:
        """Every sweep made so far: ``{(activation, parametrization): ConvergenceSweep}``."""
        return dict(self._sweeps)

    def sweep(self):
        """The width sweep for the current activation/parametrization, with its eNTKs."""
        key = (self.activation.value, self.parametrization.value)
        if key not in self._sweeps:  # only when the dropdown options were changed by hand
            self._sweeps.update(entk_convergence_grid(
                self.x, self.widths, key=self.key, seeds=self.seeds, depth=self.depth,
                activations=(key[0],), parametrizations=(key[1],), keep_kernels=True))
        return self._sweeps[key]

    def update(self):
        """Show the eNTK stored by the sweep at the chosen width and seed (no recompute)."""
        sweep = self.sweep()
        width, seed = self.width.value, self.seed.value
        j = self.widths.index(width)
        self.error = float(sweep.errors[seed, j])
        entk = sweep.kernels[seed, j][:, :, 0, 0]
        fit = sweep.fit
        self.readout.value = (
            f"width <b>{width}</b>: relative error <b>{self.error:.4f}</b>; "
            f"fitted slope over widths {fit.slope:.3f} (95% CI {fit.ci95[0]:.2f} to "
            f"{fit.ci95[1]:.2f}; theory -0.5)")
        key = (self.activation.value, self.parametrization.value)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = plots.EntkWidthFigure(self.theta, entk, sweep.ntk_inf,
                                                            width, self.error, sweep)
        else:
            view.update(entk, width, self.error)
        self.figure = view.figure
        self.png = show_png(self.out, view.render())

    def rows(self):
        return [W.HBox([self.width, self.seed]), W.HBox([self.activation, self.parametrization])]
