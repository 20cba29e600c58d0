"""Checks that ride along nbval's one run of each notebook (``pytest notebooks --nbval-lax``).

nbval runs a notebook's code cells in one kernel, one test per cell. Around those
cells this plugin runs hidden code in the same kernel (its output is not part of any
cell's output) to check what a student's Run All must leave behind:

* the kernel draws with the **inline** backend, as JupyterLab does, so a figure shown
  is an image output of its cell (and the layout check of ``plots.layout`` runs on the
  figure the reader sees); a cell may show each figure only once;
* every ``ntk_explore.widgets`` app is recorded, with the value of each of its controls
  (sliders, dropdowns, checkboxes), after the cell that creates it; after the last
  cell every control must be back at that value;
* a notebook builds an app exactly when its source says ``App(``.

A failed check fails the cell where it is found (the last cell for the app checks).
Running these checks inside nbval's run, instead of executing every notebook a second
time, keeps the suite within its budget on 2 cores.
"""

from __future__ import annotations

import json

import pytest

_SETUP = r'''
get_ipython().run_line_magic("matplotlib", "inline")
import ipywidgets as _W

_ntk_apps = {}


def _ntk_controls(app):
    found = {}

    def visit(name, obj, depth=0):
        if isinstance(obj, _W.ValueWidget) and not isinstance(
                obj, (_W.HTML, _W.HTMLMath, _W.Label, _W.Output, _W.Image)):
            found[name] = obj.value
        elif isinstance(obj, (list, tuple)) and depth < 2:
            for i, o in enumerate(obj):
                visit(f"{name}[{i}]", o, depth + 1)
        elif isinstance(obj, dict) and depth < 2:
            for k, o in obj.items():
                visit(f"{name}[{k!r}]", o, depth + 1)

    for key, value in vars(app).items():
        visit(key, value)
    return found


def _ntk_probe():
    for _name, _obj in list(globals().items()):
        if (type(_obj).__module__.startswith("ntk_explore.widgets") and not _name.startswith("_")
                and _name not in _ntk_apps and hasattr(_obj, "__dict__")):
            _ntk_apps[_name] = (_obj, _ntk_controls(_obj))
'''

_END = r'''
import json as _json
_ntk_probe()
_moved = {}
for _name, (_app, _start) in _ntk_apps.items():
    _now = _ntk_controls(_app)
    _diff = {k: [repr(v), repr(_now.get(k))] for k, v in _start.items() if _now.get(k) != v}
    if _diff:
        _moved[_name] = _diff
print("NTK_STATE " + _json.dumps({"apps": {n: sorted(s) for n, (_, s) in _ntk_apps.items()},
                                  "moved": _moved}))
'''

_TIMEOUT_S = 120


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item.parent, "kernel")


def _hidden(kernel, source: str) -> str:
    """Run ``source`` in the notebook's kernel outside any cell; its stdout. Raises if it fails."""
    msg_id = kernel.execute_cell_input(source, allow_stdin=False)
    kernel.await_reply(msg_id, timeout=_TIMEOUT_S)
    text, error = [], None
    while True:
        msg = kernel.get_message(stream="iopub", timeout=_TIMEOUT_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text.append(content.get("text", ""))
        elif kind == "error":
            error = f"{content.get('ename')}: {content.get('evalue')}"
        elif kind == "status" and content.get("execution_state") == "idle":
            break
    if error:
        raise RuntimeError(f"notebook check code failed in the kernel: {error}")
    return "".join(text)


def _images(outputs) -> int:
    return sum(1 for o in outputs or ()
               if o.get("output_type") in ("display_data", "execute_result")
               and any(k.startswith("image/") for k in o.get("data", {})))


def pytest_collection_modifyitems(items):
    """Mark the first and the last code cell of each notebook."""
    by_file = {}
    for item in items:
        if _is_nbval_cell(item):
            by_file.setdefault(item.parent, []).append(item)
    for cells in by_file.values():
        cells[0]._ntk_first = True
        cells[-1]._ntk_last = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _is_nbval_cell(item):
        return (yield)
    kernel = item.parent.kernel
    if getattr(item, "_ntk_first", False):
        _hidden(kernel, _SETUP)
    result = yield
    images = _images(getattr(item, "test_outputs", None))
    if images > 1:
        raise AssertionError(f"{item.name}: the cell shows {images} images; a cell may show each "
                             "figure once (an app's figure, or one plt figure)")
    _hidden(kernel, "_ntk_probe()")
    if getattr(item, "_ntk_last", False):
        _check_apps(item, _hidden(kernel, _END))
    return result


def _check_apps(item, text: str) -> None:
    line = next(ln for ln in text.splitlines() if ln.startswith("NTK_STATE "))
    state = json.loads(line[len("NTK_STATE "):])
    name = item.parent.name
    has_app = "App(" in item.parent.path.read_text()
    problems = []
    if bool(state["apps"]) != has_app:
        problems.append(f"apps found {sorted(state['apps'])}, but the source "
                        f"{'has' if has_app else 'has no'} 'App('")
    if not all(state["apps"].values()):
        problems.append(f"an app without controls: {state['apps']}")
    if state["moved"]:
        problems.append("after Run All these controls are not at their defaults "
                        f"(control: [default, now]): {state['moved']}")
    if problems:
        raise AssertionError(f"{name}: " + "; ".join(problems))
