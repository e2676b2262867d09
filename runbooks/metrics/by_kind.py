"""Which provider measures a service: its kind decides (`http` or `consumer`).

HTTP services are measured by the stack's provider (`rollout.metrics.provider`). Consumers
are measured by `rollout.metrics.consumers.provider` when set, else by the stack's provider
if it can measure consumers at all: prometheus (the consumers' own counters, histogram and
lag gauges) or nop (measures nothing, honestly inconclusive). cloudwatch (ALB target
groups), haproxy (HAProxy backends) and http (probes) never see a record: a consumer on a
stack judged by one of them is refused with a BadInput naming
`rollout.metrics.consumers.provider`, never measured with made-up numbers.

The consumers' provider is built on the first consumer sample, not with the stack's: an
HTTP release never fails on the consumers' settings, and a consumer release meets the
refusal in its preflight, before anything is recorded (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from stackspec.errors import BadInput

if TYPE_CHECKING:
    from runbooks.core.model import Sample, Target
    from runbooks.metrics.base import MetricProvider
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings

__all__ = ["MEASURES_CONSUMERS", "ByKind", "consumer_provider", "from_stack"]

MEASURES_CONSUMERS = frozenset({"prometheus", "nop"})
_WHY_NOT = {
    "cloudwatch": "it reads ALB target groups, and a consumer serves no requests through one",
    "haproxy": "it reads HAProxy backends, and a consumer serves no requests through one",
    "http": "it probes URLs, and a probe sees none of a consumer's records",
}
_HINT = (
    "set rollout.metrics.consumers.provider in the stack file to prometheus (with "
    "rollout.metrics.consumers.url: the Prometheus that scrapes the consumers) or nop"
)


class StackFactory(Protocol):
    """A metric provider class as the registry holds it."""

    def from_stack(self, settings: StackSettings, outputs: StackOutputs) -> MetricProvider: ...


class ByKind:
    """Consumers' samples from `consumers()` (built once, on first use), the rest from
    `http`. BadInput from `consumers()` (no provider can measure them) propagates."""

    def __init__(
        self,
        http: MetricProvider,
        consumer_names: frozenset[str],
        consumers: Callable[[], MetricProvider],
    ) -> None:
        self._http = http
        self._names = consumer_names
        self._build = consumers
        self._consumers: MetricProvider | None = None

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """The sample of the provider for `target`'s kind."""
        if target.service not in self._names:
            return self._http.sample(target, window_seconds)
        if self._consumers is None:
            self._consumers = self._build()
        return self._consumers.sample(target, window_seconds)


def from_stack(
    name: str, factory: StackFactory, settings: StackSettings, outputs: StackOutputs
) -> MetricProvider:
    """Provider `name` (built by `factory`) for HTTP services, and the consumers' provider
    for consumers; `name` alone when it measures the consumers itself (no consumers, or
    prometheus/nop with nothing else asked for)."""
    http = factory.from_stack(settings, outputs)
    names = frozenset(s.name for s in settings.services if s.kind == "consumer")
    asked = settings.rollout.metrics.consumers
    if not names or (
        name in MEASURES_CONSUMERS and asked.provider in (None, name) and not asked.url
    ):
        return http
    return ByKind(http, names, lambda: consumer_provider(name, settings, outputs))


def consumer_provider(name: str, settings: StackSettings, outputs: StackOutputs) -> MetricProvider:
    """The provider of the stack's consumers; BadInput when stack provider `name` would have
    to measure them and cannot."""
    chosen = settings.rollout.metrics.consumers.provider or name
    if chosen == "prometheus":
        from runbooks.metrics.prometheus import PrometheusMetrics

        return PrometheusMetrics.for_consumers(settings, outputs)
    if chosen == "nop":
        from runbooks.metrics.nop import NopMetrics

        return NopMetrics.from_stack(settings, outputs)
    consumers = ", ".join(sorted(s.name for s in settings.services if s.kind == "consumer"))
    raise BadInput(
        f"the {chosen} metric provider cannot measure the consumers ({consumers}): "
        f"{_WHY_NOT.get(chosen, 'it reads no consumer metrics')}",
        hint=_HINT,
    )
