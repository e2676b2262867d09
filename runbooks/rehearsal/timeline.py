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
from runbooks.local.writes import Kept, Write, outside, p99_ms, within

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
class WriteSummary:
    """Orders placed during one release: accepted vs kept, and the writers' p99 latency.

    `p99_apply_ms` covers the migration's apply windows, `p99_revert_ms` its undo windows
    (None when it was not undone), `p99_outside_ms` the release's writes outside both.
    """

    orders: int
    accepted: int
    kept: int
    lost_ids: list[int]
    p99_apply_ms: float | None
    p99_revert_ms: float | None
    p99_outside_ms: float | None
    writes_apply: int
    writes_revert: int
    writes_outside: int

    @property
    def lost(self) -> int:
        """Acknowledged orders no longer in the database."""
        return self.accepted - self.kept


@dataclass(frozen=True)
class EventSummary:
    """Order events produced during one release against the fills market-data wrote.

    `produced`: orders acknowledged (201) while the release ran, each published by
    trading-api to `order-events` before its 201 (so acknowledged by the broker);
    `written`: `fills` rows of those orders; `lost` / `doubled`: orders with no row / with
    more than one (targets: 0 and 0), the first of each in `lost_ids` / `doubled_ids`.
    `caught_up_seconds`: from the release's end until every event had its row (None: not
    within the deadline). `by_color`: how many of the rows each color of market-data wrote.
    """

    produced: int
    written: int
    lost: int
    doubled: int
    lost_ids: list[int]
    doubled_ids: list[int]
    by_color: dict[str, int]
    caught_up_seconds: float | None

    @property
    def exact(self) -> bool:
        """Every produced event has exactly one row."""
        return self.lost == 0 and self.doubled == 0


def event_summary(
    produced: Sequence[int],
    rows: Iterable[tuple[int, str]],
    caught_up_seconds: float | None,
    shown: int = 20,
) -> EventSummary:
    """`produced` order ids against the fill `rows` (order id, color) found for them."""
    per_id: dict[int, int] = defaultdict(int)
    by_color: dict[str, int] = defaultdict(int)
    written = 0
    for order_id, color in rows:
        per_id[order_id] += 1
        by_color[color] += 1
        written += 1
    wanted = sorted(set(produced))
    lost = [i for i in wanted if per_id[i] == 0]
    doubled = [i for i in wanted if per_id[i] > 1]
    return EventSummary(
        produced=len(produced),
        written=written,
        lost=len(lost),
        doubled=len(doubled),
        lost_ids=lost[:shown],
        doubled_ids=doubled[:shown],
        by_color=dict(sorted(by_color.items())),
        caught_up_seconds=caught_up_seconds,
    )


@dataclass(frozen=True)
class ReleaseSummary:
    """The figures of one release of the rehearsal (`service`: the journal's name, e.g.
    `trading-api+market-data` for both released together; `version`: the first service's)."""

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
    writes: WriteSummary | None = None
    service: str = ""
    active_before: dict[str, str] = field(default_factory=dict)
    active_after: dict[str, str] = field(default_factory=dict)
    events: EventSummary | None = None


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


def weight_changes(
    events: Iterable[Mapping[str, Any]], start: float, service: str | None = None
) -> list[WeightChange]:
    """Verified weight changes from journal events (`action.done` of SetWeights), of
    `service` only when given (a multi-service release moves each member's own traffic)."""
    changes = []
    for event in events:
        action = event.get("action") or {}
        if service is not None and action.get("service", service) != service:
            continue
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


@dataclass(frozen=True)
class StepWindow:
    """When the engine applied or undid one release step: [start, end) in epoch seconds."""

    step: str
    verb: str  # "apply" or "undo"
    start: float
    end: float
    ok: bool


STEP_VERBS = {"ApplyReleaseStep": "apply", "UndoReleaseStep": "undo"}


def step_windows(events: Iterable[Mapping[str, Any]], step: str) -> list[StepWindow]:
    """Each apply and undo of release step `step`, from its `action.started` to its end.

    The end is the matching `action.done` (ok) or `action.failed`; an action still running
    when the events end (a killed engine) has no window.
    """
    found: list[StepWindow] = []
    open_at: dict[str, float] = {}
    for event in events:
        action = event.get("action") or {}
        verb = STEP_VERBS.get(action.get("type", ""))
        if verb is None or action.get("name") != step:
            continue
        kind = event.get("kind")
        if kind == "action.started":
            open_at[verb] = event["at"]
        elif kind in ("action.done", "action.failed") and verb in open_at:
            start = open_at.pop(verb)
            found.append(StepWindow(step, verb, start, event["at"], kind == "action.done"))
    return found


def write_summary(
    writes: Sequence[Write], windows: Sequence[StepWindow], kept: Kept, lost_shown: int = 20
) -> WriteSummary:
    """The writes of one release against its migration's windows and what was kept."""
    applies = [(w.start, w.end) for w in windows if w.verb == "apply"]
    undos = [(w.start, w.end) for w in windows if w.verb == "undo"]
    during_apply, during_undo = within(writes, applies), within(writes, undos)
    rest = outside(writes, applies + undos)
    return WriteSummary(
        orders=len(writes),
        accepted=kept.accepted,
        kept=kept.kept,
        lost_ids=list(kept.lost[:lost_shown]),
        p99_apply_ms=p99_ms(during_apply),
        p99_revert_ms=p99_ms(during_undo) if undos else None,
        p99_outside_ms=p99_ms(rest),
        writes_apply=len(during_apply),
        writes_revert=len(during_undo),
        writes_outside=len(rest),
    )
