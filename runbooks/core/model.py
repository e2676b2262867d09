"""Data shared by the pure core and the adapters: weights, samples, measurements.

Everything here is a frozen dataclass: results are data, carrying phase, value, message and
time, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict

from stackspec.model import Color

__all__ = [
    "Bucket",
    "Color",
    "Measurement",
    "Phase",
    "Sample",
    "ServiceKind",
    "Target",
    "Weights",
]


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


Bucket = tuple[float, float]  # (upper bound in seconds, inf for the last; requests in it)
ServiceKind = Literal["http", "consumer"]  # as a service's `kind` in the stack file


@dataclass(frozen=True)
class Sample:
    """Traffic of one color over one analysis window, as a metric provider saw it.

    Counts are whole numbers of events in the window (counter deltas, never extrapolated):
    - `requests`, `errors`: requests the service answered, and those with a 5xx;
    - `edge_errors`: requests that failed at the router for this color without reaching the
      service (connection refused or reset, bad response): they count as requests AND
      errors of the color, on top of the service's own (see `total_requests`);
    - `latency`: the window's latency histogram, NON-cumulative counts per bucket, ordered
      by upper bound; `p95_seconds` is derived from it (or given by a provider without one).
    `has_series` is False when the provider found no series at all for the color's version
    (a color that serves traffic but exports nothing must not read as "no traffic").
    `error` is set when the provider could not measure; the numbers are then meaningless
    and the analysis records an ERROR measurement (never a pass).

    A `kind` "consumer" sample counts records instead of requests: `requests` are records
    processed OK plus those that failed, `errors` the failed ones, `latency` the processing
    time. `lag` is how far behind (records) the color's furthest-behind partition stayed:
    each partition's lowest lag over the last analysis interval, the largest of those (None
    for HTTP or when the color owns no partition); `partitions` how many it owned at the
    window's end (None when unknown). Old journals without these fields still load.
    """

    # The +Inf bucket's bound travels as "Infinity" in the journal's JSON.
    __pydantic_config__ = ConfigDict(ser_json_inf_nan="strings")

    color: Color
    requests: float
    errors: float
    p95_seconds: float | None
    at: float
    error: str | None = None
    latency: tuple[Bucket, ...] = ()
    has_series: bool = True
    edge_errors: float = 0.0
    kind: ServiceKind = "http"
    lag: float | None = None
    partitions: int | None = None

    @classmethod
    def failed(cls, color: Color, at: float, message: str, kind: ServiceKind = "http") -> Sample:
        """A sample the provider could not take."""
        return cls(
            color=color, requests=0, errors=0, p95_seconds=None, at=at, error=message, kind=kind
        )

    @property
    def unit(self) -> str:
        """What this sample counts, as operators read it: "requests" or "records"."""
        return "records" if self.kind == "consumer" else "requests"

    @property
    def total_requests(self) -> float:
        """Requests the users sent to this color: answered by the service or failed before."""
        return self.requests + self.edge_errors

    @property
    def total_errors(self) -> float:
        """Requests of this color that failed: 5xx from the service, or at the router."""
        return self.errors + self.edge_errors

    @property
    def error_rate(self) -> float | None:
        """Share of failed requests (0..1, router failures included), or None without any."""
        total = self.total_requests
        return self.total_errors / total if total > 0 else None


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
    baseline: float | None = None  # the old color's value of the same metric
