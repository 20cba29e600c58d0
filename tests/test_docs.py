"""Smoke test of the site's API pages (``python3 dev.py docs`` builds the full site).

pdoc renders every public module of ``ntk_explore`` from its docstrings into HTML;
this checks that it runs and that the public API appears. Skipped when pdoc is not
installed (it is pinned in requirements-docs.txt, installed by ``dev.py docs``).
"""

import warnings
from pathlib import Path

import pytest

pdoc = pytest.importorskip("pdoc")

ROOT = Path(__file__).resolve().parents[1]


def api_modules() -> list[str]:
    """The package and its public subpackages, as ``dev.py docs`` passes them to pdoc
    (pdoc documents each one's modules; the top level alone stops at its ``__all__``)."""
    return [".".join(f.parent.relative_to(ROOT).parts)
            for f in sorted((ROOT / "ntk_explore").rglob("__init__.py"))
            if not any(p.startswith("_") for p in f.parent.relative_to(ROOT).parts)]


def test_api_pages_build_and_show_the_public_api(tmp_path):
    from pdoc import render

    render.configure(docformat="google")
    with warnings.catch_warnings():
        # The topic modules are lazy attributes (``ne.tour``): pdoc documents them under
        # ntk_explore.topics and warns that the short names in __all__ are not modules.
        warnings.filterwarnings("ignore", message="Found '.*' in ntk_explore.__all__")
        pdoc.pdoc(*api_modules(), output_directory=tmp_path)
    text = (tmp_path / "ntk_explore.html").read_text()
    for name in ("mlp_ntk", "infinite_kernel_fn", "train", "mse_dynamics"):
        assert name in text, name
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    for page in ("ntk_explore/topics/tour.html", "ntk_explore/plots.html", "ntk_explore/core/kernels.html"):
        assert page in pages, sorted(pages)
    assert "Sutherland" in (tmp_path / "ntk_explore/topics/tour.html").read_text()
