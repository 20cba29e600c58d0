"""Feature change and eNTK motion vs width, NTK parametrization against muP.

Runs :func:`ntk_explore.topics.features.feature_sweep` at notebook 03's defaults
(``ntk_explore.topics.features.DEFAULTS``) with more seeds, prints per-width means, the
fitted log-log slopes with 95% intervals and the time taken, and ends with the
five ``key=value`` lines that CI and the issue read. muP slopes are fitted over
widths >= MUP_MIN_WIDTH (at its base width muP is NTK parametrization).

    python benchmarks/bench_width_features.py [--seeds 6]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from ntk_explore import device_summary
from ntk_explore.topics.features import DEFAULTS, MUP_MIN_WIDTH, feature_sweep, feature_task


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args()
    d = DEFAULTS
    print(f"device: {device_summary()}; defaults {d}; seeds {args.seeds}")
    task = feature_task(jax.random.key(0), n=d["n"], d=d["d"], scale=d["scale"], dtype=jnp.float32)
    sweeps, mins = {}, {"ntk": 0, "mup": MUP_MIN_WIDTH}
    for p in ("ntk", "mup"):
        t0 = time.perf_counter()
        sweeps[p] = feature_sweep(task, d["widths"], key=jax.random.key(1), parametrization=p,
                                  depth=d["depth"], lr=d["lr"], steps=d["steps"], seeds=args.seeds)
        s = sweeps[p]
        print(f"\n{p}: {time.perf_counter() - t0:.1f} s; max final loss {s.loss.max():.2e}")
        print("  width            " + " ".join(f"{w:>7d}" for w in s.widths))
        for q in ("feature", "kernel", "weight", "cka", "feature_gram", "backprop_gram"):
            print(f"  {q:16s} " + " ".join(f"{v:7.4f}" for v in s.mean(q)))
        for q in ("feature", "kernel"):
            f = s.fit(q, mins[p])
            print(f"  {q} slope (widths >= {mins[p]}): {f.slope:+.3f} "
                  f"[{f.ci95[0]:+.3f}, {f.ci95[1]:+.3f}]")
    fit = {(p, q): sweeps[p].fit(q, mins[p]).slope for p in mins for q in ("feature", "kernel")}
    print()
    print(f"feature_slope_ntk={fit['ntk', 'feature']:.4f}")
    print(f"feature_slope_mup={fit['mup', 'feature']:.4f}")
    print(f"feature_change_mup_largest={sweeps['mup'].mean('feature')[-1]:.4f}")
    print(f"kernel_slope_ntk={fit['ntk', 'kernel']:.4f}")
    print(f"kernel_slope_mup={fit['mup', 'kernel']:.4f}")


if __name__ == "__main__":
    main()
