"""Run every verdict of the tour (notebook 00) and save it, dated, as package data.

    python benchmarks/bench_tour.py            # writes ntk_explore/data/tour_verdicts.json
    python benchmarks/bench_tour.py --no-save  # only prints

The start page shows this saved run (with its date and machine) and can recompute it.
Ends with ``key=value`` lines: the count of each outcome, the wall time, and one line
per claim (its status).
"""

import argparse
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # the verdicts the unit tests assert are float64

from ntk_explore.topics import tour  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "ntk_explore" / "data" / tour.SAVED_TOUR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    verdicts = tour.run_all(include_kernel_loses=True)
    seconds = time.perf_counter() - t0
    for v in verdicts:
        print(f"{v.status:14s} {v.claim}\n{'':15s}{v.summary}")
    if not args.no_save:
        tour.save_verdicts(verdicts, OUT, seconds=seconds)
        print(f"saved {OUT}")
    for s in tour.STATUSES:
        print(f"tour_{s.replace(' ', '_')}={sum(v.status == s for v in verdicts)}")
    print(f"tour_seconds={seconds:.1f}")
    for v in verdicts:
        print(f"claim_{v.key}={v.status.replace(' ', '_')}")


if __name__ == "__main__":
    main()
