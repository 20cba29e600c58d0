"""Run by tests/test_sharding.py in its own process(es); prints one JSON line.

    python sharding_worker.py single              # 4 virtual devices (XLA_FLAGS)
    python sharding_worker.py multi PORT RANK     # one of two jax.distributed processes
"""

import json
import sys

import jax

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


def single() -> dict:
    from ntk_explore.core import matfree, sharding

    ne, model, params, x, x_test, y = _problem()
    out = {"devices": len(jax.devices())}
    mesh = sharding.data_mesh()
    for name, fn in (("mlp_ntk", ne.mlp_ntk(model)), ("mlp_pntk", ne.mlp_pntk(model)),
                     ("empirical_ntk", ne.empirical_ntk(model.apply))):
        out[name] = ne.relative_frobenius(sharding.sharded_kernel(fn, mesh)(x, x_test, params),
                                          fn(x, x_test, params))
    inf = ne.infinite_kernel_fn(model)
    a, b = sharding.sharded_kernel(inf, mesh)(x, x_test), inf(x, x_test)
    out["infinite_ntk"] = ne.relative_frobenius(a.ntk, b.ntk)
    out["infinite_nngp"] = ne.relative_frobenius(a.nngp, b.nngp)
    # rows stay split over the devices when n1 is a multiple of their number
    even = sharding.sharded_kernel(ne.mlp_pntk(model), mesh)(x[:36], x_test, params)
    out["row_sharded"] = even.sharding.spec[0] == "data"
    kw = dict(tol=1e-10, ridge=0.5, chunk_size=16, rank=20, key=jax.random.key(4), maxiter=1000)
    # the generic operator (eNTK) and the structured MLP one (pNTK), each sharded vs not
    r1 = sharding.sharded_matfree_regression(model.apply, params, x, y, x_test, mesh=mesh, **kw)
    r0 = matfree.matfree_regression(model.apply, params, x, y, x_test, **kw)
    out["matfree_entk"] = ne.relative_frobenius(r1.predictions, r0.predictions)
    r2 = matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="pntk",
                                        sharding=sharding.row_sharding(mesh), **kw)
    r3 = matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="pntk", **kw)
    out["mlp_matfree_pntk"] = ne.relative_frobenius(r2.predictions, r3.predictions)
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
        k_local = fn(x[:36], x_test, params)
    return {"devices": len(jax.devices()), "local_devices": len(jax.local_devices()),
            "processes": jax.process_count(),
            "mlp_ntk": ne.relative_frobenius(k_sharded, k_local),
            "matfree_entk": ne.relative_frobenius(pred, r0.predictions)}


if __name__ == "__main__":
    if sys.argv[1] == "single":
        result = single()
    else:
        result = multi(int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(result))
