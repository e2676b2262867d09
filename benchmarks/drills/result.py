"""What a drill reports: its figures against their targets, with the machine's load."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measure:
    """One figure of a drill: its value against its target, and whether the target is met."""

    value: float | None
    unit: str
    target: str
    passed: bool

    def as_json(self) -> dict[str, Any]:
        """The figure's JSON object."""
        return {"value": self.value, "unit": self.unit, "target": self.target, "pass": self.passed}


@dataclass(frozen=True)
class DrillResult:
    """One drill's JSON line: figures, when and how long, the load average, details."""

    drill: str
    figures: dict[str, Measure]
    started: float
    seconds: float
    load_average: list[float]
    short: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every figure met its target (a drill with no figure did not pass)."""
        return bool(self.figures) and all(m.passed for m in self.figures.values())

    def as_json(self) -> dict[str, Any]:
        """The JSON line's object."""
        return {
            "drill": self.drill,
            "pass": self.passed,
            "figures": {name: m.as_json() for name, m in self.figures.items()},
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(self.seconds, 1),
            "load_average": self.load_average,
            "short": self.short,
            "details": self.details,
        }


def at_most(value: float, limit: float, unit: str) -> Measure:
    """A figure whose target is `value <= limit`."""
    return Measure(value, unit, f"<= {limit:g}", value <= limit)


def all_of(good: int, total: int, unit: str) -> Measure:
    """A figure whose target is every one of `total` (and at least one)."""
    return Measure(good, unit, f"{total}/{total}", total > 0 and good == total)
