"""The figures of issues 4 and 7, each built from measurements taken in the same run."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.figures import Blast, Figure, Restore
from runbooks.local.writes import Kept


def release_failures(during_release: int, baseline: int, details: dict[str, Any]) -> Figure:
    """Failed requests during a healthy release vs the same load with no release; target 0."""
    return Figure(
        name="failed_requests_during_healthy_release",
        value=during_release,
        unit="requests",
        baseline=baseline,
        comparison=f"{during_release} failed during the release vs {baseline} with no release",
        target="0",
        passed=during_release == 0,
        details=details,
    )


def restore_time(restore: Restore, interval: float, details: dict[str, Any]) -> Figure:
    """Fault onset to all traffic back on the old color, in analysis intervals; target <= 2."""
    seconds = restore.seconds
    intervals = None if seconds is None else seconds / interval
    return Figure(
        name="fault_onset_to_traffic_restored",
        value=_round(seconds),
        unit="seconds",
        baseline=interval,  # the analysis interval, so the ratio is the figure in intervals
        comparison="not restored" if intervals is None else f"{intervals:.2f} analysis intervals",
        target=f"ratio <= 2 (within 2 analysis intervals, {2 * interval:g} s)",
        passed=intervals is not None and intervals <= 2 and restore.confirmed_by_hits,
        details=details | {"analysis_intervals": _round(intervals)} | _restore_details(restore),
    )


def _restore_details(restore: Restore) -> dict[str, Any]:
    onset = restore.onset
    return {
        "hits_confirm_restore": restore.confirmed_by_hits,
        "onset_epoch": onset,
        "decided_after_seconds": _after(restore.decided, onset),
        "restored_after_seconds": _after(restore.restored, onset),
        "last_faulty_hit_after_seconds": _after(restore.last_faulty_hit, onset),
    }


def blast_radius(phased: Blast, all_at_once: Blast, details: dict[str, Any]) -> Figure:
    """Faulty share of responses: phased release vs an all-at-once switch; target lower."""
    return Figure(
        name="blast_radius_phased_vs_all_at_once",
        value=round(phased.share, 5),
        unit="faulty responses / all responses",
        baseline=round(all_at_once.share, 5),
        comparison=(
            f"phased {phased.faulty}/{phased.total} vs all-at-once "
            f"{all_at_once.faulty}/{all_at_once.total}"
        ),
        target="phased < all-at-once",
        passed=phased.share < all_at_once.share,
        details=details
        | {
            "phased_served_by_faulty": phased.served_by_version,
            "all_at_once_served_by_faulty": all_at_once.served_by_version,
        },
    )


def weight_change_failures(socket: int, reload: int, details: dict[str, Any]) -> Figure:
    """Failed requests: weights over the runtime socket vs config rewrite and reload."""
    return Figure(
        name="failed_requests_weight_changes_socket_vs_reload",
        value=socket,
        unit="requests",
        baseline=reload,
        comparison=f"{socket} failed over the admin socket vs {reload} with config reloads",
        target="0 over the socket, and no more than with reloads",
        passed=socket == 0 and socket <= reload,
        details=details,
    )


def _after(at: float | None, onset: float | None) -> float | None:
    return None if at is None or onset is None else round(at - onset, 3)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def orders_lost(engine: Kept, restore: Kept, details: dict[str, Any]) -> Figure:
    """Acknowledged orders lost: the engine's rollback (revert) vs a backup restore; target 0.

    The restore is the baseline: it is expected to lose the orders acknowledged between its
    backup and its restore, which is why the engine must not use it.
    """
    lost, baseline = engine.accepted - engine.kept, restore.accepted - restore.kept
    return Figure(
        name="orders_lost_rollback_revert_vs_restore",
        value=lost,
        unit="acknowledged orders",
        baseline=baseline,
        comparison=(
            f"engine rollback lost {lost} of {engine.accepted} accepted orders vs backup "
            f"restore {baseline} of {restore.accepted}"
        ),
        target="0 lost by the rollback (the restore is expected to lose N > 0)",
        passed=lost == 0 and engine.accepted > 0 and restore.accepted > 0,
        details=details | {"restore_loses_orders": baseline > 0},
    )


def write_stall(
    rows: int,
    during: float | None,
    baseline: float | None,
    migrated: bool,
    details: dict[str, Any],
) -> Figure:
    """Writers' p99 during migration + backup at `rows` rows vs windows with no migration."""
    measured = during is not None and baseline is not None and migrated
    return Figure(
        name=f"write_p99_during_migration_vs_none_{rows}_rows",
        value=during,
        unit="ms (p99, from when each order was due)",
        baseline=baseline,
        comparison=(
            f"p99 {_ms(during)} during the migration vs {_ms(baseline)} with none "
            f"(median of same-length quiet windows), {rows} rows"
        ),
        target="measured; judged across sizes by write_stall_growth_with_data_size",
        passed=measured,
        details=details,
    )


STALL_TOLERANCE_FLOOR = 1.5  # see benchmarks/README.md: measured window-to-window noise


def stall_growth(ratios: Mapping[int, float | None], spreads: Sequence[float]) -> Figure:
    """The largest size's stall ratio vs the smallest's; passes within the noise tolerance.

    The tolerance is the 90th percentile of quiet windows' p99 over their median (the
    noise of one window's p99 in this run), never below STALL_TOLERANCE_FLOOR.
    """
    small, large = min(ratios), max(ratios)
    first, last = ratios[small], ratios[large]
    tolerance = max(STALL_TOLERANCE_FLOOR, _quantile(spreads, 0.9) or 0.0)
    ok = first is not None and last is not None and last <= first * tolerance
    return Figure(
        name="write_stall_growth_with_data_size",
        value=last,
        unit="p99 during / p99 with no migration",
        baseline=first,
        comparison=(
            f"ratio {last} at {large} rows vs {first} at {small} rows (allowed: x{tolerance:.2f})"
        ),
        target=f"ratio at {large // small}x the data <= ratio at 1x * tolerance",
        passed=ok,
        details={
            "ratios": {str(rows): value for rows, value in ratios.items()},
            "tolerance": round(tolerance, 3),
            "tolerance_floor": STALL_TOLERANCE_FLOOR,
            "quiet_window_spread_p90": _quantile(spreads, 0.9),
            "quiet_windows": len(spreads),
        },
    )


def _quantile(values: Sequence[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"
