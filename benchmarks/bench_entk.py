"""eNTK speed: the package's routes against neural-tangents and a matmul floor.

Case (issue 2): N = 256 inputs of dimension 64, an MLP with two hidden layers of
width 512 and one output (296,449 parameters), float32, on whatever device JAX
uses (CPU here). Everything is measured in this one run:

* matmul rate: a 2048 x 2048 float32 matmul, median of repeats;
* floor: the ``2 N^2 P`` flops of ``J J^T`` at that rate;
* neural-tangents ``empirical_ntk_fn`` (Jacobian contraction, and NTK-vector products);
* ours: structured (``mlp_ntk``) and generic Jacobian contraction (``empirical_ntk``).

Prints each time, its ratio to the floor and to neural-tangents' Jacobian
contraction, the relative difference to neural-tangents, and ends with
``speedup_vs_neural_tangents=<x>`` (neural-tangents Jacobian-contraction time /
structured time).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

import ntk_explore as ne
from ntk_explore.core import _nt_compat


def timeit(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_rate(repeats: int) -> float:
    a = jax.random.normal(jax.random.key(0), (2048, 2048), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (2048, 2048), jnp.float32)
    mm = jax.jit(jnp.matmul)
    return 2 * 2048**3 / timeit(lambda: mm(a, b), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    nt = _nt_compat.load()
    model = ne.mlp(args.dim, args.width, args.depth, 1)
    params = model.init(jax.random.key(0), dtype=jnp.float32)
    x = jax.random.normal(jax.random.key(1), (args.n, args.dim), jnp.float32)
    P, N = model.num_params, args.n
    print(f"device: {ne.device_summary()}; N={N}, d={args.dim}, width={args.width}, "
          f"depth={args.depth}, P={P:,}, float32")

    rate = matmul_rate(args.repeats)
    floor = 2 * N * N * P / rate
    print(f"matmul rate: {rate / 1e9:.1f} GFLOP/s; floor 2*N^2*P = {2 * N * N * P / 1e9:.1f} "
          f"GFLOP -> {floor * 1e3:.1f} ms")

    impl = nt.NtkImplementation
    nt_jc = jax.jit(nt.empirical_ntk_fn(model.apply, trace_axes=(), vmap_axes=0,
                                        implementation=impl.JACOBIAN_CONTRACTION))
    nt_vp = jax.jit(nt.empirical_ntk_fn(model.apply, trace_axes=(), vmap_axes=0,
                                        implementation=impl.NTK_VECTOR_PRODUCTS))
    ours = ne.mlp_ntk(model)
    generic = ne.empirical_ntk(model.apply, batch_size=N)
    routes = {
        "neural_tangents_jacobian_contraction": lambda: nt_jc(x, None, params),
        "neural_tangents_ntk_vector_products": lambda: nt_vp(x, None, params),
        "ntk_explore_structured": lambda: ours(x, None, params),
        "ntk_explore_generic_jacobian": lambda: generic(x, None, params),
    }
    reference = routes["neural_tangents_jacobian_contraction"]()
    times = {}
    for name, fn in routes.items():
        times[name] = timeit(fn, args.repeats)
        err = ne.relative_frobenius(fn(), reference)
        print(f"{name:40s} {times[name] * 1e3:9.2f} ms   time/floor {times[name] / floor:8.3f}"
              f"   rel. diff to NT {err:.1e}")
    base = times["neural_tangents_jacobian_contraction"]
    for name in ("ntk_explore_structured", "ntk_explore_generic_jacobian"):
        print(f"{name}: {base / times[name]:.1f}x faster than "
              "neural-tangents' Jacobian contraction")
    err = ne.relative_frobenius(routes["ntk_explore_structured"](), reference)
    print(f"structured_matches_neural_tangents_rel={err:.2e}")
    print(f"structured_time_over_floor={times['ntk_explore_structured'] / floor:.4f}")
    print(f"nt_jacobian_time_over_floor={base / floor:.2f}")
    print(f"speedup_vs_neural_tangents={base / times['ntk_explore_structured']:.1f}")


if __name__ == "__main__":
    main()
