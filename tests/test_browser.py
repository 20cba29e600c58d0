"""Real-browser check of every notebook: JupyterLab + headless Chromium (playwright).

For each ``notebooks/*.ipynb`` (found by glob): open it in JupyterLab, Run All
Cells, wait for the kernel to go idle, assert that no cell shows an error, move
one slider of the first widget app (type a value into its ``.widget-readout``
box and press Enter, or press an arrow key on the slider handle for selection
sliders), assert that the app's figure image bytes or readout text changed, and
save ``docs/screenshots/NAME.png``.

Run it with ``python3 dev.py browser`` (installs Debian's ``chromium`` and the
pinned ``playwright`` from requirements-browser.txt; never downloads browsers).
Under the normal test command (``python3 dev.py test``) it is skipped unless
``NTK_EXPLORE_BROWSER=1`` is set; with that variable set a missing Chromium or
playwright is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("NTK_EXPLORE_CHROMIUM", "/usr/bin/chromium")
MANDATORY = os.environ.get("NTK_EXPLORE_BROWSER", "") not in ("", "0")
RUN_TIMEOUT_S = float(os.environ.get("NTK_EXPLORE_BROWSER_TIMEOUT", "600"))  # per notebook
MOVE_TIMEOUT_S = 180.0
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing() -> str | None:
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-browser.txt)"
    return None


_why = _missing()
if MANDATORY and _why:
    pytest.fail(f"NTK_EXPLORE_BROWSER is set but {_why}", pytrace=False)
if not MANDATORY:
    pytest.skip("real-browser test runs with `python3 dev.py browser` (or NTK_EXPLORE_BROWSER=1)"
                + (f"; also {_why}" if _why else ""), allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, tries: int = 10):
    """GET a JSON endpoint; retries a few transient 5xx (seen while a kernel shuts down)."""
    for i in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            if err.code < 500 or i == tries - 1:
                raise
            time.sleep(1)


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    port = _free_port()
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.pop("MPLBACKEND", None)  # e.g. Agg from the test command: figures would show as text
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    jupyter = Path(sys.executable).with_name("jupyter")
    log = open(tmp_path_factory.mktemp("lab") / "lab.log", "w")  # noqa: SIM115
    cmd = [str(jupyter), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
           "--ServerApp.token=", "--ServerApp.password=", "--notebook-dir",
           str(ROOT / "notebooks"), "--ServerApp.port_retries=0",
           "--ServerApp.disable_check_xsrf=True"]  # lets the test shut kernels down by REST
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            _get(url + "/api/status")
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; see {log.name}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _kernels_idle(url: str) -> bool:
    ks = _get(url + "/api/kernels")
    return bool(ks) and all(k["execution_state"] == "idle" for k in ks)


def _shutdown_kernels(url: str) -> None:
    for k in _get(url + "/api/kernels"):
        req = urllib.request.Request(f"{url}/api/kernels/{k['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


_STATE_JS = """() => {
  // A cell whose input is collapsed (the lessons' solution cells) shows a placeholder and
  // no execution count; the kernel going idle tells when it has run.
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
      .filter(e => !e.closest('.jp-CodeCell').querySelector('.jp-InputPlaceholder'))
      .map(e => e.textContent.trim());
  return {prompts,
          errors: [...document.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')]
              .map(e => e.innerText.slice(0, 2000))};
}"""

# The first widget app: a widget view that contains a slider. Returns image sources,
# visible text of the app, and the slider controls found in it.
_APP_JS = """() => {
  const sliders = [...document.querySelectorAll('.jp-OutputArea-output .widget-slider')];
  if (!sliders.length) return null;
  let app = sliders[0];
  while (app.parentElement && !app.parentElement.classList.contains('jp-OutputArea-output'))
      app = app.parentElement;
  const imgs = [...app.querySelectorAll('img')].map(i => i.src);
  return {imgs, text: app.innerText, n: app.querySelectorAll('.widget-slider').length};
}"""


def _app_state(page):
    return page.evaluate(_APP_JS)


def _wait_finished(page, url: str, timeout: float) -> dict:
    """Wait until every code cell has an execution count and the kernel is idle."""
    deadline = time.time() + timeout
    stable = 0
    while time.time() < deadline:
        st = page.evaluate(_STATE_JS)
        done = st["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in st["prompts"])
        if st["errors"]:
            return st
        stable = stable + 1 if done and _kernels_idle(url) else 0
        if stable >= 3:
            return st
        page.wait_for_timeout(1000)
    st = page.evaluate(_STATE_JS)
    pytest.fail(f"notebook did not finish within {timeout:.0f} s; prompts {st['prompts']}")


def _move_one_slider(page) -> str:
    """Move one slider of the first app; return a description of what was moved."""
    app = page.locator(".jp-OutputArea-output .widget-slider").first.locator(
        "xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")
    sliders = app.locator(".widget-slider")
    # Prefer a slider with an editable readout (Int/Float sliders): type a new value.
    for i in range(sliders.count()):
        s = sliders.nth(i)
        readout = s.locator(".widget-readout")
        handle = s.locator(".noUi-handle").first
        if readout.count() and readout.get_attribute("contenteditable") == "true":
            lo = float(handle.get_attribute("aria-valuemin"))
            hi = float(handle.get_attribute("aria-valuemax"))
            now = float(handle.get_attribute("aria-valuenow"))
            try:  # Int/Float slider: the readout shows the value itself
                # text_content, not inner_text: JupyterLab does not lay out cells scrolled
                # out of view, and inner_text of an element not laid out is ''.
                numeric = abs(float(readout.text_content()) - now) <= 1e-6 * max(1, abs(now))
            except ValueError:
                numeric = False  # selection slider (aria values are option indices)
            if not numeric:
                continue
            new = lo + 0.25 * (hi - lo) if now != lo + 0.25 * (hi - lo) else lo
            integer = "." not in readout.text_content() and all(
                float(v).is_integer() for v in (lo, hi, now))
            if integer or float(new).is_integer():
                new = int(round(new))
            if new == now:
                new = int(hi) if integer else hi
            name = s.locator(".widget-label").first.text_content()
            s.scroll_into_view_if_needed()
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(str(new))
            page.keyboard.press("Enter")
            # The slider itself must take the typed value (to within its step). A
            # selection slider whose first label reads like its index (0.0) also gets
            # here; it rejects the number, and we try the next slider.
            deadline = time.time() + 5
            while abs(float(handle.get_attribute("aria-valuenow")) - new) > 0.02 * (hi - lo):
                if time.time() > deadline:
                    print(f"'{name}' did not take the typed value {new}; trying the next slider")
                    break
                page.wait_for_timeout(100)
            else:
                return f"typed {new} into '{name}' (was {now:g})"
    # Otherwise (selection sliders): arrow key on the first slider's handle.
    s = sliders.first
    handle = s.locator(".noUi-handle").first
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    return f"arrow key on '{s.locator('.widget-label').first.text_content()}'"


def _uses_widgets(nb: Path) -> bool:
    src = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                  if c["cell_type"] == "code")
    return "ntk_explore.widgets" in src or "ipywidgets" in src


def _check_slider_moves_figure(page, lab_url: str, nb: Path) -> None:
    """Move one slider of the first app and wait until its image or readout changed."""
    before = _app_state(page)
    assert before is not None, f"{nb.name}: no widget slider was rendered"
    moved = _move_one_slider(page)
    deadline = time.time() + MOVE_TIMEOUT_S
    after = _app_state(page)
    while (after["imgs"], after["text"]) == (before["imgs"], before["text"]):
        assert time.time() < deadline, f"{nb.name}: {moved}: figure and readout unchanged"
        page.wait_for_timeout(250)
        after = _app_state(page)
    page.wait_for_timeout(500)
    # Let a callback that retrains finish before the screenshot.
    t0 = time.time()
    while not _kernels_idle(lab_url) and time.time() - t0 < MOVE_TIMEOUT_S:
        page.wait_for_timeout(500)
    after = _app_state(page)
    changed = [w for w, k in (("image", "imgs"), ("readout", "text")) if before[k] != after[k]]
    print(f"{nb.stem}: {moved}; changed: {', '.join(changed)}")
    assert changed


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_browser(nb: Path, lab_url: str, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{lab_url}/lab/tree/{nb.name}?reset", wait_until="domcontentloaded")
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for(timeout=120_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Toolbar-kernelStatus,"
            " .jp-Notebook-ExecutionIndicator')].length > 0", timeout=120_000)
        # Kernel must be started before Run All.
        t0 = time.time()
        while not _get(lab_url + "/api/kernels") and time.time() - t0 < 120:
            page.wait_for_timeout(500)
        if page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count():
            page.keyboard.press("Control+b")  # collapse the file browser: wider notebook
        page.locator(".jp-NotebookPanel .jp-Notebook").first.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        page.wait_for_timeout(2000)
        st = _wait_finished(page, lab_url, RUN_TIMEOUT_S)
        assert not st["errors"], f"{nb.name}: error output(s):\n" + "\n---\n".join(st["errors"])
        body = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").inner_text()
        assert "Traceback (most recent call last)" not in body, f"{nb.name}: a traceback is shown"

        # Screenshot of the default state (before any move), the app (or the first table /
        # figure) in view.
        page.evaluate("""() => {
          // The first app (its cell at the top), or else the first table / figure output.
          const s = document.querySelector('.jp-OutputArea-output .widget-slider');
          const o = document.querySelector('.jp-OutputArea-output table, .jp-OutputArea-output img');
          if (s) s.closest('.jp-Cell').scrollIntoView({block: 'start'});
          else if (o) o.closest('.jp-OutputArea-output').scrollIntoView({block: 'start'});
        }""")
        page.wait_for_timeout(1000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        tmp = SHOTS / f".{nb.stem}.png"
        page.screenshot(path=str(tmp))
        _shrink_png(tmp, SHOTS / f"{nb.stem}.png")
        if _uses_widgets(nb):
            _check_slider_moves_figure(page, lab_url, nb)
        else:  # e.g. the tour: verdicts printed by cells, no sliders to move
            print(f"{nb.stem}: no widgets in this notebook; only the run is checked")

        errors = page.evaluate(_STATE_JS)["errors"]
        assert not errors, f"{nb.name}: error after moving the slider:\n" + "\n".join(errors)
    finally:
        page.close()
        _shutdown_kernels(lab_url)


def _shrink_png(src: Path, dst: Path) -> None:
    """Quantize the screenshot to a 256-colour palette (a few hundred KB at most)."""
    try:
        from PIL import Image
    except ImportError:
        shutil.move(src, dst)
        return
    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            dst, optimize=True)
    src.unlink()
