#!/usr/bin/env python3
"""One entry point: set everything up, then run the requested job.

    python3 dev.py lab      # set up .venv, start JupyterLab on notebooks/
    python3 dev.py test     # set up .venv, run unit tests + every notebook (nbval)
    python3 dev.py bench    # set up .venv, run the benchmarks in benchmarks/
    python3 dev.py browser  # set up .venv + Debian chromium + playwright, run tests/test_browser.py
    python3 dev.py binder   # build a fresh env from binder/ alone (as repo2docker), run every
                            # notebook there, report each one's peak memory against 1 GB
                            # (--keep-env reuses the env of an earlier run; names filter)
    python3 dev.py docs     # set up .venv + requirements-docs.txt, build the static site in site/
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
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("NTK_EXPLORE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
INPUTS = ["dev.py", "binder/overrides.json", "pyproject.toml", "requirements.txt",
          "requirements-dev.txt", "requirements-docs.txt", "requirements-nodeps.txt"]


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
    # Every figure drawn through plots.new_figure is checked for overlapping or cut-off text
    # (ntk_explore/plots/layout.py): a notebook whose figure fails its layout fails under nbval.
    env.setdefault("NTK_EXPLORE_CHECK_LAYOUT", "1")
    # tests/test_install.py: a fresh venv from the package index, docs/library.md's commands.
    env.setdefault("NTK_EXPLORE_INSTALL_TEST", "1")
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


# A cell that runs longer than this fails the notebook, which is then run once more: on a
# heavily loaded 2-core machine, a kernel (ipykernel 7.4) and its client were seen both
# idle, each waiting for the other, mid-notebook (4 of about 30 runs, over TCP and over
# Unix sockets alike); a fresh kernel ran the same notebook through. The kernels use Unix
# sockets (_ipc). The slowest cell takes about 130 s on a loaded machine.
CELL_TIMEOUT_S = 400
BINDER_DIR = ROOT / ".binder-check"
BINDER_MEMORY_MB = 1024  # what mybinder.org guarantees (it may give up to 2 GB)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _copy_tracked(dest: Path) -> None:
    """The files a clone has (tracked + untracked-but-not-ignored), copied to ``dest``."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, out):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _ipc(prefix: Path) -> list[str]:
    """nbconvert options for a kernel on Unix sockets named ``prefix-<n>`` (an absolute
    path: the kernel runs in the notebook's folder, the client in another)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return ["--KernelManager.transport=ipc", f"--KernelManager.ip={prefix}"]


def _peak_run(py: Path, cmd: list, cwd: Path, env: dict) -> tuple[int, float]:
    """Run ``cmd`` in a fresh interpreter; (exit code, peak RSS in MB of it and every
    process it waited for, e.g. the notebook's kernel)."""
    probe = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
             "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")
    res = subprocess.run([str(py), "-c", probe, *map(str, cmd)], cwd=cwd, env=env,
                         capture_output=True, text=True)
    kb = next((int(ln.split()[1]) for ln in res.stdout.splitlines() if ln.startswith("PEAK_KB")), 0)
    if res.returncode:
        print(res.stdout[-2000:], res.stderr[-4000:], sep="\n", file=sys.stderr)
    return res.returncode, kb / 1024


