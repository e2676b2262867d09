"""The migration figures' arithmetic and verdicts, from literal data (pure, no servers)."""

from __future__ import annotations

from benchmarks.figures import median, window_p99s
from benchmarks.verdicts import STALL_TOLERANCE_FLOOR, orders_lost, stall_growth, write_stall
from runbooks.local.writes import Kept, Write


def _writes(waits_ms: list[float], start: float = 0.0, step: float = 0.1) -> list[Write]:
    return [
        Write(start + i * step, 201, "blue", "1.0", ms / 1000, order_id=i)
        for i, ms in enumerate(waits_ms)
    ]


def test_window_p99s_cuts_equal_windows_and_skips_empty_ones() -> None:
    writes = _writes([5, 6, 7, 50, 8, 9])  # sent at 0.0, 0.1, ... 0.5
    assert window_p99s(writes, 0.0, 0.6, 0.2) == [6.0, 50.0, 9.0]
    assert window_p99s(writes, 0.0, 0.6, 0.7) == []  # no whole window fits
    assert window_p99s(writes, 10.0, 12.0, 1.0) == []  # no writes there
    assert window_p99s(writes, 0.0, 0.6, 0.0) == []


def test_median_of_odd_even_and_no_values() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert median([]) is None


def test_orders_lost_passes_only_when_the_rollback_keeps_everything() -> None:
    engine, restore = Kept(100, 100, ()), Kept(90, 40, tuple(range(50)))
    figure = orders_lost(engine, restore, {})
    row = figure.as_json()
    assert (row["value"], row["baseline"], row["pass"]) == (0, 50, True)
    assert row["details"]["restore_loses_orders"] is True
    assert not orders_lost(Kept(100, 99, (7,)), restore, {}).passed
    assert not orders_lost(Kept(0, 0, ()), restore, {}).passed  # nothing was measured


def test_write_stall_is_measured_only_when_the_migration_ran() -> None:
    row = write_stall(10_000, 40.0, 10.0, True, {}).as_json()
    assert (row["name"], row["ratio"], row["pass"]) == (
        "write_p99_during_migration_vs_none_10000_rows",
        4.0,
        True,
    )
    assert not write_stall(10_000, 40.0, 10.0, False, {}).passed
    assert not write_stall(10_000, None, 10.0, True, {}).passed


def test_stall_growth_compares_the_largest_size_with_the_smallest() -> None:
    flat = stall_growth({10_000: 1.2, 100_000: 1.3, 1_000_000: 1.5}, [1.0, 1.1, 0.9])
    assert flat.passed and flat.value == 1.5 and flat.baseline == 1.2
    assert flat.details["tolerance"] == STALL_TOLERANCE_FLOOR
    grows = stall_growth({10_000: 1.2, 1_000_000: 60.0}, [1.0, 1.1])
    assert not grows.passed


def test_stall_growth_tolerance_follows_the_measured_noise() -> None:
    # Quiet windows' p99 up to 2.5x their median: a 2x growth is within the noise.
    noisy = stall_growth({10_000: 1.0, 1_000_000: 2.0}, [0.8, 1.0, 1.2, 2.5])
    assert noisy.details["tolerance"] == 2.5 and noisy.passed
    assert not stall_growth({10_000: None, 1_000_000: 1.0}, []).passed
