"""Run by tests/test_sharding.py in its own process(es); prints one JSON line.

    python sharding_worker.py single              # 4 virtual devices (XLA_FLAGS)
    python sharding_worker.py multi PORT RANK     # one of two jax.distributed processes
"""

import json
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


def _problem():
    import ntk_explore as ne

    model = ne.mlp(5, 32, 2, 3)
    keys = jax.random.split(jax.random.key(7), 4)
    params = model.init(keys[0])
    x = jax.random.normal(keys[1], (37, 5))
    x_test = jax.random.normal(keys[2], (9, 5))
    y = jax.random.normal(keys[3], (37, 3))
    return ne, model, params, x, x_test, y


EPS = float(np.finfo(np.float64).eps)


def _dot_bound(k12, k11_diag, k22_diag, p: int) -> float:
    """Largest relative Frobenius difference two float64 evaluations of a kernel
    ``K = J1 J2^T`` (inner products of length ``p``) can show from summation order alone.

    Each entry is a dot product of ``p`` terms; the classical bound is
    ``|fl(a.b) - a.b| <= gamma_p |a|.|b| <= gamma_p ||a|| ||b||`` with
    ``gamma_p = p eps / (1 - p eps)``, and ``||a|| ||b|| = sqrt(K11_ii K22_jj)``.
    Two orders can each be off by that much, hence the factor 2.
    """
    gamma = p * EPS / (1 - p * EPS)
    scale = np.sqrt(np.sum(k11_diag) * np.sum(k22_diag))
    return float(2 * gamma * scale / np.linalg.norm(k12))


def _solve_bound(k_train, k_test, ridge, y, res_a, res_b, pred) -> float:
    """Largest relative difference of two predictions ``K_t c`` whose coefficients
    each solve ``(K + ridge I) c = y`` to a true relative residual ``res`` (per column).

    ``c_a - c_b = A^-1 (r_a - r_b)`` with ``||r|| <= res ||y||``, so
    ``||P_a - P_b||_F <= ||K_t A^-1||_2 (res_a + res_b) ||y||_F``. Two solves that
    stop at ``tol`` agree to this, not to machine precision: their reduction orders
    differ, so their iterates do. Rounding of the final product ``K_t c``
    (``gamma_n`` per entry, relative to ``|K_t| |c|``) is added.
    """
    a = np.asarray(k_train) + ridge * np.eye(k_train.shape[0])
    gain = np.linalg.norm(np.asarray(k_test) @ np.linalg.inv(a), 2)
    y, pred = np.asarray(y).reshape(len(a), -1), np.asarray(pred)
    solve = gain * (res_a + res_b) * np.linalg.norm(y) / np.linalg.norm(pred)
    n = a.shape[0]
    rounding = 2 * n * EPS * np.linalg.norm(np.abs(k_test) @ np.abs(np.linalg.solve(a, y)))
    return float(solve + rounding / np.linalg.norm(pred))


def _flat(k):
    """A kernel as one matrix: ``(n1, n2)`` stays, ``(n1, n2, k, k)`` -> ``(n1 k, n2 k)``."""
    from ntk_explore import flatten_blocks

    return np.asarray(flatten_blocks(k) if k.ndim == 4 else k)


def _kernel_entry(ne, fn, p, x, x_test, params, sharded):
    k12 = _flat(fn(x, x_test, params))
    d1 = np.diag(_flat(fn(x, None, params)))
    d2 = np.diag(_flat(fn(x_test, None, params)))
    return [ne.relative_frobenius(_flat(sharded), k12), _dot_bound(k12, d1, d2, p)]


def _solve_entry(ne, fn, params, x, x_test, y, ridge, r_a, r_b):
    k_train, k_test = _flat(fn(x, None, params)), _flat(fn(x_test, x, params))
    bound = _solve_bound(k_train, k_test, ridge, y, r_a.rel_residual, r_b.rel_residual,
                         r_b.predictions)
    return [ne.relative_frobenius(r_a.predictions, r_b.predictions), bound]