def binder(args) -> int:
    """What repo2docker does with binder/: a fresh environment from binder/requirements.txt,
    then binder/postBuild in the repository's files; then every notebook, one kernel each."""
    repo, env_dir = BINDER_DIR / "repo", BINDER_DIR / "env"
    stamp = BINDER_DIR / "built"
    keep = "--keep-env" in args and stamp.exists()  # iterate on notebooks, not on the set-up
    if BINDER_DIR.exists():
        for part in ([repo, BINDER_DIR / "executed"] if keep else [BINDER_DIR]):
            shutil.rmtree(part, ignore_errors=True)
    _copy_tracked(repo)
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    have = f"python-{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != have:
        print(f"note: binder/runtime.txt asks for {runtime}; this check uses {have}")
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(env_dir),
               PIP_DISABLE_PIP_VERSION_CHECK="1", JAX_PLATFORMS=env.get("JAX_PLATFORMS", "cpu"))
    steps = [["pip", "install", "--quiet", "--no-cache-dir", "-r", "binder/requirements.txt"],
             ["bash", "binder/postBuild"]]
    if keep:
        print(f"--keep-env: reusing {env_dir} (built from binder/ by an earlier run)")
        steps = [["bash", "binder/postBuild"]]  # the editable install points at the new copy
    else:
        print(f"creating {env_dir} (fresh, from binder/ only)")
        venv.EnvBuilder(with_pip=True).create(env_dir)
    for step in steps:
        print("+", " ".join(step), flush=True)
        if subprocess.call(step, cwd=repo, env=env):
            print(f"binder set-up step failed: {' '.join(step)}", file=sys.stderr)
            return 1
    stamp.write_text("ok")
    only = [a for a in args if not a.startswith("-")]
    failed = []
    print(f"\n{'notebook':45s} {'result':8s} {'peak MB':>8s} {'wall s':>7s}  (Binder guarantees "
          f"{BINDER_MEMORY_MB} MB; wall includes the kernel's start)")
    for nb in NOTEBOOKS:
        if only and not any(o in nb.name for o in only):
            continue
        rel = nb.relative_to(ROOT)
        cmd = [bindir / "python", "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
               f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}", *_ipc(BINDER_DIR / "ipc" / nb.stem),
               "--output-dir", BINDER_DIR / "executed", rel]
        start = time.perf_counter()
        rc, peak = _peak_run(bindir / "python", cmd, repo, env)
        note = ""
        if rc:  # see CELL_TIMEOUT_S: one retry, reported
            start = time.perf_counter()
            rc, peak = _peak_run(bindir / "python", cmd, repo, env)
            note = "  (second try)"
        wall = time.perf_counter() - start
        ok = rc == 0 and peak <= BINDER_MEMORY_MB
        print(f"{nb.name:45s} {'ok' if ok else ('ERROR' if rc else 'OVER'):8s} {peak:8.0f} "
              f"{wall:7.1f}{note}", flush=True)
        if not ok:
            failed.append(nb.name)
    if failed:
        print(f"binder check failed for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


SITE = ROOT / "site"


def _api_modules() -> list[str]:
    """The package and its public subpackages (pdoc documents each one's modules; the
    top level alone would stop at its ``__all__``). tests/test_docs.py uses the same rule."""
    return [".".join(f.parent.relative_to(ROOT).parts)
            for f in sorted((ROOT / "ntk_explore").rglob("__init__.py"))
            if not any(p.startswith("_") for p in f.parent.relative_to(ROOT).parts)]


def _docs_pages() -> list[str]:
    """docs/*.md rendered to site/docs/*.html (markdown2, from requirements-docs.txt); the
    names, in order."""
    out = SITE / "docs"
    out.mkdir(parents=True, exist_ok=True)
    render = ("import markdown2, pathlib, sys; src, dst = map(pathlib.Path, sys.argv[1:]); "
              "body = markdown2.markdown(src.read_text(), extras=['tables', 'fenced-code-blocks', "
              "'header-ids']).replace('.md#', '.html#').replace('.md\"', '.html\"'); "
              "dst.write_text('<!doctype html><meta charset=utf-8><title>' + src.stem + '</title>' + body)")
    names = []
    for md in sorted((ROOT / "docs").glob("*.md")):
        if _run(PY, "-c", render, md, out / f"{md.stem}.html") == 0:
            names.append(md.stem)
    if (ROOT / "docs" / "screenshots").is_dir():
        shutil.copytree(ROOT / "docs" / "screenshots", out / "screenshots", dirs_exist_ok=True)
    return names


def docs(args) -> int:
    """Static HTML site in site/: the API reference (pdoc, from the docstrings) and every
    notebook executed, with its figures, as a page (nbconvert)."""
    _must(PY, "-m", "pip", "--disable-pip-version-check", "install", "--quiet",
          "-r", "requirements-docs.txt")
    # The smoke test first (under `dev.py test` it is skipped: pdoc is not in requirements-dev.txt).
    if _run(PY, "-m", "pytest", "tests/test_docs.py", "-q", "-p", "no:xdist"):
        return 1
    if SITE.exists():
        shutil.rmtree(SITE)
    (SITE / "notebooks").mkdir(parents=True)
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
               OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    env.pop("MPLBACKEND", None)  # the inline backend, as in JupyterLab
    rc = _run(PY, "-m", "pdoc", "--docformat", "google", "-o", SITE / "api", *_api_modules(), env=env)
    only = [a for a in args if not a.startswith("-")]
    pages = []
    for nb in NOTEBOOKS:
        if only and not any(o in nb.name for o in only):
            continue
        cmd = [PY, "-m", "jupyter", "nbconvert", "--to", "html", "--execute",
               f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}", *_ipc(SITE / ".ipc" / nb.stem),
               "--output-dir", SITE / "notebooks", nb.relative_to(ROOT)]
        rc |= _run(*cmd, env=env) and _run(*cmd, env=env)  # one retry, see CELL_TIMEOUT_S
        pages.append(nb.stem)
    links = "".join(f"<li><a href='notebooks/{p}.html'>{p}</a></li>" for p in pages)
    guides = "".join(f"<li><a href='docs/{name}.html'>{name}</a></li>" for name in _docs_pages())
    (SITE / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>ntk_explore</title>"
        "<h1>ntk_explore</h1><p>When is a trained network its neural tangent kernel?</p>"
        f"<h2>Notebooks (executed)</h2><ul>{links}</ul>"
        f"<h2>Guides</h2><ul>{guides}</ul>"
        "<h2><a href='api/index.html'>API reference</a></h2>")
    print(f"site: {SITE / 'index.html'}" if rc == 0 else "docs build failed", flush=True)
    return rc


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("setup", "lab", "test", "bench", "browser", "binder", "docs"):
        print(__doc__)
        return 2
    job, rest = argv[0], argv[1:]
    if job == "binder":  # binder/ alone: no .venv, no requirements-dev.txt
        return binder(rest)
    gpu = "--gpu" in rest
    rest = [a for a in rest if a != "--gpu"]
    setup(gpu=gpu)
    if job == "setup":
        return 0
    return {"lab": lab, "test": test, "bench": bench, "browser": browser, "docs": docs}[job](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
