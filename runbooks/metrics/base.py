"""The metric-provider plug-in area: how much traffic each color served, and how well."""

from __future__ import annotations

from typing import Protocol

from runbooks.core.model import Sample, Target


class MetricProvider(Protocol):
    """Measures one color of one service over the last `window_seconds`.

    Never raises for a measurement problem: an unreachable backend, a bad query or an
    empty result come back as `Sample.failed(...)` with the reason. A consumer service is
    measured in records, into a Sample of kind "consumer" (see `runbooks.metrics.by_kind`);
    a stack whose settings give consumers no provider able to measure them raises BadInput
    on a consumer's first sample (a configuration error, met in the release's preflight).
    """

    def sample(self, target: Target, window_seconds: float) -> Sample: ...
