"""Issue 13: where the kernel loses, measured in one run (CPU unless JAX finds an accelerator).

Single-index task y = g(w . x), x ~ N(0, I_32), g = (z + He_3(z)/sqrt 6)/sqrt 2; one hidden
layer of 256 ReLU units, mean-field readout, 1000 full-batch GD steps, centred output
(:mod:`ntk_explore.topics.kernel_loses` DEFAULTS). Every kernel's ridge is chosen on 1000
validation points; errors are test MSE / Var(y) on 1000 test points.

Prints: the data-scaling table (every learner, every size, seed mean) with exponents
and 95% intervals; the pretrained eNTK's exponent against n_pre; the kernel through
training for the rich and the lazy net; sparse parity; transfer with a shared feature.
Ends with the issue's key=value lines.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from ntk_explore.topics import kernel_loses as kl


def table(curves) -> dict:
    print(f"data scaling: ns = {curves.ns.tolist()}, seeds = {curves.errors['net'].shape[0]}")
    print(f"  {'learner':12s} " + " ".join(f"{n:>7d}" for n in curves.ns) + "   exponent [95%]")
    out = {}
    for name in curves.errors:
        e = out[name] = curves.exponent(name)
        print(f"  {name:12s} " + " ".join(f"{v:7.3f}" for v in curves.mean(name))
              + f"   {e.slope:.3f} [{e.ci95[0]:.3f}, {e.ci95[1]:.3f}]")
    return out


def path_rows(path, label: str) -> None:
    print(f"kernel through training ({label}, alpha = {path.alpha:g}):")
    print("  step   loss/loss0   S(K0,Kt)  velocity  alignment  after-kernel err")
    for row in zip(path.steps, path.loss / path.loss[0], path.distance, path.velocity,
                   path.alignment, path.after_error):
        print("  {:5d}   {:9.4f}   {:8.4f}  {:8.2e}  {:9.3f}  {:8.3f}".format(*row))


def extend(args) -> None:
    """The eNTK-at-init learner past the kernel matrix (issue 16, part 3)."""
    sizes = [n for n in (256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
             if n <= args.extend]  # from 256 as in notebook 09's toggle (ExtendKernelApp)
    run = kl.NOTEBOOK_RUN if args.notebook else dict(width=args.width, seeds=args.seeds,
                                                     n_val=kl.DEFAULTS["n_val"],
                                                     n_test=kl.DEFAULTS["n_test"])
    key = jax.random.split(jax.random.key(0), run["seeds"])[0]  # data_scaling's first seed
    t = time.perf_counter()
    ext = kl.entk_init_extended(key, sizes, width=run["width"], n_val=run["n_val"],
                                n_test=run["n_test"], progress=True)
    print(f"eNTK at init, width {run['width']} (P = {ext.num_params:,}), first of "
          f"{run['seeds']} seeds, {run['n_val']} validation and {run['n_test']} test points; "
          f"matrix-free from n = {ext.matfree_from:,}:")
    print("        n   error  rel_ridge  seconds  CG_iters")
    for row in zip(ext.ns, ext.errors, ext.rel_ridge, ext.seconds, ext.iterations):
        print("  {:7d}  {:6.3f}  {:9.0e}  {:7.1f}  {:8d}".format(*row))
    e, tail = ext.exponent(), ext.exponent(n_min=ext.matfree_from // 2)
    print(f"  exponent over all sizes {e.slope:.3f} [{e.ci95[0]:.3f}, {e.ci95[1]:.3f}]; "
          f"over n >= {ext.matfree_from // 2}: {tail.slope:.3f} [{tail.ci95[0]:.3f}, "
          f"{tail.ci95[1]:.3f}]  (total {time.perf_counter() - t:.0f} s)")
    lines = {"extend_n_max": ext.ns[-1], "extend_err_largest": ext.errors[-1],
             "extend_err_2048": ext.errors[list(ext.ns).index(2048)] if 2048 in ext.ns else np.nan,
             "extend_exponent": e.slope, "extend_exponent_hi": e.ci95[1],
             "extend_exponent_tail": tail.slope, "extend_num_params": ext.num_params,
             "extend_matfree_seconds": ext.seconds[ext.matfree].sum()}
    for name, value in lines.items():
        print(f"{name}={float(value):.6g}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(kl.SIZES))
    ap.add_argument("--n-pres", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--path-n", type=int, default=2048)
    ap.add_argument("--parity-n", type=int, default=1000)
    ap.add_argument("--transfer-ms", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--transfer-seeds", type=int, default=3)
    ap.add_argument("--extend", type=int, default=0, metavar="N_MAX",
                    help="only run the eNTK at init on the first seed up to N_MAX (matrix-free "
                         "from kl.MATFREE_FROM; notebook 09's toggle), and print its key=value lines")
    ap.add_argument("--width", type=int, default=kl.DEFAULTS["width"])
    ap.add_argument("--notebook", action="store_true",
                    help="with --extend: notebook 09's settings (kl.NOTEBOOK_RUN: width, seeds, "
                         "validation and test sizes)")
    args = ap.parse_args(argv)
    print(f"device: {jax.devices()[0]}")
    if args.extend:
        extend(args)
        return
    t_all = time.perf_counter()
    key = jax.random.key(0)

    t = time.perf_counter()
    curves = kl.data_scaling(key, args.sizes, seeds=args.seeds)
    e = table(curves)
    print(f"  ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    pres = kl.pretrained_curves(key, [n for n in args.n_pres if n != curves.settings["n_pre"]],
                                args.sizes, seeds=args.seeds)
    pres[curves.settings["n_pre"]] = curves
    print("pretrained eNTK exponent vs n_pre (net: "
          f"{e['net'].slope:.3f} [{e['net'].ci95[0]:.3f}, {e['net'].ci95[1]:.3f}]):")
    for n_pre in sorted(pres):
        p = pres[n_pre].exponent("pretrained")
        print(f"  n_pre {n_pre:5d}: {p.slope:.3f} [{p.ci95[0]:.3f}, {p.ci95[1]:.3f}]  errors "
              + " ".join(f"{v:.3f}" for v in pres[n_pre].mean("pretrained")))
    print(f"  ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    rich = kl.kernel_path(jax.random.key(1), n=args.path_n)
    lazy = kl.kernel_path(jax.random.key(1), n=args.path_n, alpha=kl.DEFAULTS["lazy_alpha"])
    path_rows(rich, "rich")
    path_rows(lazy, "lazy")
    print(f"  ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    par = kl.parity_experiment(jax.random.key(2), (args.parity_n,))
    print(f"sparse parity (d = {par.d}, k = {par.k}, n = {args.parity_n}): net accuracy "
          f"{par.net.mean():.3f}, NTK ridge {par.ntk.mean():.3f}  ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    tr = kl.transfer_experiment(jax.random.key(3), args.transfer_ms, seeds=args.transfer_seeds)
    print(f"transfer {tr.g1} -> {tr.g2} (n_pre = {tr.n_pre}), test MSE / Var(y), seed mean:")
    print(f"  {'learner':22s} " + " ".join(f"{m:>7d}" for m in tr.ms))
    for name in tr.errors:
        print(f"  {name:22s} " + " ".join(f"{v:7.3f}" for v in tr.mean(name)))
    ratio = tr.errors["finetune"][:, 0] / tr.errors["linearized_init"][:, 0]
    print(f"  seeds with finetune <= half of linearized-at-init at m = {tr.ms[0]}: "
          f"{int(np.sum(ratio <= 0.5))} of {ratio.size}  ({time.perf_counter() - t:.0f} s)")
    print(f"total {time.perf_counter() - t_all:.0f} s")

    pre = pres[curves.settings["n_pre"]].exponent("pretrained")
    lines = {
        "exponent_net": e["net"].slope, "exponent_net_lo": e["net"].ci95[0],
        "exponent_ntk": e["ntk"].slope, "exponent_entk_init": e["entk_init"].slope,
        "exponent_kernels_hi": max(e["ntk"].ci95[1], e["entk_init"].ci95[1]),
        "exponent_after": e["after"].slope, "exponent_pretrained": pre.slope,
        "exponent_pretrained_hi": pre.ci95[1], "exponent_lazy": e["lazy"].slope,
        "err_net_largest": curves.mean("net")[-1], "err_ntk_largest": curves.mean("ntk")[-1],
        "kernel_distance_at_loss5pct": rich.distance_at_loss_fraction(0.05),
        "kernel_distance_final": rich.distance[-1],
        "kernel_distance_final_lazy": lazy.distance[-1],
        "parity_acc_net": par.net.mean(), "parity_acc_ntk": par.ntk.mean(),
        "transfer_err_finetune": tr.mean("finetune")[0],
        "transfer_err_linearized_init": tr.mean("linearized_init")[0],
    }
    for name, value in lines.items():
        print(f"{name}={float(value):.4f}")


if __name__ == "__main__":
    main()
