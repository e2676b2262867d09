"""Pure figure arithmetic: from the load's hits and the journal's events to the JSON lines.

Nothing here talks to a server, so every figure's computation is unit-tested with literal
hits and events (tests/unit/benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbooks.local.load import Hit
from runbooks.local.writes import Write, p99_ms, within
from runbooks.rehearsal.timeline import first_fault, rollback_times


@dataclass(frozen=True)
class Figure:
    """One measured figure against its baseline measured in the same run."""

    name: str
    value: float | None
    unit: str
    baseline: float | None
    comparison: str
    target: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The JSON line's object; `ratio` is value / baseline (None when undefined)."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": ratio(self.value, self.baseline),
            "comparison": self.comparison,
            "target": self.target,
            "pass": self.passed,
            "details": self.details,
        }


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline rounded to 4 places; None when either is missing or baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return round(value / baseline, 4)


def between(hits: Sequence[Hit], start: float, end: float) -> list[Hit]:
    """The hits sent at or after `start` and before `end` (epoch seconds)."""
    return [h for h in hits if start <= h.at < end]


def failed(hits: Sequence[Hit]) -> int:
    """How many hits failed (5xx or no answer)."""
    return sum(1 for h in hits if h.failed)


def achieved_rate(hits: Sequence[Hit], start: float, end: float) -> float:
    """Requests per second actually sent in [start, end); 0 for an empty window."""
    return len(between(hits, start, end)) / (end - start) if end > start else 0.0


def last_hit_of(hits: Sequence[Hit], version: str) -> float | None:
    """When the last request served by `version` was sent (epoch), or None."""
    return max((h.at for h in hits if h.version == version), default=None)


def first_hit_of(hits: Sequence[Hit], version: str) -> float | None:
    """When the first request served by `version` was sent (epoch), or None."""
    return min((h.at for h in hits if h.version == version), default=None)


def flat_events(events: Sequence[Any]) -> list[dict[str, Any]]:
    """Journal events (`.at`, `.kind`, `.data`) as flat dicts, as the timeline reads them."""
    return [{"at": e.at, "kind": e.kind, **dict(e.data)} for e in events]


@dataclass(frozen=True)
class Restore:
    """From the fault's onset to all traffic back on the old color (epoch seconds)."""

    onset: float | None
    decided: float | None
    restored: float | None
    last_faulty_hit: float | None

    @property
    def seconds(self) -> float | None:
        """Onset to the verified rollback weight change; None if either is missing."""
        if self.onset is None or self.restored is None:
            return None
        return self.restored - self.onset

    @property
    def confirmed_by_hits(self) -> bool:
        """Whether the faulty version served no request sent after the rollback's change.

        Hits are stamped when sent, so a request sent just before the change and answered
        by the faulty version after it still counts as before.
        """
        if self.restored is None:
            return False
        return self.last_faulty_hit is None or self.last_faulty_hit <= self.restored


def restore_of(hits: Sequence[Hit], events: Sequence[Mapping[str, Any]], version: str) -> Restore:
    """The restore times of a rolled-back release of `version`."""
    decided, restored = rollback_times(events)
    return Restore(first_fault(hits, version), decided, restored, last_hit_of(hits, version))


@dataclass(frozen=True)
class Blast:
    """What a faulty version did to users over one window."""

    faulty: int
    served_by_version: int
    total: int

    @property
    def share(self) -> float:
        """Faulty responses / all responses (0 for an empty window)."""
        return self.faulty / self.total if self.total else 0.0


def blast(hits: Sequence[Hit], version: str, start: float, seconds: float) -> Blast:
    """Failed responses of `version` over all responses in [start, start + seconds)."""
    window = between(hits, start, start + seconds)
    mine = [h for h in window if h.version == version]
    return Blast(failed(mine), len(mine), len(window))


def window_p99s(writes: Sequence[Write], start: float, end: float, length: float) -> list[float]:
    """The writers' p99 (ms) in each consecutive `length`-second window of [start, end).

    Windows as long as a migration, cut from a quiet stretch, give the baseline a p99 drawn
    from as many samples as the migration's own; windows with no writes are skipped.
    """
    if length <= 0:
        return []
    count = int((end - start) / length + 1e-9)  # whole windows only; tolerate float error
    spans = [(start + i * length, start + (i + 1) * length) for i in range(count)]
    values = [p99_ms(within(writes, [span])) for span in spans]
    return [v for v in values if v is not None]


def median(values: Sequence[float]) -> float | None:
    """The median of `values`; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