def single() -> dict:
    """Each entry is ``[measured relative difference, the bound it must stay under]``."""
    from ntk_explore.core import matfree, sharding

    ne, model, params, x, x_test, y = _problem()
    p = sum(a.size for a in jax.tree_util.tree_leaves(params))
    out = {"devices": len(jax.devices())}
    mesh = sharding.data_mesh()
    for name, fn in (("mlp_ntk", ne.mlp_ntk(model)), ("mlp_pntk", ne.mlp_pntk(model)),
                     ("empirical_ntk", ne.empirical_ntk(model.apply))):
        sharded = sharding.sharded_kernel(fn, mesh)(x, x_test, params)
        out[name] = _kernel_entry(ne, fn, p, x, x_test, params, sharded)
    inf = ne.infinite_kernel_fn(model)
    a, b = sharding.sharded_kernel(inf, mesh)(x, x_test), inf(x, x_test)
    # The infinite-width kernels are elementwise functions of the inputs' d = 5 inner
    # products; only the order of those short sums can differ: gamma_d per entry, carried
    # through the arccos recursion with a slack of 100 (measured: about 2.6e-16).
    infinite_bound = 100 * 2 * x.shape[1] * EPS
    out["infinite_ntk"] = [ne.relative_frobenius(a.ntk, b.ntk), infinite_bound]
    out["infinite_nngp"] = [ne.relative_frobenius(a.nngp, b.nngp), infinite_bound]
    # rows stay split over the devices when n1 is a multiple of their number
    even = sharding.sharded_kernel(ne.mlp_pntk(model), mesh)(x[:36], x_test, params)
    out["row_sharded"] = even.sharding.spec[0] == "data"
    kw = dict(tol=1e-10, ridge=0.5, chunk_size=16, rank=20, key=jax.random.key(4), maxiter=1000)
    # the generic operator (eNTK) and the structured MLP one (pNTK), each sharded vs not
    r1 = sharding.sharded_matfree_regression(model.apply, params, x, y, x_test, mesh=mesh, **kw)
    r0 = matfree.matfree_regression(model.apply, params, x, y, x_test, **kw)
    out["matfree_entk"] = _solve_entry(ne, ne.mlp_ntk(model), params, x, x_test, y,
                                       kw["ridge"], r1, r0)
    r2 = matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="pntk",
                                        sharding=sharding.row_sharding(mesh), **kw)
    r3 = matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="pntk", **kw)
    out["mlp_matfree_pntk"] = _solve_entry(ne, ne.mlp_pntk(model), params, x, x_test, y,
                                           kw["ridge"], r2, r3)
    return out


def multi(port: int, rank: int) -> dict:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=rank, initialization_timeout=60)
    from jax.experimental import multihost_utils

    from ntk_explore.core import matfree, sharding

    ne, model, params, x, x_test, y = _problem()
    mesh = sharding.data_mesh()
    fn = ne.mlp_ntk(model)
    k_sharded = multihost_utils.process_allgather(
        sharding.sharded_kernel(fn, mesh)(x[:36], x_test, params), tiled=True)
    kw = dict(kernel="entk", tol=1e-10, ridge=0.5, chunk_size=16, maxiter=1000)
    r1 = sharding.sharded_matfree_regression(model.apply, params, x, y, x_test, mesh=mesh, **kw)
    pred = multihost_utils.process_allgather(r1.predictions, tiled=True)
    local = jax.local_devices()[0]
    with jax.default_device(local):
        r0 = matfree.matfree_regression(model.apply, params, x, y, x_test, **kw)
        p = sum(a.size for a in jax.tree_util.tree_leaves(params))
        entk = _kernel_entry(ne, fn, p, x[:36], x_test, params, k_sharded)
        solve = _solve_entry(ne, fn, params, x, x_test, y, kw["ridge"], r1._replace(
            predictions=pred), r0)
    return {"devices": len(jax.devices()), "local_devices": len(jax.local_devices()),
            "processes": jax.process_count(), "mlp_ntk": entk, "matfree_entk": solve}


if __name__ == "__main__":
    if sys.argv[1] == "single":
        result = single()
    else:
        result = multi(int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(result))
