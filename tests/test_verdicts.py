"""The one verdict rule: three outcomes from an interval and a claimed range; every claim
has its sources, threshold, reason and notebook."""

import math
from pathlib import Path

import pytest

from ntk_explore.core import verdicts as V

NOTEBOOKS = {p.name for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")}


@pytest.mark.parametrize("interval, status", [
    ((0.2, 0.8), "holds"), ((1.2, 1.5), "does not hold"), ((-0.5, -0.1), "does not hold"),
    ((0.5, 1.5), "inconclusive"), ((-1.0, 2.0), "inconclusive"), ((math.nan, 1.0), "does not hold")])
def test_status_of(interval, status):
    assert V.status_of(interval, (0.0, 1.0)) == status


def test_judge_uses_the_claims_range_and_side_condition():
    c = V.CLAIMS["features_ntk"]
    mid = sum(c.expected) / 2
    v = V.judge("features_ntk", mid, (mid - 0.01, mid + 0.01), measured_what="m", interval_what="i")
    assert v.status == "holds" and v.expected == c.expected and v.why == c.why and v.key == "features_ntk"
    v = V.judge("features_ntk", mid, (mid - 0.01, mid + 0.01), measured_what="m", interval_what="i",
                extra=False)
    assert v.status == "does not hold"
    one_sided = V.judge("index_scaling", 0.3, (-0.1, 0.7), measured_what="m", interval_what="i")
    assert one_sided.status == "inconclusive" and "> 0" in one_sided.summary


def test_judge_unknown_claim():
    with pytest.raises(KeyError, match="features_ntk"):
        V.judge("no_such_claim", 0.0, (0.0, 0.0), measured_what="m", interval_what="i")


@pytest.mark.parametrize("key", sorted(V.CLAIMS))
def test_every_claim_is_complete(key):
    c = V.CLAIMS[key]
    assert c.key == key and c.text and c.expected_what and len(c.why) > 40, c
    assert c.expected[0] < c.expected[1] and c.notebook in NOTEBOOKS, c
    for s in c.sources:
        assert s.url.startswith("https://") and s.title in str(s) and s in V.SOURCES
