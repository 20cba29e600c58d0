#!/usr/bin/env python3
"""One entry point: set everything up, then run the requested job.

    python3 dev.py lab      # set up .venv, start JupyterLab on notebooks/
    python3 dev.py test     # set up .venv, run unit tests + every notebook (nbval)
    python3 dev.py bench    # set up .venv, run the benchmarks in benchmarks/
    python3 dev.py browser  # set up .venv + Debian chromium + playwright, run tests/test_browser.py
    python3 dev.py setup    # only set up

Needs only Python >= 3.11 with pip and venv. The set-up is idempotent: it
re-installs only when a requirements file or pyproject.toml changed (a hash is
kept in .venv/.ntk_explore-setup). Options: --gpu installs JAX's CUDA 12 plugin;
NTK_EXPLORE_VENV=path chooses another virtual environment folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("NTK_EXPLORE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
INPUTS = ["dev.py", "binder/overrides.json", "pyproject.toml", "requirements.txt",
          "requirements-dev.txt", "requirements-nodeps.txt"]


def _run(*cmd, **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def _must(*cmd):
    rc = _run(*cmd)
    if rc:
        sys.exit(f"set-up step failed (exit {rc}): {' '.join(map(str, cmd))}")


def setup(gpu: bool = False) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 -- dev.py runs before any install
        sys.exit(f"ntk_explore needs Python >= 3.11, this is {sys.version.split()[0]}")
    digest = hashlib.sha256(b"gpu" if gpu else b"cpu")
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / ".ntk_explore-setup"
    if PY.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
        print(f"environment {VENV} is up to date")
        return
    if not PY.exists():
        print(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [PY, "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    _must(*pip, "--upgrade", "pip")
    _must(*pip, "-r", "requirements-dev.txt")
    _must(*pip, "--no-deps", "-r", "requirements-nodeps.txt")
    _must(*pip, "--no-deps", "-e", ".")
    if gpu:
        _must(*pip, "jax[cuda12]==" + _pinned("jax"))
    _quiet_lab_news()
    _must(PY, "-c", "import ntk_explore, ntk_explore.core._nt_compat as c; c.load(); "
                    "print('ntk_explore ready on', ntk_explore.device_summary())")
    stamp.write_text(digest.hexdigest())


def _quiet_lab_news() -> None:
    """Turn off JupyterLab's news/update toast (it covers part of the notebook)."""
    settings = VENV / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "binder" / "overrides.json", settings / "overrides.json")


def _pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith(name + "=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"{name} is not pinned in requirements.txt")


def lab(args) -> int:
    extra = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return _run(BIN / "jupyter", "lab", "--notebook-dir", ROOT / "notebooks", *extra, *args)


def test(args) -> int:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")  # deterministic notebook outputs
    env.setdefault("MPLBACKEND", "Agg")
    # Parallel test workers: one BLAS thread each (oversubscribed OpenBLAS threads made a
    # 670x670 Cholesky ~100x slower on a 2-core machine).
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Test files (and each notebook's cells) stay together on one worker.
    workers = str(min(os.cpu_count() or 1, 4))
    rc = _run(PY, "-m", "pytest", "tests", "notebooks", "--nbval-lax", "-n", workers,
              "--dist", "loadfile", "--durations=20", *args, env=env)
    if rc == 5:
        print("pytest collected no tests: that is a failure here, not a pass", file=sys.stderr)
        return 1
    return rc


def bench(args) -> int:
    rc = 0
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        rc |= _run(PY, script, *args)
    return rc


def browser(args) -> int:
    """Real-browser test: Debian's chromium (apt, as root) + pinned playwright; no downloads."""
    if not Path("/usr/bin/chromium").exists():
        print("/usr/bin/chromium is missing: installing Debian's chromium with apt-get")
        _must("apt-get", "update")
        _must("apt-get", "install", "-y", "chromium")
    _must(PY, "-m", "pip", "--disable-pip-version-check", "install", "--quiet",
          "-r", "requirements-browser.txt")
    env = dict(os.environ, NTK_EXPLORE_BROWSER="1")  # a missing browser fails, not skips
    return _run(PY, "-m", "pytest", "tests/test_browser.py", "-v", "-s", "-p", "no:xdist", *args,
                env=env)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("setup", "lab", "test", "bench", "browser"):
        print(__doc__)
        return 2
    job, rest = argv[0], argv[1:]
    gpu = "--gpu" in rest
    rest = [a for a in rest if a != "--gpu"]
    setup(gpu=gpu)
    if job == "setup":
        return 0
    return {"lab": lab, "test": test, "bench": bench, "browser": browser}[job](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
