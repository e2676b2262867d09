"""Data shared by the pure core and the adapters: weights, samples, measurements.

Everything here is a frozen dataclass: results are data, carrying phase, value, message and
time, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from infra.settings import Color

__all__ = ["Color", "Measurement", "Phase", "Sample", "Target", "Weights"]


@dataclass(frozen=True)
class Weights:
    """Traffic split of a blue-green pair, in percent; the two always add up to 100."""

    blue: int
    green: int

    def __post_init__(self) -> None:
        if not (0 <= self.blue <= 100 and 0 <= self.green <= 100 and self.blue + self.green == 100):
            raise ValueError(f"weights must be 0..100 and add up to 100; got {self}")

    @classmethod
    def all_on(cls, color: Color) -> Weights:
        """Every request to `color`."""
        return cls(blue=100, green=0) if color is Color.BLUE else cls(blue=0, green=100)

    @classmethod
    def to_new(cls, new: Color, percent: int) -> Weights:
        """`percent` of requests to `new`, the rest to the other color."""
        return (
            cls(blue=100 - percent, green=percent)
            if new is Color.GREEN
            else cls(blue=percent, green=100 - percent)
        )

    def of(self, color: Color) -> int:
        """The weight of `color`."""
        return self.blue if color is Color.BLUE else self.green


@dataclass(frozen=True)
class Target:
    """What a router or metric provider acts on: one color of one service.

    `version`, when known, is the version that color runs in this release: providers that
    can tell versions apart measure only it (a color's previous process is not judged).
    """

    service: str
    color: Color
    version: str = ""


@dataclass(frozen=True)
class Sample:
    """Traffic of one color over one analysis window, as a metric provider saw it.

    `error` is set when the provider could not measure; the numbers are then meaningless
    and the analysis records an ERROR measurement (never a pass).
    """

    color: Color
    requests: float
    errors: float
    p95_seconds: float | None
    at: float
    error: str | None = None

    @classmethod
    def failed(cls, color: Color, at: float, message: str) -> Sample:
        """A sample the provider could not take."""
        return cls(color=color, requests=0, errors=0, p95_seconds=None, at=at, error=message)

    @property
    def error_rate(self) -> float | None:
        """Share of failed requests (0..1), or None without requests."""
        return self.errors / self.requests if self.requests > 0 else None


class Phase(StrEnum):
    """Outcome of one measurement, as in Argo Rollouts' analysis."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


@dataclass(frozen=True)
class Measurement:
    """One judged check: a metric of the new color against its threshold at one time."""

    metric: str
    phase: Phase
    value: float | None
    threshold: float | None
    at: float
    message: str
