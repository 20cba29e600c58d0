"""Where the kernel loses: tasks on which a trained net beats, and out-scales, its tangent kernels.

The target depends on a few directions of a high-dimensional input
(:mod:`ntk_explore.core.tasks`): a single-index model ``y = g(w . x)``,
``x ~ N(0, I_d)``, or a sparse parity. A net that finds ``w`` needs far fewer
samples than any fixed kernel, which must fit a degree-``p`` function of all ``d``
coordinates.

Every task is drawn once per seed with a fixed input pool of :data:`POOL` rows
(:func:`make_task`): training sets are its first ``n`` rows, pretraining sets start at
row :data:`PRETRAIN_FROM`, and the validation and test sets come after the pool. So
the validation and test sets of a seed are the same whatever ``n``, ``n_pre``,
``width``, ``alpha`` or learning rate is chosen, and curves that a slider switches
between are measured on the same points (:attr:`Curves.eval_sets` records a digest of
them per seed).

Learners, all from one initialisation ``params0`` (every kernel's ridge is chosen
on the validation set, :func:`ntk_explore.core.metrics.ridge_on_validation`):

* ``net``: the MLP trained by full-batch GD on the centred output
  ``f(params, x) - f(params0, x)``, in the **mean-field** scaling (``'mup'`` with
  base width 1: readout ``~ 1/width``; per-layer rates that make GD on the stored
  weights equal mean-field GD with learning rate ``lr_mf * width``, see
  :func:`layer_rates`);
* ``lazy``: the same net with output scale ``alpha`` (``lr / alpha**2``), the
  lazy-training control (Chizat, Oyallon and Bach 2019);
* ``entk_init``: kernel ridge with the eNTK at ``params0``;
* ``ntk``: kernel ridge with the infinite-width NTK;
* ``after``: kernel ridge with the after-kernel (eNTK of the trained ``net``);
* ``pretrained``: kernel ridge with the eNTK after training on ``n_pre`` other samples;
* ``one_step``: one large GD step on the first layer, then ridge on the readout
  features (Ba et al. 2022).

Errors are test MSE / Var(y); exponents are slopes of ``-log error`` against
``log n`` (:func:`ntk_explore.core.metrics.fit_exponent`).
"""

from ...core import learners as _learners
from ...core.learners import *  # noqa: F403
from . import path, scaling, transfer
from .path import *  # noqa: F403
from .scaling import *  # noqa: F403
from .transfer import *  # noqa: F403

__all__ = [*_learners.__all__, *scaling.__all__, *path.__all__, *transfer.__all__]
