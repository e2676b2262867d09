"""The benchmark's figure arithmetic, from literal hits and journal events (pure, no servers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmarks.figures import (
    Figure,
    achieved_rate,
    between,
    blast,
    failed,
    first_hit_of,
    flat_events,
    last_hit_of,
    ratio,
    restore_of,
)
from runbooks.local.load import Hit

OLD, NEW = "1.0", "2.0"
HITS = [
    Hit(100.0, 200, "blue", OLD, 0.01),
    Hit(100.5, 200, "green", NEW, 0.01),
    Hit(101.0, 500, "green", NEW, 0.01),
    Hit(101.5, 200, "blue", OLD, 0.01),
    Hit(102.0, 0, "", "", 2.0),
    Hit(102.5, 500, "green", NEW, 0.01),
    Hit(103.0, 200, "blue", OLD, 0.01),
]
ROLLBACK = {"type": "SetWeights", "weights": {"blue": 100, "green": 0}}
EVENTS = [
    {"at": 100.2, "kind": "decision", "state": {"phase": "progressing"}},
    {"at": 102.6, "kind": "decision", "state": {"phase": "rolling-back"}},
    {"at": 102.7, "kind": "action.started", "action": ROLLBACK},
    {"at": 102.8, "kind": "action.done", "action": ROLLBACK},
]


def test_window_is_half_open_and_counts_no_answer_as_failed() -> None:
    window = between(HITS, 101.0, 102.5)
    assert [h.at for h in window] == [101.0, 101.5, 102.0]
    assert failed(window) == 2  # a 500 and a request that got no answer


def test_achieved_rate_is_requests_per_second_of_the_window() -> None:
    assert achieved_rate(HITS, 100.0, 102.0) == 2.0  # 4 requests in 2 s
    assert achieved_rate(HITS, 102.0, 102.0) == 0.0


def test_first_and_last_hit_of_a_version() -> None:
    assert first_hit_of(HITS, NEW) == 100.5
    assert last_hit_of(HITS, NEW) == 102.5
    assert first_hit_of(HITS, "9.9") is None and last_hit_of(HITS, "9.9") is None


def test_restore_runs_from_first_fault_to_the_rollback_weight_change() -> None:
    restore = restore_of(HITS, EVENTS, NEW)
    assert restore.onset == 101.0  # the first *failed* hit of the new version, not its first
    assert restore.decided == 102.6
    assert restore.seconds == pytest.approx(1.8)
    assert restore.confirmed_by_hits  # its last hit was sent before the change


def test_restore_is_unconfirmed_when_the_faulty_version_served_after_it() -> None:
    late = [*HITS, Hit(103.5, 200, "green", NEW, 0.01)]
    assert not restore_of(late, EVENTS, NEW).confirmed_by_hits


def test_restore_without_rollback_has_no_seconds() -> None:
    restore = restore_of(HITS, EVENTS[:1], NEW)
    assert restore.seconds is None and not restore.confirmed_by_hits


def test_blast_is_faulty_responses_of_the_version_over_all_responses() -> None:
    radius = blast(HITS, NEW, 100.0, 3.0)  # [100, 103): six hits, two 500s from NEW
    assert (radius.faulty, radius.served_by_version, radius.total) == (2, 3, 6)
    assert radius.share == pytest.approx(2 / 6)
    assert blast(HITS, NEW, 200.0, 1.0).share == 0.0


def test_flat_events_merge_data_into_the_event() -> None:
    event = SimpleNamespace(at=5.0, kind="action.done", data={"action": ROLLBACK})
    assert flat_events([event]) == [{"at": 5.0, "kind": "action.done", "action": ROLLBACK}]


def test_ratio_is_undefined_against_zero_or_missing() -> None:
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(3.0, 0.0) is None
    assert ratio(None, 2.0) is None


def test_figure_json_carries_every_field_and_its_ratio() -> None:
    figure = Figure("f", 2.0, "s", 4.0, "2 vs 4", "<= 4", True, {"k": 1})
    assert figure.as_json() == {
        "name": "f",
        "value": 2.0,
        "unit": "s",
        "baseline": 4.0,
        "ratio": 0.5,
        "comparison": "2 vs 4",
        "target": "<= 4",
        "pass": True,
        "details": {"k": 1},
    }
