"""Real images, both halves (notebook 07), measured in one run (CPU unless JAX finds an accelerator).

scikit-learn's 8x8 digits, 3 seeds (each its own shuffle: a pool of 1200 nested training
sets, 100 validation and 497 test images, and its own inits), n = 50 ... 1200 (7 sizes),
targets one-hot minus 0.1, MSE. Learners (:mod:`ntk_explore.topics.natural`): a ReLU MLP
64-256-256-10 in the NTK parametrization with centred output ``(h - h0) / gamma``, rich at
``gamma = sqrt(256) = 16`` and lazy at ``gamma = 1``, full-batch GD at function-space rate 2
with early stopping on validation; kernel ridge (ridge chosen on validation) with its pNTK at
init, its infinite-width NTK and the rich net's after-kernel; a CNN
Conv3x3(16)-ReLU-Conv3x3(16)-ReLU-Flatten-Dense(10) at ``gamma = 4`` and its infinite-width
kernel (flatten readout; ``--gap``: also global average pooling, about 9 minutes more).

Prints per-learner tables (seed-mean test MSE and test error), exponents (slopes of log test
MSE against log n, negative; ``alpha`` = minus the slope), paired per-seed slope differences
with t-intervals over seeds (negative: the first learner out-scales the second), the
verdicts of notebook 07, timings, and ends with key=value lines. ``--json`` saves the whole
run (every seed), which notebook 07 reads for its CNN section.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import time

import jax
import numpy as np

from ntk_explore.topics import natural as N

PAIRS = (("rich", "ntk"), ("rich", "entk"), ("rich", "lazy"), ("lazy", "entk"), ("after", "ntk"),
         ("ntk", "entk"), ("cnn", "cntk"), ("cnn", "cntk_gap"), ("cntk_gap", "cntk"))


def table(curves, metric: str) -> None:
    label = "test MSE" if metric == "mse" else "test error"
    print(f"{label} (seed mean), n = {curves.ns.tolist()}:")
    print(f"  {'learner':9s} " + " ".join(f"{n:>7d}" for n in curves.ns))
    for name in curves.mse:
        fmt = "{:7.4f}" if metric == "mse" else "{:7.2%}"
        print(f"  {name:9s} " + " ".join(fmt.format(v) for v in curves.mean(name, metric)))


def exponents(curves) -> dict:
    print("exponents of test MSE (slope of log MSE vs log n; alpha = -slope), 95% intervals:")
    out = {}
    for name in curves.mse:
        slope, ci = curves.slope(name)
        out[name] = slope
        per_seed = [np.polyfit(np.log(curves.ns), np.log(r), 1)[0] for r in curves.mse[name]]
        print(f"  {name:9s} slope {slope:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] (t over seeds)   "
              f"per seed " + " ".join(f"{v:+.3f}" for v in per_seed))
    return out


def paired(curves) -> dict:
    print("paired per-seed slope differences (a minus b; negative: a out-scales b), "
          "95% t-interval over seeds:")
    out = {}
    for a, b in PAIRS:
        if a in curves.mse and b in curves.mse:
            p = out[(a, b)] = curves.paired(a, b)
            print(f"  {a:>8s} - {b:8s} {p.mean:+.3f} [{p.ci95[0]:+.3f}, {p.ci95[1]:+.3f}]   "
                  f"per seed " + " ".join(f"{v:+.3f}" for v in p.per_seed))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--gap", action="store_true", help="add the global-average-pooling CNTK")
    ap.add_argument("--json", type=pathlib.Path, default=None, help="save the run (every seed) here")
    args = ap.parse_args()
    learners = N.BENCHMARK["learners"] + (("cntk_gap",) if args.gap else ())
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    print(f"device: {jax.devices()[0]}")
    curves = N.digits_scaling(seeds=args.seeds, learners=learners, progress=False)
    s = curves.settings
    print(f"settings: {s}")
    table(curves, "mse")
    table(curves, "err")
    slopes = exponents(curves)
    pairs = paired(curves)
    stops = {k: v.max() for k, v in curves.stopped.items()}
    print(f"early stopping: largest stopping step per net {stops} (limits: MLP {s.steps}, "
          f"CNN {s.cnn_steps})")
    print("verdicts (notebook 07):")
    for v in N.verdicts(curves):
        print(f"  {v.claim}: {v.summary}  ({v.detail})")
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall, cpu = time.perf_counter() - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print("seconds by part: " + ", ".join(f"{k} {v:.1f}" for k, v in curves.seconds.items()))
    if args.json is not None:
        args.json.write_text(json.dumps(curves.to_dict()))
        print(f"saved the run to {args.json}")
    lines = {
        "mse_exponent_mlp_rich": slopes["rich"], "mse_exponent_mlp_lazy": slopes["lazy"],
        "mse_exponent_ntk_fc": slopes["ntk"], "mse_exponent_entk_mlp": slopes["entk"],
        "paired_rich_minus_ntk_lo": pairs[("rich", "ntk")].ci95[0],
        "paired_rich_minus_ntk_hi": pairs[("rich", "ntk")].ci95[1],
        "paired_lazy_minus_entk_lo": pairs[("lazy", "entk")].ci95[0],
        "paired_lazy_minus_entk_hi": pairs[("lazy", "entk")].ci95[1],
        "err_cnn_largest": curves.mean("cnn", "err")[-1],
        "err_cntk_flat_largest": curves.mean("cntk", "err")[-1],
        "mse_exponent_after": slopes["after"], "mse_exponent_cnn": slopes["cnn"],
        "mse_exponent_cntk_flat": slopes["cntk"],
        "paired_rich_minus_entk_lo": pairs[("rich", "entk")].ci95[0],
        "paired_rich_minus_entk_hi": pairs[("rich", "entk")].ci95[1],
        "paired_rich_minus_lazy_lo": pairs[("rich", "lazy")].ci95[0],
        "paired_rich_minus_lazy_hi": pairs[("rich", "lazy")].ci95[1],
        "paired_cnn_minus_cntk_lo": pairs[("cnn", "cntk")].ci95[0],
        "paired_cnn_minus_cntk_hi": pairs[("cnn", "cntk")].ci95[1],
        "mse_mlp_rich_largest": curves.mean("rich")[-1], "mse_ntk_fc_largest": curves.mean("ntk")[-1],
        "mse_entk_mlp_largest": curves.mean("entk")[-1], "mse_cnn_largest": curves.mean("cnn")[-1],
        "mse_cntk_flat_largest": curves.mean("cntk")[-1],
        "err_mlp_rich_largest": curves.mean("rich", "err")[-1],
        "err_ntk_fc_largest": curves.mean("ntk", "err")[-1],
        "err_entk_mlp_largest": curves.mean("entk", "err")[-1],
    }
    if "cntk_gap" in curves.mse:
        lines["err_cntk_gap_largest"] = curves.mean("cntk_gap", "err")[-1]
        lines["mse_exponent_cntk_gap"] = slopes["cntk_gap"]
    lines.update(seconds_total=wall, cpu_seconds=cpu)
    for k, v in lines.items():
        print(f"{k}={v:.4f}")


if __name__ == "__main__":
    main()
