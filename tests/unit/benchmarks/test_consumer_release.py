"""The consumer-release benchmark's figures from literal measurements (no servers)."""

from __future__ import annotations

from benchmarks.consumer_release import Counted, figures
from runbooks.partition_store import HEARTBEAT_TTL

CLEAN = Counted(produced=1000, written=1000, doubled=0, redeliveries=0)


def by_name(found: list) -> dict:  # type: ignore[type-arg]
    return {f.name: f for f in found}


def test_a_clean_run_passes_with_ratios_against_no_release() -> None:
    found = by_name(figures(500, 505.2, [10, 10], {10: [20, 20], 50: [15, 25]}, CLEAN, CLEAN, 9.5))
    rolled = found["consumer_release_rolled_back_events_lost_and_applied_twice"]
    assert rolled.passed and rolled.value == 0 and rolled.details["lost"] == 0
    lag = found["consumer_lag_at_10_percent_vs_no_release"].as_json()
    assert lag["ratio"] == 2.0 and lag["pass"] is True
    restore = found["consumer_fault_to_all_partitions_on_old_color_seconds"]
    assert restore.passed and restore.baseline == HEARTBEAT_TTL


def test_a_lost_event_a_double_or_a_redelivery_without_a_crash_fails() -> None:
    lost = Counted(1000, 999, 0, 0)
    doubled = Counted(1000, 1000, 1, 0)
    redelivered = Counted(1000, 1000, 0, 3)
    for rolled_back, faulted in ((lost, CLEAN), (CLEAN, doubled), (redelivered, CLEAN)):
        found = by_name(figures(500, 500, [1], {10: [1]}, rolled_back, faulted, 1.0))
        assert not all(f.passed for f in found.values() if "events_lost" in f.name)
    # After a kill -9, redeliveries are expected and absorbed by the order-id key.
    crash = by_name(figures(500, 500, [1], {10: [1]}, CLEAN, redelivered, 1.0))
    assert crash["consumer_release_new_color_killed_events_lost_and_applied_twice"].passed


def test_lag_far_above_no_release_and_a_slow_restore_fail() -> None:
    found = by_name(figures(500, 500, [10], {50: [100]}, CLEAN, CLEAN, HEARTBEAT_TTL + 6))
    assert not found["consumer_lag_at_50_percent_vs_no_release"].passed
    assert not found["consumer_fault_to_all_partitions_on_old_color_seconds"].passed
