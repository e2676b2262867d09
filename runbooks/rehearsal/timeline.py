"""What happened during a rehearsal, as data: per-second traffic per color, weights, decisions.

Pure: built from the load's hits (what users saw) and the journal's events (what the engine
did). The report and the summary are both made from a `Timeline`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from runbooks.local.load import Hit

COLORS = ("blue", "green")


@dataclass(frozen=True)
class Point:
    """One second of traffic of one color, as users saw it."""

    t: float
    color: str
    requests: int
    errors: int
    error_rate: float
    p95_ms: float | None


@dataclass(frozen=True)
class WeightChange:
    """The split at time `t` (seconds since the start), after a verified change."""

    t: float
    blue: int
    green: int


@dataclass(frozen=True)
class Marker:
    """A decision of the engine: what it said, when."""

    t: float
    kind: str
    message: str
    release: str


@dataclass(frozen=True)
class ReleaseSummary:
    """The figures of one release of the rehearsal."""

    release: str
    version: str
    outcome: str
    steps: list[int]
    verdicts: list[str]
    requests: int
    failed_requests: int
    seconds: float
    fault_onset: float | None = None
    detected_after_seconds: float | None = None
    restored_after_seconds: float | None = None
    faulty_responses: int = 0


@dataclass
class Timeline:
    """Everything the report draws; times are seconds since `start` (epoch)."""

    start: float
    points: list[Point] = field(default_factory=list)
    weights: list[WeightChange] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    releases: list[ReleaseSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's data file)."""
        return asdict(self)


def traffic_points(hits: Sequence[Hit], start: float) -> list[Point]:
    """Per-second requests, errors and p95 of each color from the load's hits."""
    buckets: dict[tuple[int, str], list[Hit]] = defaultdict(list)
    for hit in hits:
        buckets[(int(hit.at - start), hit.color or "none")].append(hit)
    points = []
    for (second, color), group in sorted(buckets.items()):
        errors = sum(1 for h in group if h.failed)
        points.append(
            Point(float(second), color, len(group), errors, errors / len(group), _p95_ms(group))
        )
    return points


def _p95_ms(hits: Sequence[Hit]) -> float | None:
    latencies = sorted(h.seconds for h in hits if not h.failed)
    if not latencies:
        return None
    return 1000 * latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]


def weight_changes(events: Iterable[Mapping[str, Any]], start: float) -> list[WeightChange]:
    """Verified weight changes from journal events (`action.done` of SetWeights)."""
    changes = []
    for event in events:
        action = event.get("action") or {}
        if event.get("kind") == "action.done" and action.get("type") == "SetWeights":
            weights = action["weights"]
            changes.append(WeightChange(event["at"] - start, weights["blue"], weights["green"]))
    return changes


def markers(events: Iterable[Mapping[str, Any]], start: float, release: str) -> list[Marker]:
    """The engine's announcements (NotifyEvent actions) from journal events."""
    found = []
    for event in events:
        action = event.get("action") or {}
        if event.get("kind") == "action.done" and action.get("type") == "NotifyEvent":
            found.append(Marker(event["at"] - start, action["kind"], action["message"], release))
    return found


def first_fault(hits: Sequence[Hit], version: str) -> float | None:
    """When the new version first failed a user's request (epoch), or None."""
    return next((h.at for h in hits if h.version == version and h.failed), None)


def rollback_times(events: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    """(when the rollback was decided, when all traffic was verified back), epoch."""
    decided = next(
        (
            e["at"]
            for e in events
            if e.get("kind") == "decision" and e["state"]["phase"] == "rolling-back"
        ),
        None,
    )
    if decided is None:
        return None, None
    restored = next(
        (
            e["at"]
            for e in events
            if e["at"] >= decided
            and e.get("kind") == "action.done"
            and (e.get("action") or {}).get("type") == "SetWeights"
        ),
        None,
    )
    return decided, restored
