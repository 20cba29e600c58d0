"""Issue 7 sweeps: data-scaling exponents, pNTK vs eNTK, look-ahead active learning.

Everything is measured in this one run (CPU unless JAX finds an accelerator):

* data scaling on ``load_digits`` and on the synthetic teacher task: test loss
  at log-spaced n for the trained net and kernel regression with its kernels
  (pNTK (x) I_k), exponents alpha (loss ~ n^-alpha) with 95% CIs; plus the
  full-eNTK exponent at init as a cross-check of the pNTK shortcut;
* pNTK/eNTK relative Frobenius gap vs width (k = 10, widths 64..8192, 3 seeds)
  at init and after training; kernel-regression accuracy with each kernel;
  time and memory ratios vs k; the memory of a CIFAR-10-sized full eNTK;
* active learning: look-ahead vs actual retraining; acquisition curves (3
  seeds); time of rank-one look-ahead scoring vs one full re-solve per candidate.

Ends with ``exponent_net=``, ``exponent_entk_init=``, ``exponent_ntk=`` (digits)
and ``pntk_slope=`` (init) lines.

``--matfree-n-max N`` runs only the eNTK-at-init curve on the teacher task
(``teacher_task(n_pool=N)``) at 10 log-spaced n from 32 to N, matrix-free from
n = 2048 (:func:`ntk_explore.topics.scaling.entk_init_curve`, float64 CG, ridge
1e-3 of the mean diagonal), and ends with ``matfree_n_max=``,
``exponent_entk_init_matfree=`` (with its 95% interval) and ``matfree_time_s=``.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from ntk_explore import active, pntk_study, scaling
from ntk_explore.core.kernels import mlp_pntk
from ntk_explore.core.models import mlp
from ntk_explore.core.training import train


def show_curves(curves) -> dict:
    print(f"[{curves.task}] ns = {curves.ns.tolist()}, width {curves.width}, "
          f"{curves.steps} GD steps, n_pre {curves.n_pre}, kernel {curves.kernel}")
    out = {}
    for name, losses in curves.losses.items():
        e = out[name] = curves.exponent(name)
        print(f"  {name:16s} loss {np.round(losses, 4).tolist()}  alpha {e.alpha:.3f} "
              f"[{e.ci95[0]:.3f}, {e.ci95[1]:.3f}]")
    return out


def scaling_part(args):
    ns = scaling.log_sizes(32, 1024, 6)
    key = jax.random.key(0)
    ex = show_curves(scaling.data_scaling(scaling.digits_task(), ns, key=key, width=args.width,
                                          steps=args.steps))
    show_curves(scaling.data_scaling(scaling.teacher_task(), ns, key=key, width=args.width,
                                     steps=args.steps))
    show_curves(scaling.data_scaling(scaling.digits_task(), ns[:-1], key=key, width=args.width,
                                     steps=args.steps, kernel="entk", learners=("entk_init",)))
    return ex


def pntk_part():
    task = scaling.digits_task()
    x = task.x[:32]
    init = pntk_study.gap_vs_width(x, [64, 256, 1024, 4096, 8192], key=jax.random.key(1),
                                   seeds=3)
    trained = pntk_study.gap_vs_width(x, [64, 256, 1024, 4096], key=jax.random.key(1), seeds=3,
                                      y=task.y[:32], train_steps=500)
    for label, sw in (("init", init), ("after 500 GD steps", trained)):
        f = sw.fit
        print(f"pNTK gap {label}: widths {sw.widths.tolist()} mean {np.round(sw.mean, 4).tolist()}"
              f" slope {f.slope:.3f} [{f.ci95[0]:.3f}, {f.ci95[1]:.3f}]")
    model = mlp(64, 512, 1, 10)
    p0 = model.init(jax.random.key(0))
    p1 = train(model.apply, p0, task.x[:300], task.y[:300], lr=1.0, steps=500,
               progress=False).params
    for name, params in (("init", p0), ("trained", p1)):
        c = pntk_study.compare_regression(model, params, task.x[:300], task.y[:300], task.x_test,
                                          task.labels_test)
        print(f"regression n=300 width 512 {name}: rel diff {c.rel_diff:.4f}, acc eNTK "
              f"{c.acc_entk:.3f}, pNTK {c.acc_pntk:.3f}")
    for r in pntk_study.cost_vs_k([1, 2, 5, 10, 20], key=jax.random.key(2)):
        print(f"cost n=256 width 256 k={r.k:2d}: eNTK {r.time_entk * 1e3:8.2f} ms, pNTK "
              f"{r.time_pntk * 1e3:6.2f} ms, time ratio {r.time_ratio:7.1f}, memory ratio "
              f"{r.memory_ratio:.0f}")
    full, p = pntk_study.full_entk_bytes()
    print(f"n=50,000, k=10, float64: full eNTK {full:.3e} B ({full / 2**40:.2f} TiB), "
          f"pNTK {p:.3e} B ({p / 2**30:.1f} GiB)")
    return init.fit.slope


def active_part(seeds: int):
    task = scaling.digits_task()
    chk = active.retrain_check(task, [3, 50, 200, 400, 600, 800, 1000], key=jax.random.key(0))
    print("look-ahead vs retraining: cosine", np.round(chk.cosine, 3).tolist(), "rel error",
          np.round(chk.rel_error, 3).tolist())
    print("  scores look-ahead", np.round(chk.scores_pred, 5).tolist(), "retrained",
          np.round(chk.scores_actual, 5).tolist())
    for s in active.STRATEGIES:
        acc = np.stack([active.acquisition_curve(task, s, key=jax.random.fold_in(
            jax.random.key(0), seed), seed=seed).accuracy for seed in range(seeds)])
        se = acc.std(0, ddof=1) / np.sqrt(seeds)
        print(f"acquisition {s:12s} labels 20..100 mean acc {np.round(acc.mean(0), 3).tolist()}"
              f" (s.e. at 100: {se[-1]:.3f})")
    time_lookahead(task)


def time_lookahead(task):
    model = mlp(64, 256, 1, 10)
    params = model.init(jax.random.key(0))
    K = np.asarray(mlp_pntk(model)(jax.numpy.asarray(task.x), None, params), np.float64)
    f = np.asarray(model.apply(params, jax.numpy.asarray(task.x)), np.float64)
    rng = np.random.default_rng(0)
    lab = rng.choice(task.x.shape[0], 200, replace=False)
    rest = np.setdiff1d(np.arange(task.x.shape[0]), lab)
    ev, cand = rest[:300], rest[300:]
    t0 = time.perf_counter()
    active.lookahead_scores(K, lab, cand, ev, f, task.y[lab])
    t_rank1 = (time.perf_counter() - t0) / cand.size
    t0 = time.perf_counter()
    for c in cand[:50]:
        idx = np.append(lab, c)
        r = np.vstack([task.y[lab] - f[lab], active.pseudo_targets(f[c][None, :], 10) - f[c][None, :]])
        active.lookahead_resolve(K[np.ix_(idx, idx)], r, K[np.ix_(ev, idx)])
    t_full = (time.perf_counter() - t0) / 50
    print(f"per-candidate cost, m=200 labels, {cand.size} candidates, 300 eval points: rank-one "
          f"{t_rank1 * 1e6:.1f} us, full re-solve {t_full * 1e6:.1f} us, ratio "
          f"{t_full / t_rank1:.1f}")


def matfree_part(n_max: int, width: int) -> None:
    ns = scaling.log_sizes(32, n_max, 10)
    task = scaling.teacher_task(n_pool=n_max)
    print(f"eNTK at init, teacher task, width {width}, ridge 1e-3 (relative), matrix-free from "
          f"n = {scaling.MATFREE_FROM} (float64 CG, rel. residual 1e-6)")
    model = mlp(task.x.shape[1], width, 1, 1)
    p0 = scaling.init_params(model, jax.random.key(0))  # the init entk_init_curve uses
    t0 = time.perf_counter()
    losses, seconds = [], []
    for n in ns:
        t1 = time.perf_counter()
        losses.append(scaling.entk_init_loss(model, p0, task, int(n)))
        seconds.append(time.perf_counter() - t1)
        print(f"  n = {n:6d}  test loss {losses[-1]:.6f}  ("
              f"{'matrix-free' if n >= scaling.MATFREE_FROM else 'dense'}, {seconds[-1]:.1f} s)",
              flush=True)
    total = time.perf_counter() - t0
    losses = np.asarray(losses)
    e = scaling.exponent(ns, losses)
    print(f"  all n: alpha {e.alpha:.3f} [{e.ci95[0]:.3f}, {e.ci95[1]:.3f}]")
    big = ns >= 1024
    e_big = scaling.exponent(ns[big], losses[big])
    print(f"  n >= 1024 only: alpha {e_big.alpha:.3f} [{e_big.ci95[0]:.3f}, {e_big.ci95[1]:.3f}]")
    print(f"total {total:.0f} s on {jax.devices()[0].platform}")
    print(f"matfree_n_max={int(ns[-1])}")
    print(f"exponent_entk_init_matfree={e.alpha:.4f} ci95=[{e.ci95[0]:.4f}, {e.ci95[1]:.4f}]")
    print(f"matfree_time_s={seconds[-1]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--matfree-n-max", type=int, default=0,
                        help="only the eNTK-at-init curve up to this n, matrix-free (see doc)")
    args = parser.parse_args()
    if args.matfree_n_max:
        return matfree_part(args.matfree_n_max, args.width)
    t0 = time.perf_counter()
    ex = scaling_part(args)
    slope = pntk_part()
    active_part(args.seeds)
    print(f"total {time.perf_counter() - t0:.0f} s on {jax.devices()[0].platform}")
    print(f"exponent_net={ex['net'].alpha:.4f}")
    print(f"exponent_entk_init={ex['entk_init'].alpha:.4f}")
    print(f"exponent_ntk={ex['ntk'].alpha:.4f}")
    print(f"pntk_slope={slope:.4f}")


if __name__ == "__main__":
    main()
