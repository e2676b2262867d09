"""The metric-provider plug-in area: how much traffic each color served, and how well."""

from __future__ import annotations

from typing import Protocol

from runbooks.core.model import Sample, Target


class MetricProvider(Protocol):
    """Measures one color of one service over the last `window_seconds`.

    Never raises for a measurement problem: an unreachable backend, a bad query or an
    empty result come back as `Sample.failed(...)` with the reason.
    """

    def sample(self, target: Target, window_seconds: float) -> Sample: ...
