"""Merging trials: medians for figures, totals for problems, the worst for readiness."""

from __future__ import annotations

from bench.report import merge_trials, table


def _trial(rate: float, lost: int, errors: dict[str, int], ready: int) -> dict[str, object]:
    return {
        "setup": {"ready": ready, "clients": 10, "errors": errors},
        "max": {"deliveries_per_s": rate, "lost": lost, "duplicated": 0, "errors": errors, "window": 2},
    }


def test_trials_merge_to_medians_and_totals() -> None:
    trials = [
        _trial(100.0, 0, {}, 10),
        _trial(300.0, 2, {"setup: timed out": 1}, 9),
        _trial(200.0, 1, {"setup: timed out": 2}, 10),
    ]
    merged = merge_trials(trials)
    assert merged["max"]["deliveries_per_s"] == 200.0
    assert merged["max"]["lost"] == 3
    assert merged["max"]["duplicated"] == 0
    assert merged["max"]["window"] == 2
    assert merged["max"]["errors"] == {"setup: timed out": 3}
    assert merged["setup"]["ready"] == 9
    assert merged["trials"] == trials
    assert "failed" not in merged
    assert merge_trials(trials[:1]) is trials[0]


def test_a_failed_trial_shows_in_the_table() -> None:
    merged = merge_trials([_trial(100.0, 0, {}, 10), {"failed": "server did not start: boom"}])
    assert merged["failed"] == "server did not start: boom"
    text = table({"hubbub": {"fanout": merged}}, ["hubbub"])
    assert "| fan-out max rate: deliveries/s | 100 |" in text
    assert "hubbub fanout: did not complete: server did not start: boom" in text
