"""Pure checks of what the crash drill reads after a kill and after the recovery.

Each function takes plain data (weights as {"blue": b, "green": g}, colors as strings) and
returns the problems found, as sentences; an empty list is consistent. Unit-tested with
literal data in tests/drills/test_consistency.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROMOTED = "promoted"
ROLLED_BACK = "rolled-back"
ABORTED = "aborted"
Split = Mapping[str, int]


def status_problems(status_row: Mapping[str, Any], live: Split | None) -> list[str]:
    """Whether `runbook status --json` tells the router's real split (`live`)."""
    if "error" in status_row:
        return [f"status failed: {status_row['error']}"]
    reported = status_row.get("weights")
    if live is None:
        return [] if reported is None else [f"status says {reported}; no color has weight"]
    if reported is None:
        return [f"status says weights null; the router sends {dict(live)}"]
    if {k: reported.get(k) for k in ("blue", "green")} != dict(live):
        return [f"status says {dict(reported)}; the router sends {dict(live)}"]
    return []


@dataclass(frozen=True)
class Ending:
    """What was read after the recovery verb finished."""

    outcome: str | None  # the release's journaled outcome
    running: bool  # a release of the service is still in progress
    locked: bool  # the stack's lock is still held
    live: Split | None  # HAProxy's real split
    active: str  # the color the stack state names active
    old: str  # the color that was active before the release
    migrated: bool  # the migration's column exists
    cache_version: int | None  # the cache key version now
    cache_before: int | None  # ... and before the release
    # The release had run its migration's contract when the rollback was asked: the engine
    # refuses it (the old version may need what the contract dropped) and ends the release
    # aborted on its new version, which must then stand exactly as a promotion leaves it.
    past_contract: bool = False


def ending_problems(end: Ending) -> list[str]:
    """Whether the release ended consistent: finished, unlocked, all traffic on the color
    the stack state names active, that color and the release steps as the outcome says."""
    problems = []
    if end.running:
        problems.append("a release is still in progress")
    if end.locked:
        problems.append("the stack lock is still held")
    kept_new = end.past_contract and end.outcome == ABORTED
    if end.outcome not in (PROMOTED, ROLLED_BACK) and not kept_new:
        problems.append(f"the release ended {end.outcome!r}, neither promoted nor rolled back")
    if end.live is None or sorted(end.live.values()) != [0, 100]:
        problems.append(f"traffic is not all on one color: {end.live}")
    elif end.live.get(end.active) != 100:
        problems.append(f"traffic is on the other color than the active {end.active}")
    new = "green" if end.old == "blue" else "blue"
    if end.outcome in (PROMOTED, ROLLED_BACK) or kept_new:
        problems += _as_outcome_says(end, promoted=end.outcome != ROLLED_BACK, new=new)
    return problems


def _as_outcome_says(end: Ending, promoted: bool, new: str) -> list[str]:
    problems = []
    expected = new if promoted else end.old
    if end.active != expected:
        problems.append(f"{end.outcome}, but the stack state names {end.active} active")
    if end.migrated != promoted:
        state = "applied" if end.migrated else "not applied"
        problems.append(f"{end.outcome}, but the migration is {state}")
    if end.cache_before is None:  # the key did not exist: the bump creates it
        return problems
    if end.cache_version != end.cache_before + (1 if promoted else 0):
        problems.append(
            f"{end.outcome}, but the cache key version went "
            f"{end.cache_before} -> {end.cache_version}"
        )
    return problems
