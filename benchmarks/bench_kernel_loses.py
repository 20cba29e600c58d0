"""Where the kernel loses (notebook 09), measured in one run (CPU unless JAX finds an accelerator).

Single-index task y = g(w . x), x ~ N(0, I_32), g = (z + He_3(z)/sqrt 6)/sqrt 2; one hidden
layer of 256 ReLU units, mean-field readout, 1000 full-batch GD steps, centred output
(:mod:`ntk_explore.topics.kernel_loses` DEFAULTS). Every kernel's ridge is chosen on 1000
validation points; errors are test MSE / Var(y) on 1000 test points.

Prints: the data-scaling table (every learner, every size, seed mean) with exponents
and 95% intervals; the pretrained eNTK's exponent against n_pre; the kernel through
training for the rich and the lazy net, and the after-kernel's error at the step where the
loss first reached 5% of its start against its final value over 6 seeds; sparse parity;
transfer with a shared feature, with the source learned by one big step (then probed and
fine-tuned) and, for comparison, by 1000 GD steps. Ends with key=value lines (notebook 09
reads them from the saved output in benchmarks/results/kernel_loses.txt).
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
    print(f"kernel through training ({label}, alpha = {path.alpha:g}; loss first at "
          f"{path.fraction:.0%} of its start at step {path.loss_step}):")
    i = path.loss_index if path.loss_index is not None else 0
    print("  step   loss/loss0   S(K0,Kt)  S(K5%,Kt)  velocity  alignment  after-kernel err")
    for row in zip(path.steps, path.loss / path.loss[0], path.distance, path.distance_from(i),
                   path.velocity, path.alignment, path.after_error):
        print("  {:5d}   {:9.4f}   {:8.4f}  {:9.4f}  {:8.2e}  {:9.3f}  {:8.3f}".format(*row))
    jump = path.loss_curve[1:] / path.loss_curve[:-1]
    print(f"  largest one-step rise of the loss: x{jump.max():.2f} at step {int(jump.argmax()) + 1}")


def transfer_rows(tr) -> None:
    print(f"transfer {tr.g1} -> {tr.g2} (n_pre = {tr.n_pre}, pretraining: {tr.pretraining}, "
          f"nets' rates chosen on validation from {tr.rates}), test MSE / Var(y), seed mean:")
    print(f"  {'learner':16s} " + " ".join(f"{m:>7d}" for m in tr.ms) + f"   seeds at m = {tr.ms[0]}")
    for name in tr.errors:
        print(f"  {name:16s} " + " ".join(f"{v:7.3f}" for v in tr.mean(name))
              + "   " + " ".join(f"{v:.3f}" for v in tr.errors[name][:, 0]))
    r = tr.ratios()
    print(f"  at m = {tr.ms[0]}: best pretrained learner {tr.best(kl.USES_PRETRAINED)}, best "
          f"target-only learner {tr.best(kl.TARGET_ONLY)}; per-seed ratios to the eNTK at init "
          f"{np.round(r['to_entk_init'], 3).tolist()}, to the target-only learner "
          f"{np.round(r['to_target_only'], 3).tolist()}")
    for name, rate in tr.chosen.items():
        print(f"  {name}: chosen rates (seeds x m) {rate.tolist()}")


def extend(args) -> None:
    """The eNTK-at-init learner past the kernel matrix (notebook 09's toggle)."""
    sizes = [n for n in (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
             if n <= min(args.extend, kl.POOL)]  # from 256 as in notebook 09's toggle (ExtendKernelApp)
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
    free = ext.matfree
    lines = {"extend_n_max": ext.ns[-1], "extend_err_largest": ext.errors[-1],
             "extend_err_2048": ext.errors[list(ext.ns).index(2048)] if 2048 in ext.ns else np.nan,
             "extend_exponent": e.slope, "extend_exponent_hi": e.ci95[1],
             "extend_exponent_tail": tail.slope, "extend_exponent_tail_lo": tail.ci95[0],
             "extend_exponent_tail_hi": tail.ci95[1], "extend_num_params": ext.num_params,
             "extend_matfree_seconds": ext.seconds[free].sum(),
             "extend_cg_iterations_min": ext.iterations[free].min() if free.any() else np.nan,
             "extend_cg_iterations_max": ext.iterations[free].max() if free.any() else np.nan,
             "extend_rel_ridge": ext.rel_ridge[-1]}
    for name, value in lines.items():
        print(f"{name}={float(value):.6g}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(kl.SIZES))
    ap.add_argument("--n-pres", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--path-n", type=int, default=2048)
    ap.add_argument("--path-seeds", type=int, default=6)
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
    paths = kl.kernel_paths(jax.random.key(1), args.path_seeds, n=args.path_n)
    rich = paths[0]
    lazy = kl.kernel_path(jax.random.split(jax.random.key(1), args.path_seeds)[0], n=args.path_n,
                          alpha=kl.DEFAULTS["lazy_alpha"])
    path_rows(rich, "rich")
    path_rows(lazy, "lazy")
    moves = kl.kernel_moves_verdict(paths)
    print(f"after-kernel error at the 5%-loss step / at the end, {len(paths)} seeds: "
          f"{moves.summary}\n  {moves.detail}  ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    par = kl.parity_experiment(jax.random.key(2), (args.parity_n,))
    print(f"sparse parity (d = {par.d}, k = {par.k}, n = {args.parity_n}): net accuracy "
          f"{par.net.mean():.3f}, NTK ridge {par.ntk.mean():.3f}  ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    tr = kl.transfer_experiment(jax.random.key(3), args.transfer_ms, seeds=args.transfer_seeds)
    transfer_rows(tr)
    gd = kl.transfer_experiment(jax.random.key(3), args.transfer_ms, seeds=args.transfer_seeds,
                                pretraining="gd", learners=kl.USES_PRETRAINED)
    transfer_rows_pre = {name: gd.mean(name)[0] for name in gd.errors}
    print(f"  the same with the source learned by {kl.DEFAULTS['steps']} GD steps at rate "
          f"{kl.DEFAULTS['lr']} (m = {gd.ms[0]}): "
          + ", ".join(f"{k} {v:.3f}" for k, v in transfer_rows_pre.items()))
    print(f"  ({time.perf_counter() - t:.0f} s)")
    print(f"total {time.perf_counter() - t_all:.0f} s")

    verdicts = {"index_scaling": kl.data_scaling_verdict(curves),
                "lazy_control": kl.lazy_control_verdict(curves),
                "pretrained_catch_up": kl.pretrained_kernel_verdict(curves, curves),
                "kernel_keeps_moving": moves}
    for name, v in verdicts.items():
        print(f"verdict {name}: {v.summary}")
    m0 = tr.ms[0]
    best_pre, best_tgt = tr.best(kl.USES_PRETRAINED), tr.best(kl.TARGET_ONLY)
    ratios = tr.ratios()
    i = rich.loss_index
    lines = {
        "exponent_net": e["net"].slope, "exponent_net_lo": e["net"].ci95[0],
        "exponent_ntk": e["ntk"].slope, "exponent_entk_init": e["entk_init"].slope,
        "exponent_kernels_hi": max(e["ntk"].ci95[1], e["entk_init"].ci95[1]),
        "exponent_after": e["after"].slope, "exponent_one_step": e["one_step"].slope,
        "exponent_lazy": e["lazy"].slope,
        "err_net_largest": curves.mean("net")[-1], "err_ntk_largest": curves.mean("ntk")[-1],
        "err_entk_init_largest": curves.mean("entk_init")[-1],
        "err_lazy_largest": curves.mean("lazy")[-1],
    }
    for n_pre in sorted(pres):
        p = pres[n_pre].exponent("pretrained")
        lines[f"exponent_pretrained_{n_pre}"] = p.slope
        lines[f"exponent_pretrained_{n_pre}_hi"] = p.ci95[1]
    for name, v in verdicts.items():
        lines[f"{name}_measured"] = v.measured
        lines[f"{name}_lo"], lines[f"{name}_hi"] = v.interval
    lines.update({
        "loss5pct_step": rich.loss_step,
        "kernel_distance_at_loss5pct": rich.distance[i],
        "kernel_distance_final": rich.distance[-1],
        "kernel_distance_loss5pct_to_final": rich.distance_from(i)[-1],
        "kernel_distance_final_lazy": lazy.distance[-1],
        "after_kernel_err_init": rich.after_error[0],
        "after_kernel_err_at_loss5pct": rich.after_error[i],
        "after_kernel_err_final": rich.after_error[-1],
        "after_kernel_err_at_loss5pct_seed_mean": np.mean(
            [p.after_error_at_loss_fraction() for p in paths]),
        "after_kernel_err_final_seed_mean": np.mean([p.after_error[-1] for p in paths]),
        "parity_acc_net": par.net.mean(), "parity_acc_ntk": par.ntk.mean(),
        "transfer_m_min": m0,
        "transfer_err_entk_init": tr.mean("linearized_init")[0],
        "transfer_err_target_only": tr.mean(best_tgt)[0],
        "transfer_err_target_only_net": tr.mean("target_only")[0],
        "transfer_err_best_pretrained": tr.mean(best_pre)[0],
        "transfer_err_probe": tr.mean("probe")[0],
        "transfer_err_finetune": tr.mean("finetune")[0],
        "transfer_ratio_to_entk_init": tr.mean(best_pre)[0] / tr.mean("linearized_init")[0],
        "transfer_ratio_to_target_only": tr.mean(best_pre)[0] / tr.mean(best_tgt)[0],
        "transfer_ratio_to_entk_init_worst_seed": ratios["to_entk_init"].max(),
        "transfer_ratio_to_target_only_worst_seed": ratios["to_target_only"].max(),
        "transfer_gd_err_probe": gd.mean("probe")[0],
        "transfer_gd_err_finetune": gd.mean("finetune")[0],
        "transfer_gd_err_best_pretrained": min(gd.mean("probe")[0], gd.mean("finetune")[0]),
    })
    for name, value in lines.items():
        print(f"{name}={float(value):.4f}")


if __name__ == "__main__":
    main()
