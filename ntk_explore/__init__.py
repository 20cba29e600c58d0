"""ntk_explore: see when a trained network is (and is not) its neural tangent kernel.

Public API (everything else is an implementation detail):

* models:      :func:`mlp`, :class:`MLP`, :class:`Parametrization`, ``PARAMETRIZATIONS``
* kernels:     :func:`mlp_ntk`, :func:`mlp_pntk`, :func:`empirical_ntk`, :func:`pntk`,
               :func:`ntk_trace`, :func:`flatten_blocks`, :func:`infinite_kernel_fn`,
               :func:`kernel_regression`, :func:`relative_frobenius`
* linearized:  :func:`linearize`, :func:`mse_dynamics`, :func:`stable_lr`
* training:    :func:`train`, :class:`DivergenceError`
* matrix-free: :func:`matfree_regression`, :func:`mlp_matfree_regression`,
               :func:`matfree_kernel_predict` (eNTK/pNTK kernel regression by conjugate
               gradients on J J^T products, never forming the kernel), :class:`MatfreeResult`,
               :class:`ConvergenceError`
* sharding:    :func:`data_mesh`, :func:`sharded_kernel`, :func:`sharded_matfree_regression`
               (row blocks over the devices of a ``jax.sharding`` mesh)
* metrics:     :func:`fit_loglog` (and :mod:`.core.metrics`: relative norms, RMS, CKA,
               Spearman, AUC, exponents)
* regimes:     :func:`entk_convergence`
* topics (submodules, each behind one notebook):
  :mod:`.equivalence` (02: three learners, kernel motion), :mod:`.ntk_table` (02: the
  published kernel-regression table), :mod:`.features` (03: feature change vs width),
  :mod:`.transfer` (04: transfer through a fixed kernel), :mod:`.zigzag` (05: learning
  paths and distillation), :mod:`.finetune` (06: energy and direction of fine-tuning),
  :mod:`.scaling` (07: data-scaling exponents), :mod:`.pntk_study` and :mod:`.active`
  (08: pNTK vs eNTK, look-ahead active learning), :mod:`.natural` (07: real digits, MLPs
  and a CNN against their kernels), :mod:`.kernel_loses` (09: where a trained
  net beats and out-scales its kernels), :mod:`.tour` (00: every claim's
  live verdict)
* :mod:`.exercises` -- checkers for the notebooks' coding exercises (:func:`exercises.check`)
* :mod:`.core.verdicts` (also ``ntk_explore.verdicts``) -- every claim, its sources and
  threshold, and the one rule (:func:`~ntk_explore.core.verdicts.judge`) that judges it
* :mod:`.explore` -- caches, background warm-up and explorers (resumed runs) for the apps
* :mod:`.plots`, :mod:`.widgets` -- figure functions and ipywidgets apps per topic (one ``App`` base)
* :func:`device_summary`, :func:`on_accelerator`, :func:`by_device` -- which device
  JAX computes on, and default sizes that grow on a GPU.
"""

import importlib as _importlib

from . import _threads  # noqa: F401  (first: limits BLAS threads before any linear algebra)
from .core import datasets
from .core.kernels import (
    empirical_ntk,
    flatten_blocks,
    infinite_kernel_fn,
    kernel_regression,
    mlp_ntk,
    mlp_pntk,
    ntk_trace,
    pntk,
    relative_frobenius,
)
from .core.linearized import linearize, mse_dynamics, stable_lr
from .core.matfree import (
    ConvergenceError,
    MatfreeResult,
    matfree_kernel_predict,
    matfree_regression,
    mlp_matfree_regression,
)
from .core.metrics import fit_loglog
from .core.models import MLP, PARAMETRIZATIONS, Parametrization, mlp
from .core.sharding import data_mesh, sharded_kernel, sharded_matfree_regression
from .core.training import DivergenceError, train

__version__ = "0.1.0"

# Topic modules (one per notebook) load on first attribute access, so
# ``import ntk_explore`` stays light and ``ne.scaling`` still works.
TOPICS = ("equivalence", "ntk_table", "features", "transfer", "zigzag", "finetune",
          "scaling", "pntk_study", "active", "tour", "regimes", "kernel_loses", "natural")
_LAZY = {"entk_convergence": "regimes"}


def __getattr__(name: str):
    if name in TOPICS:
        return _importlib.import_module(f".topics.{name}", __name__)
    if name in ("exercises", "verdicts"):
        return _importlib.import_module(f".{'core.' if name == 'verdicts' else ''}{name}", __name__)
    if name in _LAZY:
        return getattr(_importlib.import_module(f".topics.{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ntk_explore' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(TOPICS) | set(_LAZY) | {"exercises", "verdicts"})


def device_summary() -> str:
    """``'cpu (1 device)'``, ``'gpu: NVIDIA H100 ...'`` -- what JAX computes on."""
    import jax

    devs = jax.devices()
    kind = devs[0].platform
    name = getattr(devs[0], "device_kind", kind)
    return f"{kind}: {name} ({len(devs)} device{'s' if len(devs) > 1 else ''})"


def on_accelerator() -> bool:
    """True when JAX's default backend is a GPU or TPU rather than the CPU."""
    import jax

    return jax.default_backend() != "cpu"


def by_device(cpu, accelerator):
    """``accelerator`` when :func:`on_accelerator`, else ``cpu``: for default sizes
    (e.g. widths) that a GPU can afford and 2 CPU cores cannot."""
    return accelerator if on_accelerator() else cpu


__all__ = [
    "MLP", "PARAMETRIZATIONS", "Parametrization", "mlp",
    "empirical_ntk", "flatten_blocks", "infinite_kernel_fn", "kernel_regression",
    "mlp_ntk", "mlp_pntk", "ntk_trace", "pntk", "relative_frobenius",
    "linearize", "mse_dynamics", "stable_lr",
    "DivergenceError", "train",
    "ConvergenceError", "MatfreeResult", "matfree_kernel_predict", "matfree_regression",
    "mlp_matfree_regression", "data_mesh", "sharded_kernel", "sharded_matfree_regression",
    "entk_convergence", "fit_loglog",
    "device_summary", "on_accelerator", "by_device",
    "datasets", "equivalence", "features", "ntk_table", "transfer",
    "zigzag", "finetune", "scaling", "pntk_study", "active", "tour", "exercises", "verdicts",
    "kernel_loses", "natural", "regimes",
]
