"""Interaction latency of every notebook's widgets, and each notebook's run time and memory.

For every ``notebooks/*.ipynb`` (found by glob), a fresh subprocess runs the
notebook's code cells top to bottom in an IPython shell (inline matplotlib
backend, so a figure is rasterized to PNG exactly as in Jupyter), and prints

    notebook notebook=<name> run_s=<wall time of all cells> peak_rss_mb=<peak RSS>

Then, in the same process, it finds the widget apps the notebook built (objects
whose class lives in ``ntk_explore.widgets``), and for every control of each app
(slider, dropdown, checkbox) sets ``.value`` through a sequence of new values
and back to the starting value -- the same observer path a slider move takes --
timing each change until ``update()`` has returned with the new figure drawn:

    latency notebook=<name> widget=<App.attr> kind=<kernel|retrain> median_ms=<m> p90_ms=<p>

``kind``: ``kernel`` for controls that only recompute kernels / closed forms or
redraw precomputed results (goal <= 200 ms median on 2 CPU cores), ``retrain`` for
controls that train a network (goal <= 2 s). Goals are reported, not enforced.
At most ``--moves`` new values per control, and no new value once a control has
used ``--budget`` seconds. Usage::

    .venv/bin/python benchmarks/bench_latency.py [--moves 3] [--budget 20] [--draw] [NAME_GLOB]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = {"kernel": 200.0, "retrain": 2000.0}

# What each control recomputes (read from ntk_explore/widgets/*.py).
RETRAIN = {
    "ThreeLearnersApp": "*",  # trains net + linearized model on every change
    "TableApp": "*",  # trains the NN1/NN2 table nets
    "FeatureWidthApp": "*",  # trains a width sweep per setting (cached)
    "ScalingApp": "*", "PntkApp": "*", "ActiveApp": "*",  # cached per setting, trains on new
    "FinetuneApp": "*",  # tau: head probing steps; others: a full tau sweep of FT runs
    # teacher / student distillation runs (noise levels are precomputed at construction)
    "ZigzagApp": {"noise", "stop", "rate"},
}
KERNEL = {
    "EntkWidthApp": "*",  # redraws eNTKs kept by the up-front sweep of every setting
    "TransferApp": "*",  # redraws the precomputed transfer result
    "KernelLosesApp": "*",  # alpha, n_pre, learner boxes: lookups of curves computed at construction
    "ZigzagApp": {"step", "boxes"},  # moves markers on precomputed paths
}


def kind_of(cls: str, attr: str, control) -> str:
    for table, kind in ((KERNEL, "kernel"), (RETRAIN, "retrain")):
        sel = table.get(cls)
        if sel == "*" or (sel and attr.split("[")[0] in sel):
            return kind
    # Unknown app: the design notes ask retraining sliders to set continuous_update=False.
    return "retrain" if getattr(control, "continuous_update", True) is False else "kernel"


# --------------------------------------------------------------------------- child
def _controls(app):
    import ipywidgets as W
    found, seen = [], set()
    for attr, v in vars(app).items():
        items = [(attr, v)] if isinstance(v, W.ValueWidget) else (
            [(f"{attr}[{i}]", w) for i, w in enumerate(v) if isinstance(w, W.ValueWidget)]
            if isinstance(v, (list, tuple)) else [])
        for name, w in items:
            if isinstance(w, (W.HTML, W.Label, W.Text, W.Textarea, W.Output)):
                continue
            if id(w) in seen:  # e.g. an app's ``sliders`` list repeats its named sliders
                continue
            if hasattr(w, "options") or hasattr(w, "max") or isinstance(w, W.Checkbox):
                seen.add(id(w))
                found.append((name, w))
    return found


def _values(w, moves: int) -> list:
    start = w.value
    if hasattr(w, "options") and not hasattr(w, "max"):
        opts = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in w.options]
        i = opts.index(start) if start in opts else 0
        new = [opts[(i + k) % len(opts)] for k in range(1, len(opts))][:moves]
    elif isinstance(start, bool):
        new = [not start]
    else:
        lo, hi = w.min, w.max
        import ipywidgets as W
        if isinstance(w, W.FloatLogSlider):
            grid = [w.base ** (lo + f * (hi - lo)) for f in (0.25, 0.5, 0.75, 1.0)]
        else:
            grid = [lo + f * (hi - lo) for f in (0.25, 0.5, 0.75, 1.0)]
            if isinstance(start, int):
                step = w.step or 1
                grid = [int(lo + round((g - lo) / step) * step) for g in grid]
        new = [g for g in dict.fromkeys(grid) if g != start][:moves]
    return new + [start]


def _draw_ms(app) -> float | None:
    """Time to rasterize the app's current figure to PNG (the drawing part of a move)."""
    fig = getattr(app, "figure", None)
    if fig is None or not hasattr(fig, "savefig"):
        return None
    t = time.perf_counter()
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
    return (time.perf_counter() - t) * 1e3


