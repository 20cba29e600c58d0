"""Matrix-free eNTK regression past the kernel matrix (issue 16).

Synthetic inputs ``x ~ N(0, I_d)``, targets from a fixed random teacher net; the
student is the package's ReLU MLP (default d = 64, two hidden layers of 512,
P = 296,449 for k = 1), float32. For each n (default 10^3, 10^4, 10^5, capped by
``--n-max``) and each k (1: eNTK = pNTK; 10: the pNTK with 10 right-hand sides,
up to ``--k10-n-max``), one subprocess (so its peak RSS is its own) runs
:func:`ntk_explore.core.matfree.mlp_matfree_regression` with a Nystrom
preconditioner (``--rank`` structured columns) and ridge
``--ridge-rel * trace(Theta) / n``, and prints wall time, peak RSS, CG
iterations, the true relative residual, and the memory the dense route would
need (the full eNTK ``(n, n, k, k)`` and the pNTK ``(n, n)`` in float64).

Also measured in this run: the float64 comparison with the dense route at the
smallest n (``matfree_vs_dense_rel``), the time of one CG iteration over the
time of one plain JVP plus one VJP over the same n_max inputs
(``matfree_iter_over_jvp_vjp``), and the sharded matvec on 4 virtual CPU
devices against one device (``sharded_vs_single_rel``, a subprocess).

Ends with ``matfree_n_max=``, ``matfree_peak_rss_mb=``, ``matfree_time_s=``,
``matfree_rel_residual=``, ``matfree_vs_dense_rel=``,
``matfree_iter_over_jvp_vjp=``, ``sharded_vs_single_rel=``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _point(args) -> dict:
    import jax
    import jax.numpy as jnp

    import ntk_explore as ne
    from ntk_explore.core import matfree

    dtype = jnp.float64 if args.x64 else jnp.float32
    n, k = args.point
    t_total = time.perf_counter()
    model = ne.mlp(args.dim, args.width, args.depth, k)
    teacher = ne.mlp(args.dim, 64, 1, k)
    keys = jax.random.split(jax.random.key(args.seed), 5)
    params = model.init(keys[0], dtype=dtype)
    x = jax.random.normal(keys[1], (n, args.dim), dtype)
    x_test = jax.random.normal(keys[2], (args.n_test, args.dim), dtype)
    y = teacher.apply(teacher.init(keys[3], dtype=dtype), x)
    # trace(Theta) / n estimated on 256 inputs through the structured pNTK diagonal
    sub = x[:256]
    mean_diag = float(jnp.mean(jnp.diag(ne.mlp_pntk(model)(sub, None, params))))
    ridge = args.ridge_rel * mean_diag
    res = matfree.mlp_matfree_regression(
        model, params, x, y, x_test, kernel="pntk", ridge=ridge, rank=args.rank,
        key=keys[4], tol=args.tol, maxiter=args.maxiter, chunk_size=args.chunk,
        progress=args.progress, raise_on_failure=False, refine=args.refine and not args.x64)
    out = dict(n=n, k=k, P=model.num_params, time_s=time.perf_counter() - t_total,
               cg_s=res.cg_seconds, iterations=res.iterations, restarts=res.restarts,
               products=res.products, refine_s=res.refine_seconds,
               rel_residual=res.rel_residual, converged=res.converged,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               cpu_s=sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
               dense_entk_gb=n * n * k * k * 8 / 2**30, dense_pntk_gb=n * n * 8 / 2**30)
    if args.dense_check:
        fn = ne.mlp_pntk(model)
        dense = ne.kernel_regression(fn(x, None, params), y, fn(x_test, x, params), ridge=ridge)
        out["vs_dense_rel"] = ne.relative_frobenius(res.predictions, dense)
    if args.ratio:
        out.update(_iteration_ratio(model, params, x, y, args.chunk))
    return out


def _iteration_ratio(model, params, x, y, chunk) -> dict:
    """Seconds of one CG matvec (cached) vs one plain JVP + VJP over the same inputs."""
    import jax
    import jax.numpy as jnp

    from ntk_explore.core import matfree
    from ntk_explore.core.kernels import pntk_projection

    op = matfree.tangent_operator(model.apply, params, x, kernel="pntk", chunk_size=chunk,
                                  lr_scales=model.lr_scales())
    v = jnp.ones((1, x.shape[0], 1), x.dtype)

    f = pntk_projection(model.apply, "sum", model.out_dim)
    vjp = jax.jit(lambda p, xb, vb: jax.vjp(lambda q: f(q, xb), p)[1](vb)[0])
    jvp = jax.jit(lambda p, xb, t: jax.jvp(lambda q: f(q, xb), (p,), (t,))[1])
    blocks = [x[i:i + chunk] for i in range(0, x.shape[0], chunk)]

    def plain():
        g = None
        for xb in blocks:
            gb = vjp(params, xb, jnp.ones((xb.shape[0], 1), x.dtype))
            g = gb if g is None else jax.tree.map(jnp.add, g, gb)
        return [jvp(params, xb, g) for xb in blocks]

    def timed(fn, repeats=3):
        jax.block_until_ready(fn())
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            best = min(best, time.perf_counter() - t0)
        return best

    t_mv = timed(lambda: op.matvec(v))
    t_plain = timed(plain)
    return dict(matvec_s=t_mv, jvp_vjp_s=t_plain)


def _run_point(n, k, args, extra=()) -> dict:
    cmd = [sys.executable, __file__, "--point", str(n), str(k), "--dim", str(args.dim),
           "--width", str(args.width), "--depth", str(args.depth), "--rank", str(args.rank),
           "--ridge-rel", str(args.ridge_rel), "--tol", str(args.tol),
           "--maxiter", str(args.maxiter), "--chunk", str(args.chunk),
           "--n-test", str(args.n_test), "--seed", str(args.seed), *extra]
    if not args.refine:
        cmd.append("--no-refine")
    if args.progress:
        cmd.append("--progress")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"point n={n} k={k} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _sharded_check(args) -> float:
    """Run on 4 virtual CPU devices: max relative difference, sharded vs one device, of
    the matrix-free matvec and of the pNTK rows (n = 4096), in float64 (an identity;
    float32 is printed too: there the summation order alone moves ~1e-7)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import ntk_explore as ne
    from ntk_explore.core import matfree, sharding

    model = ne.mlp(args.dim, args.width, args.depth, 1)
    mesh = sharding.data_mesh()
    fn = ne.mlp_pntk(model)
    rels = {}
    for dtype in (jnp.float32, jnp.float64):
        params = model.init(jax.random.key(0), dtype=dtype)
        x = jax.random.normal(jax.random.key(1), (4096, args.dim), dtype)
        v = jax.random.normal(jax.random.key(2), (1, 4096, 1), dtype)
        one = matfree.mlp_tangent_operator(model, params, x, chunk_size=args.chunk)
        many = matfree.mlp_tangent_operator(model, params, x, chunk_size=args.chunk,
                                            sharding=sharding.row_sharding(mesh))
        rel_mv = ne.relative_frobenius(many.matvec(v), one.matvec(v))
        rel_k = ne.relative_frobenius(sharding.sharded_kernel(fn, mesh)(x[:1024], x, params),
                                      fn(x[:1024], x, params))
        rels[jnp.dtype(dtype).name] = max(rel_mv, rel_k)
        print(f"sharded over {len(jax.devices())} devices, {jnp.dtype(dtype).name}: matvec "
              f"rel {rel_mv:.2e}, pNTK rows rel {rel_k:.2e}", file=sys.stderr)
    return rels["float64"]


