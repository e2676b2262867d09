"""The metric provider that measures nothing: a healthy sample with zero requests.

Zero requests make every check inconclusive, so a release judged by `nop` never passes
on fake numbers; it pauses on the inconclusive limit unless promoted by hand. It says it
has series (`has_series` True): "no data" would be an Error, and `nop` is a deliberate
choice of the stack, not a fault. A consumer's sample (the services named in `consumers`)
is of kind "consumer" with no lag: its consumer lag is inconclusive too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from runbooks.core.model import Sample, ServiceKind, Target

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


class NopMetrics:
    """Returns `Sample(requests=0, errors=0, p95=None)` for every target."""

    def __init__(
        self, clock: Callable[[], float] = time.time, consumers: Collection[str] = ()
    ) -> None:
        self._clock = clock
        self._consumers = frozenset(consumers)

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> NopMetrics:
        """A provider that measures nothing (every sample empty)."""
        consumers = (s.name for s in settings.services if s.kind == "consumer")
        return cls(consumers=tuple(consumers))

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """An empty, error-free sample taken now."""
        kind: ServiceKind = "consumer" if target.service in self._consumers else "http"
        return Sample(
            color=target.color, requests=0, errors=0, p95_seconds=None, at=self._clock(), kind=kind
        )
