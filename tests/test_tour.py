"""The tour's live verdicts (notebook 00): each status as the notebook asserts it, same defaults."""

import math

import pytest

from ntk_explore import tour

EXPECTED = {
    "feature_motion_verdict": "holds",
    "mup_verdict": "holds",
    "entk_motion_verdict": "holds",
    "transfer_verdict": "holds",
    "gp_ntk_tie_verdict": "holds",
    "distillation_verdict": "holds",
    "head_probing_verdict": "holds",
    "data_scaling_verdict": "does not hold here",  # measured on load_digits at this scale
    "pntk_verdict": "holds",
}


@pytest.fixture(scope="module")
def verdicts():
    """run_all once (the notebook's call), keyed by the function that makes each verdict."""
    return dict(zip(EXPECTED, tour.run_all()))


def test_run_all_returns_one_verdict_per_claim(verdicts):
    assert len(verdicts) == len(EXPECTED)
    for v in verdicts.values():
        assert isinstance(v, tour.Verdict)
        assert v.notebook.endswith(".ipynb") and v.notebook[:2].isdigit()
        assert v.source.endswith(".txt") and v.claim and v.measured_what and v.expected_what


@pytest.mark.parametrize("name", list(EXPECTED))
def test_verdict_status(verdicts, name):
    v = verdicts[name]
    assert v.status == EXPECTED[name], (v.claim, v.measured, v.detail)
    if v.status == "holds":
        assert math.isfinite(v.measured) and v.in_range, (v.measured, v.expected)


def test_run_all_matches_the_single_functions(verdicts):
    """run_all wires each claim to its own function with the same defaults."""
    assert tour.gp_ntk_tie_verdict() == verdicts["gp_ntk_tie_verdict"]
    assert tour.pntk_verdict() == verdicts["pntk_verdict"]


def test_data_scaling_reports_its_numbers(verdicts):
    v = verdicts["data_scaling_verdict"]
    assert math.isfinite(v.measured) and "alpha net" in v.detail


def test_verdict_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        tour.Verdict("c", "s.txt", 1.0, "m", (0.0, 1.0), "e", "maybe", "01_x.ipynb")

