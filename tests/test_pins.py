"""Binder, the README set-up and pyproject must install the same things."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(path):
    out = {}
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            out[name.strip().lower()] = version.strip()
    return out


def test_binder_pins_equal_setup_pins():
    assert pins("binder/requirements.txt") == pins("requirements.txt")


def test_pins_satisfy_pyproject_lower_bounds():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = pins("requirements.txt")
    for dep in deps:
        name, bound = re.match(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep).groups()
        have = tuple(int(p) for p in pinned[name.lower()].split("."))
        want = tuple(int(p) for p in bound.split("."))
        assert have >= want, (name, have, want)


def test_binder_postbuild_installs_like_dev_py():
    post = (ROOT / "binder/postBuild").read_text()
    assert post.splitlines()[1].strip() == "set -e"
    assert "--no-deps -r requirements-nodeps.txt" in post
    assert "--no-deps -e ." in post
    assert "neural-tangents==0.6.5" in (ROOT / "requirements-nodeps.txt").read_text()
