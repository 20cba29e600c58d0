"""Tangent kernels and matrix-free regression spread over JAX devices and processes.

A one-axis mesh (``'data'``) splits inputs into row blocks, one per device:

* :func:`sharded_kernel` wraps any kernel function (``mlp_ntk(model)``,
  ``mlp_pntk(model)``, ``empirical_ntk(apply)``, ``pntk(apply, k)``,
  ``infinite_kernel_fn(model)``) with ``jax.shard_map``: device ``i`` computes
  the rows ``K(x1[block_i], x2)``, ``x2`` and the parameters are replicated, and
  the result is one global array sharded by rows (``NamedSharding(mesh,
  P('data'))``). ``x1`` is padded to a multiple of the device count and the
  padding cut off again, so any ``n`` works.
* :func:`sharded_matfree_regression` runs
  :func:`~ntk_explore.core.matfree.matfree_regression` with every block of
  inputs split over the mesh: each device holds its rows' linearisation, the
  VJP's sum over inputs becomes an all-reduce that XLA inserts, and CG's
  vectors are row-sharded.

Several processes (hosts): call ``jax.distributed.initialize(coordinator_address,
num_processes, process_id)`` in every process first (on CPU also
``jax.config.update('jax_cpu_collectives_implementation', 'gloo')``), build the
same inputs in every process, and call the same functions: :func:`data_mesh`
then spans ``jax.devices()``, every process's devices. Results are global
arrays; ``jax.experimental.multihost_utils.process_allgather`` brings one to
every host. See ``tests/test_sharding.py`` for a two-process run on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from . import validation as V
from .matfree import MatfreeResult, matfree_regression

__all__ = ["data_mesh", "row_sharding", "sharded_kernel", "sharded_matfree_regression"]

AXIS = "data"


def data_mesh(devices=None) -> Mesh:
    """A one-axis mesh ``('data',)`` over ``devices`` (default: ``jax.devices()``, all
    processes). The axis type is ``Auto`` so jitted code on it (CG) needs no annotations."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (AXIS,), axis_types=(AxisType.Auto,))


def row_sharding(mesh: Mesh | None = None) -> NamedSharding:
    """Rows split over the mesh's ``'data'`` axis, everything else replicated."""
    return NamedSharding(data_mesh() if mesh is None else mesh, PartitionSpec(AXIS))


def _pad_rows(x, multiple: int):
    missing = -x.shape[0] % multiple
    if missing == 0:
        return x
    return jnp.concatenate([x, jnp.broadcast_to(x[:1], (missing,) + x.shape[1:])])


def sharded_kernel(kernel_fn: Callable, mesh: Mesh | None = None) -> Callable:
    """Row-block version of ``kernel_fn(x1, x2, *args) -> (n1, n2, ...)`` (or a NamedTuple
    of such arrays, e.g. :class:`~ntk_explore.core.kernels.Kernels`).

    Returns ``kernel(x1, x2=None, *args)``: the same values, computed with rows of
    ``x1`` ``(n1, ...)`` split over the mesh's devices; ``x2`` ``(n2, ...)``
    (``None``: ``x1``) and ``args`` (e.g. ``params``) are replicated. The memory
    guard of ``kernel_fn`` sees one device's block.
    """
    mesh = data_mesh() if mesh is None else mesh
    ndev = mesh.size

    @jax.jit
    def run(x1, x2, *args):
        spec_rest = (PartitionSpec(),) * (1 + len(args))
        body = jax.shard_map(lambda a, b, *r: kernel_fn(a, b, *r), mesh=mesh,
                             in_specs=(PartitionSpec(AXIS),) + spec_rest,
                             out_specs=PartitionSpec(AXIS), check_vma=False)
        return body(x1, x2, *args)

    def kernel(x1, x2=None, *args):
        x1 = V.as_float_array("x1", x1, ndim=None)
        x2 = x1 if x2 is None else V.as_float_array("x2", x2, ndim=None)
        for i, leaf in enumerate(jax.tree.leaves(args)):
            V.check_finite(f"params (leaf {i})", leaf)
        n1 = x1.shape[0]
        padded = _pad_rows(x1, ndev)
        # Inside shard_map the kernel's own checks see tracers; run them here, on every call,
        # on one device's block: eval_shape traces kernel_fn afresh, so its memory guard reads
        # its limit (and NTK_EXPLORE_MAX_KERNEL_BYTES) now, not only at the first compile.
        jax.eval_shape(kernel_fn, padded[: padded.shape[0] // ndev], x2, *args)
        out = run(padded, x2, *args)
        return jax.tree.map(lambda a: a[:n1], out)

    return kernel


def sharded_matfree_regression(apply: Callable, params, x_train, y_train, x_test, *,
                               mesh: Mesh | None = None, **kwargs) -> MatfreeResult:
    """:func:`~ntk_explore.core.matfree.matfree_regression` with inputs split over ``mesh``.

    Same arguments (``x_train (n, ...)``, ``y_train (n, k)`` or ``(n,)``/``(n, m)``,
    ``x_test (t, ...)``) and result; each block of ``chunk_size`` inputs (rounded up
    to a multiple of the device count) is split into per-device rows.
    """
    return matfree_regression(apply, params, x_train, y_train, x_test,
                              sharding=row_sharding(mesh), **kwargs)
