"""Whether each benchmark figure meets its target, and the load check (pure, no servers)."""

from __future__ import annotations

from benchmarks.figures import Blast, Figure, Restore
from benchmarks.load import MIN_RATE, under_load, window_rates
from benchmarks.verdicts import (
    blast_radius,
    release_failures,
    restore_time,
    weight_change_failures,
)
from runbooks.local.load import Hit

INTERVAL = 2.0


def test_healthy_release_passes_only_with_no_failed_request() -> None:
    assert release_failures(0, 0, {}).passed
    failing = release_failures(1, 0, {})
    assert not failing.passed and failing.as_json()["baseline"] == 0


def test_restore_within_two_intervals_passes_and_reports_intervals() -> None:
    figure = restore_time(Restore(10.0, 11.5, 13.0, 12.9), INTERVAL, {})
    assert figure.passed
    assert figure.value == 3.0 and figure.as_json()["ratio"] == 1.5
    assert figure.details["analysis_intervals"] == 1.5
    assert figure.details["last_faulty_hit_after_seconds"] == 2.9


def test_restore_beyond_two_intervals_or_never_fails() -> None:
    assert not restore_time(Restore(10.0, 13.0, 14.5, 14.0), INTERVAL, {}).passed
    never = restore_time(Restore(10.0, None, None, 20.0), INTERVAL, {})
    assert not never.passed and never.value is None and never.comparison == "not restored"


def test_restore_fails_when_hits_contradict_the_journal() -> None:
    # the faulty version served a request sent after the journaled rollback
    assert not restore_time(Restore(10.0, 11.0, 12.0, 12.5), INTERVAL, {}).passed


def test_blast_radius_passes_when_phased_hurts_fewer_users() -> None:
    figure = blast_radius(Blast(5, 25, 1000), Blast(40, 200, 200), {})
    assert figure.passed and figure.value == 0.005 and figure.baseline == 0.2
    assert not blast_radius(Blast(40, 200, 200), Blast(40, 200, 200), {}).passed


def test_weight_changes_pass_with_zero_failures_over_the_socket() -> None:
    assert weight_change_failures(0, 3, {}).passed
    assert weight_change_failures(0, 0, {}).passed
    assert not weight_change_failures(1, 5, {}).passed


def test_window_rates_and_the_minimum_load() -> None:
    hits = [Hit(100.0 + i / 1000, 200, "blue", "1", 0.001) for i in range(1000)]
    rates = window_rates(hits, {"all": (100.0, 101.0), "half": (100.0, 102.0)})
    assert rates == {"all": 1000.0, "half": 500.0}
    passing = Figure("f", 0, "requests", 0, "", "0", True)
    assert under_load(passing, {"a": MIN_RATE}).passed
    slow = under_load(passing, {"a": MIN_RATE, "b": MIN_RATE - 1})
    assert not slow.passed and slow.details["load_steady"] is False
    assert slow.details["achieved_rps"] == {"a": MIN_RATE, "b": MIN_RATE - 1}