def child(nb: Path, moves: int, budget: float, draw: bool = False) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    out = sys.stdout
    InteractiveShell.enable_gui = lambda self, gui=None: None  # no GUI loop: inline figures
    shell = InteractiveShell.instance()
    cells = [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
             for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    sink = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        shell.run_line_magic("matplotlib", "inline")
        for i, src in enumerate(cells):
            r = shell.run_cell(src, store_history=False)
            if not r.success:
                err = r.error_in_exec or r.error_before_exec
                print(f"error notebook={nb.stem} cell={i}: {err!r}", file=out)
                break
    run_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"notebook notebook={nb.stem} run_s={run_s:.1f} peak_rss_mb={peak:.0f}", file=out,
          flush=True)

    apps = [(k, v) for k, v in shell.user_ns.items()
            if not k.startswith("_") and type(v).__module__.startswith("ntk_explore.widgets")
            and hasattr(v, "update")]
    seen = set()
    for _, app in apps:
        if id(app) in seen:
            continue
        seen.add(id(app))
        cls = type(app).__name__
        for attr, w in _controls(app):
            kind = kind_of(cls, attr, w)
            times, spent, draws = [], 0.0, []
            seq = _values(w, moves)
            for j, v in enumerate(seq):
                if spent > budget and j < len(seq) - 1:
                    continue  # skip remaining new values, still go back to the start value
                t = time.perf_counter()
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    w.value = v
                dt = time.perf_counter() - t
                spent += dt
                times.append(dt * 1e3)
                if draw and (d := _draw_ms(app)) is not None:
                    draws.append(d)
            if not times:
                continue
            times.sort()
            med = statistics.median(times)
            p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
            verdict = "ok" if med <= GOAL_MS[kind] else "MISSES GOAL"
            print(f"latency notebook={nb.stem} widget={cls}.{attr} kind={kind} "
                  f"median_ms={med:.0f} p90_ms={p90:.0f}  # {len(times)} moves, "
                  f"goal {GOAL_MS[kind]:.0f} ms: {verdict}"
                  + (f"; figure to PNG alone {statistics.median(draws):.0f} ms" if draws else ""),
                  file=out, flush=True)
            sink.seek(0)
            sink.truncate()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory notebook={nb.stem} peak_rss_mb_after_moves={peak:.0f}", file=out, flush=True)


# --------------------------------------------------------------------------- parent
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pattern", nargs="?", default="[0-9]*.ipynb")
    ap.add_argument("--moves", type=int, default=3)
    ap.add_argument("--budget", type=float, default=20.0)
    ap.add_argument("--draw", action="store_true",
                    help="also time rasterizing each app figure to PNG once more (not in latency)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(Path(a.child), a.moves, a.budget, a.draw)
        return 0
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(f"# bench_latency: {os.cpu_count()} CPUs, JAX_PLATFORMS={env['JAX_PLATFORMS']}; "
          f"goals: kernel <= 200 ms, retrain <= 2000 ms median; notebooks < 1024 MB", flush=True)
    rc = 0
    total = 0.0
    for nb in sorted((ROOT / "notebooks").glob(a.pattern)):
        t = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", str(nb), "--moves", str(a.moves),
               "--budget", str(a.budget)] + (["--draw"] if a.draw else [])
        rc |= subprocess.call(cmd, env=env, cwd=ROOT / "notebooks")
        total += time.perf_counter() - t
    print(f"# total wall time {total:.0f} s (notebook runs + widget moves)", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
