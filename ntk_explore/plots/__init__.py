"""Matplotlib figure functions, one module per topic. Each takes computed
results and returns a Figure (opaque white background, labelled axes)."""

from .base import (
    EntkWidthFigure,
    convergence_loglog,
    entk_vs_width_figure,
    kernel_heatmaps,
    new_figure,
)
from .beyond import active_figure, pntk_figure, scaling_figure
from .equivalence import table_figure, three_learners_figure, width_sweep_figure
from .features import coord_check_figure, feature_change_figure, kernel_factor_figure
from .finetune import finetune_figure, tau_curve
from .kernel_loses import (
    kernel_path_figure,
    parity_figure,
    pretrained_figure,
    transfer_loses_figure,
)
from .live import LiveFigure
from .transfer import transfer_figure
from .zigzag import one_step_figure, paths_on_simplex, zigzag_figure

__all__ = [
    "new_figure", "kernel_heatmaps", "convergence_loglog", "entk_vs_width_figure",
    "EntkWidthFigure", "LiveFigure",
    "three_learners_figure", "width_sweep_figure", "table_figure",
    "feature_change_figure", "kernel_factor_figure", "coord_check_figure",
    "transfer_figure", "zigzag_figure", "one_step_figure", "paths_on_simplex",
    "finetune_figure", "tau_curve", "scaling_figure", "pntk_figure", "active_figure",
    "kernel_path_figure", "pretrained_figure", "transfer_loses_figure", "parity_figure",
]
