"""Every notebook is a lesson with one skeleton (static checks of the stored notebooks).

Notebooks 01 onward have, in this order, ``## What you will learn``, a prompt to
predict before the app, ``## Summary`` and ``## Exercises`` with at least two items,
one of them a code exercise checked by ``ntk_explore.exercises``; the reference
solution and every cell that sets a control's ``.value`` are collapsed; no markdown
speaks of the development process (issues, criteria); every glossary link points at an
entry that exists; the start page names the four sources by title.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSONS = [nb for nb in NOTEBOOKS if not nb.name.startswith("00")]
GLOSSARY = ROOT / "docs" / "glossary.md"
GLOSSARY_TERMS = (
    "eNTK", "NTK", "NNGP", "pNTK", "linearized network", "lazy regime", "feature learning",
    "muP", "abc parametrization", "mean-field scaling", "kernel distance", "kernel velocity",
    "kernel alignment", "after-kernel", "Hermite polynomials", "data-scaling exponent",
    "Nystrom preconditioner", "conjugate gradients",
)
# Process words that mean nothing to a reader; the source title "Issues with Neural
# Tangent Kernel Approach ..." is allowed.
PROCESS_WORDS = re.compile(r"(?<![\w-])issues?(?:'s)?\b(?!\s+with\s+neural\s+tangent)"
                           r"|\bcriteri(?:on|a)\b", re.IGNORECASE)


def _cells(nb: Path) -> list[dict]:
    return json.loads(nb.read_text())["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _collapsed(cell: dict) -> bool:
    meta = cell.get("metadata", {}).get("jupyter", {})
    return bool(meta.get("source_hidden")) and bool(meta.get("outputs_hidden"))


def _heading_index(cells: list[dict], heading: str) -> int:
    for i, c in enumerate(cells):
        if c["cell_type"] == "markdown" and any(
                line.strip() == heading for line in _src(c).splitlines()):
            return i
    return -1


def _anchor(term: str) -> str:
    """GitHub's anchor for a ``### term`` heading."""
    slug = re.sub(r"[^\w\- ]", "", term.strip().lower())
    return slug.replace(" ", "-")


def test_glossary_has_every_term():
    text = GLOSSARY.read_text()
    headings = {line[4:].strip() for line in text.splitlines() if line.startswith("### ")}
    missing = [t for t in GLOSSARY_TERMS if not any(h.startswith(t) for h in headings)]
    assert not missing, f"glossary entries missing: {missing}"


@pytest.mark.parametrize("nb", LESSONS, ids=lambda p: p.stem)
def test_lesson_skeleton(nb):
    cells = _cells(nb)
    learn = _heading_index(cells, "## What you will learn")
    summary = _heading_index(cells, "## Summary")
    exercises = _heading_index(cells, "## Exercises")
    assert learn >= 0 and summary >= 0 and exercises >= 0, (
        f"{nb.name}: needs the headings '## What you will learn', '## Summary', '## Exercises'")
    assert learn < summary < exercises, f"{nb.name}: the three headings are out of order"
    predict = [i for i, c in enumerate(cells[:summary]) if c["cell_type"] == "markdown"
               and "predict" in _src(c).lower()]
    assert predict, f"{nb.name}: no 'predict first' prompt before the summary"
    # at least two exercises: numbered items after the heading
    text = "\n".join(_src(c) for c in cells[exercises:] if c["cell_type"] == "markdown")
    items = re.findall(r"^\s*(?:\d+\.|\*\*\d+)", text, re.MULTILINE)
    assert len(items) >= 2, f"{nb.name}: fewer than two numbered exercises"
    code = [c for c in cells[exercises:] if c["cell_type"] == "code"]
    assert any("exercises.check(" in _src(c) for c in code), (
        f"{nb.name}: no code exercise checked with exercises.check(...)")
    solutions = [c for c in code if "solution" in _src(c).lower()]
    assert solutions and all(_collapsed(c) for c in solutions), (
        f"{nb.name}: the reference solution must be in a collapsed cell")


@pytest.mark.parametrize("nb", LESSONS, ids=lambda p: p.stem)
def test_exercise_is_registered_for_this_notebook(nb):
    from ntk_explore import exercises

    names = re.findall(r"exercises\.check\(\s*[\"'](\w+)[\"']",
                       "\n".join(_src(c) for c in _cells(nb) if c["cell_type"] == "code"))
    assert names, f"{nb.name}: no exercises.check('<name>', ...) call"
    for name in names:
        assert name in {e.name for e in exercises.exercises_of(nb.name[:2])}, (
            f"{nb.name}: exercise {name!r} is not registered for this notebook")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_plumbing_is_collapsed(nb):
    for i, c in enumerate(_cells(nb)):
        if c["cell_type"] == "code" and re.search(r"\.value\s*=(?!=)", _src(c)):
            assert _collapsed(c), f"{nb.name} cell {i} sets a control's .value: collapse it"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_process_language(nb):
    for i, c in enumerate(_cells(nb)):
        if c["cell_type"] == "markdown":
            hit = PROCESS_WORDS.search(_src(c))
            assert hit is None, f"{nb.name} cell {i}: {hit.group(0)!r} is process language"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_glossary_links_resolve(nb):
    text = GLOSSARY.read_text()
    anchors = {_anchor(line[4:]) for line in text.splitlines() if line.startswith("### ")}
    for c in _cells(nb):
        if c["cell_type"] != "markdown":
            continue
        for anchor in re.findall(r"glossary\.md#([\w\-]+)", _src(c)):
            assert anchor in anchors, f"{nb.name}: glossary link #{anchor} has no entry"


def test_start_page_names_sources_and_map():
    from ntk_explore.core.verdicts import ISSUES, LW, SCALE, TALK

    text = "\n".join(_src(c) for c in _cells(NOTEBOOKS[0]) if c["cell_type"] == "markdown")
    for source in (LW, SCALE, ISSUES, TALK):
        assert source.title in text, f"00 does not name {source.title!r}"
    for nb in LESSONS:
        assert nb.name in text, f"00's map does not link {nb.name}"
