"""Matplotlib figure functions, one module per topic. Each takes computed
results and returns a Figure (opaque white background, labelled axes)."""

from .core import convergence_loglog, entk_vs_width_figure, kernel_heatmaps, new_figure

__all__ = ["new_figure", "kernel_heatmaps", "convergence_loglog", "entk_vs_width_figure"]
