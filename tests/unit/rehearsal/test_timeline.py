"""The rehearsal's figures, from literal hits and journal events (pure, no servers)."""

from __future__ import annotations

from runbooks.local.load import Hit
from runbooks.rehearsal.report import render
from runbooks.rehearsal.timeline import (
    Timeline,
    first_fault,
    rollback_times,
    traffic_points,
    weight_changes,
)

START = 1000.0
HITS = [
    Hit(1000.1, 200, "blue", "1.0", 0.010),
    Hit(1000.5, 200, "blue", "1.0", 0.020),
    Hit(1001.2, 500, "green", "2.0", 0.005),
    Hit(1001.3, 200, "green", "2.0", 0.030),
    Hit(1001.4, 0, "", "", 2.0),
]
SET_WEIGHTS = {"type": "SetWeights", "weights": {"blue": 100, "green": 0}}
EVENTS = [
    {"at": 1001.0, "kind": "decision", "state": {"phase": "progressing"}},
    {"at": 1002.0, "kind": "decision", "state": {"phase": "rolling-back"}},
    {"at": 1002.1, "kind": "action.started", "action": SET_WEIGHTS},
    {"at": 1002.2, "kind": "action.done", "action": SET_WEIGHTS},
]


def test_traffic_is_bucketed_per_second_and_color() -> None:
    points = {(p.t, p.color): p for p in traffic_points(HITS, START)}
    assert points[(0.0, "blue")].requests == 2 and points[(0.0, "blue")].errors == 0
    green = points[(1.0, "green")]
    assert (green.requests, green.errors, green.error_rate) == (2, 1, 0.5)
    assert green.p95_ms == 30.0  # failed requests do not count towards latency
    assert points[(1.0, "none")].errors == 1  # no answer at all is a failure


def test_fault_onset_is_the_first_failure_of_the_new_version() -> None:
    assert first_fault(HITS, "2.0") == 1001.2
    assert first_fault(HITS, "1.0") is None


def test_rollback_is_decided_then_verified() -> None:
    assert rollback_times(EVENTS) == (1002.0, 1002.2)
    assert rollback_times(EVENTS[:1]) == (None, None)


def test_only_verified_weight_changes_are_drawn() -> None:
    changes = weight_changes(EVENTS, START)
    assert [(round(c.t, 3), c.blue, c.green) for c in changes] == [(2.2, 100, 0)]


def test_report_draws_one_line_per_run_of_traffic() -> None:
    timeline = Timeline(START, traffic_points(HITS, START), weight_changes(EVENTS, START))
    html = render(timeline)
    assert html.count("<polyline") >= 3
    assert "Release rehearsal" in html
