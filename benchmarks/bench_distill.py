"""Filtered distillation targets on the Gaussian-mixture toy, over several seeds.

Notebook 05's defaults: 30-d toy with noise variance 4, 600 training and 3000
test points, MLP 30-128-128-3 (ReLU, NTK parametrization), SGD batch 32, lr 0.5.
Per seed: a teacher on one-hot labels (up to ``--teacher-epochs``), stopped at
the first epoch of 100% training accuracy; targets = one-hot labels, the
teacher's predictions there, and their bias-corrected moving average (rate
``--rate`` per epoch, from epoch 1). Three students (100 epochs, same init) are
trained on those targets. Also prints the teacher-length effect (targets when
the teacher runs all ``--teacher-epochs``) and the zig-zag AUC (mislabelled vs
easy points, excess path length up to memorization).

Ends with ``onehot_to_pstar=``, ``teacher_to_pstar=``, ``filtered_to_pstar=``
(mean over seeds of the mean L2 distance to p*, teacher stopped at
memorization) and ``zigzag_auc=`` (mean over seeds).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from ntk_explore import zigzag as Z

KINDS = ("onehot", "teacher", "filtered")


def one_seed(seed: int, args, model):
    k_toy, k_teacher, k_student = jax.random.split(jax.random.key(seed), 3)
    toy = Z.make_toy(k_toy, noise=args.noise)
    run = Z.train_teacher(toy, model, k_teacher, epochs=args.teacher_epochs)
    if run.memorized_at is None:
        raise RuntimeError(f"seed {seed}: no 100% training accuracy in "
                           f"{args.teacher_epochs} epochs")
    dist = Z.distill(toy, model, run, k_student, rate=args.rate)
    late = Z.distill_targets(toy, run, len(run.epochs) - 1, rate=args.rate)
    kinds = Z.point_kinds(toy)
    score = Z.zigzag_score(run.paths[:run.memorized_at + 1])
    row = {f"{k}_to_pstar": Z.distance_to_pstar(getattr(dist.targets, k), toy.pstar)
           for k in KINDS}
    row.update({f"{k}_late_to_pstar": Z.distance_to_pstar(getattr(late, k), toy.pstar)
                for k in ("teacher", "filtered")})
    row.update({f"{k}_ece": getattr(dist, k).ece for k in KINDS})
    row.update({f"{k}_acc": getattr(dist, k).accuracy for k in KINDS})
    row["zigzag_auc"] = Z.auc(score[kinds == "mislabelled"], score[kinds == "easy"])
    row["memorized_epoch"] = int(run.epochs[run.memorized_at])
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--noise", type=float, default=4.0)
    ap.add_argument("--rate", type=float, default=0.98)
    ap.add_argument("--teacher-epochs", type=int, default=300)
    args = ap.parse_args()
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
          f"float64={jax.config.jax_enable_x64}; {vars(args)}")
    model = Z.toy_model()
    t0 = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        rows.append(one_seed(seed, args, model))
        r = rows[-1]
        print(f"seed {seed}: memorized at epoch {r['memorized_epoch']}; to p*: one-hot "
              f"{r['onehot_to_pstar']:.3f} teacher {r['teacher_to_pstar']:.3f} filtered "
              f"{r['filtered_to_pstar']:.3f} (filtered/teacher "
              f"{r['filtered_to_pstar'] / r['teacher_to_pstar']:.3f}, filtered/one-hot "
              f"{r['filtered_to_pstar'] / r['onehot_to_pstar']:.3f}); after "
              f"{args.teacher_epochs} epochs: teacher {r['teacher_late_to_pstar']:.3f} "
              f"filtered {r['filtered_late_to_pstar']:.3f}; ECE "
              f"{r['onehot_ece']:.3f}/{r['teacher_ece']:.3f}/{r['filtered_ece']:.3f}; acc "
              f"{r['onehot_acc']:.3f}/{r['teacher_acc']:.3f}/{r['filtered_acc']:.3f}; "
              f"zig-zag AUC {r['zigzag_auc']:.3f}", flush=True)
    print(f"total time {time.perf_counter() - t0:.1f} s")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    sem = {k: float(np.std([r[k] for r in rows], ddof=1) / np.sqrt(len(rows)))
           for k in rows[0]}
    for k in ("onehot_ece", "teacher_ece", "filtered_ece", "onehot_acc", "teacher_acc",
              "filtered_acc", "teacher_late_to_pstar", "filtered_late_to_pstar"):
        print(f"mean {k} = {mean[k]:.3f} ± {sem[k]:.3f} (s.e.)")
    for k in ("onehot_to_pstar", "teacher_to_pstar", "filtered_to_pstar", "zigzag_auc"):
        print(f"{k}={mean[k]:.4f}")


if __name__ == "__main__":
    main()