def _sharded_rel(args) -> float:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    cmd = [sys.executable, __file__, "--sharded-check", "--dim", str(args.dim),
           "--width", str(args.width), "--depth", str(args.depth), "--chunk", str(args.chunk)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    sys.stdout.write(proc.stderr[-300:] if proc.returncode else proc.stderr)
    if proc.returncode:
        return float("nan")
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ns", default="1000,10000,100000")
    parser.add_argument("--n-max", type=int, default=100_000)
    parser.add_argument("--k10-n-max", type=int, default=10_000,
                        help="largest n for k = 10 (the pNTK solves 10 right-hand sides; at "
                             "n = 1e5 on 2 CPU cores this took more than an hour)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--rank", type=int, default=2500)
    parser.add_argument("--ridge-rel", type=float, default=1e-3)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--maxiter", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--dense-n", type=int, default=2000,
                        help="n of the float64 comparison with the dense route (rank n/4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--no-refine", dest="refine", action="store_false",
                        help="plain float32 CG (default: float64 iterative refinement of "
                             "float32 CG; residuals are then float64 ones)")
    parser.add_argument("--point", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dense-check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ratio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sharded-check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sharded_check:
        print(_sharded_check(args))
        return
    if args.point:
        if args.x64 or args.refine:  # refine: float32 CG, float64 residuals
            import jax

            jax.config.update("jax_enable_x64", True)
        print(json.dumps(_point(args)))
        return

    import ntk_explore as ne

    ns = [n for n in map(int, args.ns.split(",")) if n <= args.n_max]
    print(f"device: {ne.device_summary()}; d={args.dim}, width={args.width}, "
          f"depth={args.depth}, rank={args.rank}, ridge={args.ridge_rel:g}*trace/n, "
          f"tol={args.tol:g}, float32 CG"
          f"{' with float64 refinement' if args.refine else ''}; "
          f"load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores at start")
    print(f"{'n':>7} {'k':>3} {'P':>8} {'time_s':>8} {'cpu_s':>7} {'rss_mb':>7} {'iters':>5} "
          f"{'restarts':>8} {'rel_res':>9} {'dense_eNTK_GiB':>14} {'dense_pNTK_GiB':>14}")
    rows = {}
    for n in ns:
        for k in (1, 10):
            if k == 10 and n > args.k10_n_max:
                continue
            r = _run_point(n, k, args, ("--ratio",) if (k == 1 and n == ns[-1]) else ())
            rows[n, k] = r
            print(f"{n:>7} {k:>3} {r['P']:>8} {r['time_s']:>8.1f} {r['cpu_s']:>7.0f} "
                  f"{r['peak_rss_mb']:>7.0f} "
                  f"{r['iterations']:>5} {r['restarts']:>8} {r['rel_residual']:>9.2e} "
                  f"{r['dense_entk_gb']:>14.3g} {r['dense_pntk_gb']:>14.3g}", flush=True)
    n_dense = args.dense_n
    check = _run_point(n_dense, 1, argparse.Namespace(**{**vars(args), "tol": 1e-10,
                                                         "maxiter": 3000,
                                                         "rank": n_dense // 4}),
                       ("--x64", "--dense-check"))
    print(f"float64 at n={n_dense}: {check['iterations']} iterations, matrix-free vs dense "
          f"kernel_regression rel. difference {check['vs_dense_rel']:.2e}")
    top = rows[ns[-1], 1]
    # one CG iteration: the CG loop's time, less the float64 refinement products, over
    # its float32 products (iterations plus true residuals)
    t_iter = (top["cg_s"] - top["refine_s"]) / top["products"]
    print(f"at n={ns[-1]}: one CG iteration {t_iter:.2f} s (of which the cached matvec "
          f"{top['matvec_s']:.2f} s), one plain JVP + VJP {top['jvp_vjp_s']:.2f} s; "
          f"float64 refinement products {top['refine_s']:.1f} s in all")
    sharded = _sharded_rel(args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other work shares the cores)")
    print(f"matfree_n_max={ns[-1]}")
    print(f"matfree_peak_rss_mb={top['peak_rss_mb']:.0f}")
    print(f"matfree_time_s={top['time_s']:.1f}")
    print(f"matfree_rel_residual={top['rel_residual']:.3g}")
    print(f"matfree_vs_dense_rel={check['vs_dense_rel']:.3g}")
    print(f"matfree_iter_over_jvp_vjp={t_iter / top['jvp_vjp_s']:.3g}")
    print(f"sharded_vs_single_rel={sharded:.3g}")


if __name__ == "__main__":
    main()
