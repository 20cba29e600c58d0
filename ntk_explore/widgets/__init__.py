"""ipywidgets apps, one module per notebook topic. Each app computes with
library functions, draws with :mod:`ntk_explore.plots`, and keeps its last result
in attributes so tests can check that moving a slider changed the answer."""

from .beyond import ActiveApp, PntkApp, ScalingApp
from .convergence import WIDTHS, EntkWidthApp
from .equivalence import TableApp, ThreeLearnersApp
from .features import FeatureWidthApp
from .finetune import FinetuneApp
from .kernel_loses import KernelLosesApp
from .transfer import TransferApp
from .zigzag import ZigzagApp

__all__ = ["EntkWidthApp", "WIDTHS", "ThreeLearnersApp", "TableApp", "FeatureWidthApp",
           "TransferApp", "ZigzagApp", "FinetuneApp",
           "ScalingApp", "PntkApp", "ActiveApp", "KernelLosesApp"]
