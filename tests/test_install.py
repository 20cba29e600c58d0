"""A researcher's install: a fresh virtual environment, exactly the commands of
``docs/library.md`` (linked from the README), then its ten-line example.

It needs the package index (pip's cache makes a second run fast), so it runs when
``NTK_EXPLORE_INSTALL_TEST=1`` -- ``python3 dev.py test`` sets it -- and is skipped in
a bare ``pytest`` run. The commands and the example are read from docs/library.md, so
the page cannot drift from what is tested.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "docs" / "library.md").read_text()

pytestmark = pytest.mark.install


def _section(title: str) -> str:
    start = README.index(title)
    nxt = README.find("\n## ", start + len(title))
    return README[start: nxt if nxt != -1 else None]


def readme_install_commands() -> list[str]:
    """The ``pip install`` lines of the README's install block (comments dropped)."""
    block = re.search(r"```bash\n(.*?)```", _section("## Install and a first example"), re.S).group(1)
    lines = [ln.split("#", 1)[0].strip() for ln in block.splitlines()]
    return [ln for ln in lines if ln.startswith("pip install")]


def readme_example() -> str:
    return re.search(r"```python\n(.*?)```", _section("## Install and a first example"), re.S).group(1)


def test_readme_commands_install_the_library_alone_and_neural_tangents_without_tensorflow():
    cmds = readme_install_commands()
    assert cmds[0] == "pip install ."
    assert any("--no-deps" in c and "neural-tangents==" in c for c in cmds), cmds
    assert not any("tensorflow" in c for c in cmds)


def test_library_dependencies_leave_out_the_notebook_stack():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", d)[0].lower() for d in meta["dependencies"]}
    assert not names & {"jupyterlab", "ipywidgets", "nbval", "ipykernel", "notebook"}, names
    assert {"jupyterlab", "ipywidgets"} <= {re.split(r"[<>=\[ ]", d)[0].lower()
                                            for d in meta["optional-dependencies"]["notebooks"]}


@pytest.mark.skipif(os.environ.get("NTK_EXPLORE_INSTALL_TEST") != "1",
                    reason="needs the package index; python3 dev.py test runs it")
def test_fresh_venv_runs_the_readme_example(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(JAX_PLATFORMS="cpu", PIP_DISABLE_PIP_VERSION_CHECK="1")
    for cmd in readme_install_commands():
        args = cmd.split()[2:]
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *args], cwd=ROOT, env=env,
                       check=True, timeout=900)
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], env=env,
                            capture_output=True, text=True, check=True).stdout.lower()
    for absent in ("jupyterlab", "ipywidgets", "nbval", "tensorflow"):
        assert f"\n{absent}==" not in "\n" + listed, f"{absent} was installed by the library alone"
    script = "import warnings\nwarnings.simplefilter('error', DeprecationWarning)\n" + readme_example()
    script += "\nprint('shapes', entk.shape, inf.ntk.shape, run.params is not None)\n"
    out = subprocess.run([str(py), "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "shapes (48, 48, 1, 1) (48, 48)" in out.stdout, out.stdout
    assert "%|" not in out.stderr, "a library call drew a progress bar"
    assert sys.version_info >= (3, 11)
