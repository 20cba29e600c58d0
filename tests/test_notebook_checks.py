"""The checks that ride along nbval's run of each notebook (the repository's ``conftest.py``)
find what they promise: a figure shown twice, an app left off its defaults, an app the
source does not announce; a clean notebook passes.

Each case is a two-cell notebook run by nbval in a subprocess, with a copy of the
repository's ``conftest.py`` beside it (a few seconds each: one kernel start).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]

_APP = '''
import ipywidgets as widgets


class FakeApp:
    """Stands for an ntk_explore app: a class from ntk_explore.widgets with a slider."""

    def __init__(self):
        self.width = widgets.IntSlider(value=3, min=1, max=9)


FakeApp.__module__ = "ntk_explore.widgets.fake"
app = FakeApp()
'''

_PLOT = '''
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1])
'''

CASES = {
    "clean": ([_APP, _PLOT], None),
    "figure_twice": ([_PLOT + "plt.show()\nplt.plot([1, 0], [0, 1])\n"], "the cell shows 2 images"),
    "app_moved": ([_APP, "app.width.value = 5"], "not at their defaults"),
    "app_not_announced": (["class Widget:\n    pass\n\n\nWidget.__module__ = 'ntk_explore.widgets.x'"
                           "\nw = Widget()"], "source has no 'App('"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_notebook_checks(case, tmp_path):
    cells, expected = CASES[case]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / f"{case}.ipynb")
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                          "-p", "no:xdist", "-q", f"{case}.ipynb"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    if expected is None:
        assert run.returncode == 0, run.stdout[-3000:]
    else:
        assert run.returncode == 1 and expected in run.stdout, run.stdout[-3000:]
