"""The four figures of issue 4, each built from measurements taken in the same run."""

from __future__ import annotations

from typing import Any

from benchmarks.figures import Blast, Figure, Restore


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
