"""The tour's live verdicts (notebook 00): each status as the notebook asserts it, same defaults."""

import math

import pytest

from ntk_explore import tour

EXPECTED = {
    "feature_motion_verdict": "holds",
    "mup_verdict": "holds",  # 3 widths x 3 seeds: the slope's interval lies inside +-0.15
    "entk_motion_verdict": "holds",
    "transfer_verdict": "holds",
    "gp_ntk_tie_verdict": "holds",  # 6 paired trials: the 95% interval lies inside +-0.1
    "distillation_verdict": "holds",
    "head_probing_verdict": "holds",
    "data_scaling_verdict": "inconclusive",  # load_digits at n = 16-64: intervals overlap
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
        assert v.sources and v.claim and v.measured_what and v.expected_what and v.interval_what
        for s in v.sources:  # a reader can find each source: authors, title, year, stable link
            assert s.authors and s.title and 2000 < s.year < 2100, s
            assert s.url.startswith("https://") and ".txt" not in str(s), s
        assert v.status in tour.STATUSES and v.status in v.summary


@pytest.mark.parametrize("name", list(EXPECTED))
def test_verdict_status(verdicts, name):
    v = verdicts[name]
    assert v.status == EXPECTED[name], (v.claim, v.measured, v.detail)
    if v.status == "holds":
        assert math.isfinite(v.measured) and v.in_range, (v.measured, v.expected)
    # the status is the one the interval implies (or "does not hold" when a side condition fails)
    implied = tour.status_of(v.interval, v.expected)
    assert v.status in (implied, "does not hold"), (v.status, v.interval, v.expected)


def test_run_all_matches_the_single_functions(verdicts):
    """run_all wires each claim to its own function with the same defaults."""
    assert tour.gp_ntk_tie_verdict() == verdicts["gp_ntk_tie_verdict"]
    assert tour.pntk_verdict() == verdicts["pntk_verdict"]


def test_data_scaling_reports_its_numbers(verdicts):
    v = verdicts["data_scaling_verdict"]
    assert math.isfinite(v.measured) and "alpha net" in v.detail


def test_verdict_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        tour.Verdict("c", (tour.LW,), 1.0, "m", (0.5, 1.5), "i", (0.0, 1.0), "e", "maybe", "01_x.ipynb")


@pytest.mark.parametrize("interval, status", [
    ((0.2, 0.8), "holds"), ((1.2, 1.5), "does not hold"), ((-0.5, -0.1), "does not hold"),
    ((0.5, 1.5), "inconclusive"), ((-1.0, 2.0), "inconclusive"), ((float("nan"), 1.0), "does not hold")])
def test_status_of_three_outcomes(interval, status):
    assert tour.status_of(interval, (0.0, 1.0)) == status
    assert tour.status_of((0.2, 0.8), (0.0, 1.0), extra=False) == "does not hold"


def test_sources_are_cited_not_file_names():
    for s in tour.SOURCES:
        text = str(s)
        assert s.authors in text and s.title in text and str(s.year) in text and s.url in text
        assert ".txt" not in text



def test_saved_tour_is_dated_and_agrees_with_the_live_run(verdicts):
    """The start page shows the saved run (package data): every claim the live run judges
    has the same status there, and the saved run covers notebook 09's claims too."""
    saved = tour.saved_verdicts()
    assert len(saved.date) == 10 and saved.seconds > 0 and saved.machine
    by_key = {v.key: v for v in saved.verdicts}
    for v in verdicts.values():
        assert v.key in by_key, f"the saved tour lacks {v.key}: rerun benchmarks/bench_tour.py"
        assert by_key[v.key].status == v.status, (
            f"{v.key}: saved {by_key[v.key].status!r}, live {v.status!r}; rerun benchmarks/bench_tour.py")
    assert {"index_scaling", "kernel_keeps_moving", "pretrained_catch_up"} <= set(by_key)


def test_saved_tour_round_trips(tmp_path, verdicts):
    path = tmp_path / "tour.json"
    tour.save_verdicts(list(verdicts.values()), path, seconds=1.5)
    back = tour.saved_verdicts(path)
    assert back.verdicts == tuple(verdicts.values()) and back.seconds == 1.5
