"""A router that sends each service to the router of its kind: HTTP services to the stack's
traffic router (haproxy, kubernetes, aws-alb, nop), consumer services to the partition
router (`kafka_partitions`). The consumer router is built on first use, so a stack whose
operator has no Redis at hand can still release its HTTP services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from runbooks.core.model import Weights
from runbooks.routers.base import TrafficRouter


class ByKindRouter:
    """Dispatches `set_weights`/`get_weights` by the service's kind (`kinds`: name -> kind)."""

    def __init__(
        self,
        http: TrafficRouter,
        consumer: Callable[[], TrafficRouter],
        kinds: Mapping[str, str],
    ) -> None:
        self.http = http
        self._consumer_factory = consumer
        self._consumer: TrafficRouter | None = None
        self._kinds = dict(kinds)

    def set_weights(self, service: str, weights: Weights) -> None:
        """The service's router's set_weights."""
        self.router_of(service).set_weights(service, weights)

    def get_weights(self, service: str) -> Weights:
        """The service's router's get_weights."""
        return self.router_of(service).get_weights(service)

    def router_of(self, service: str) -> TrafficRouter:
        """The partition router for a consumer service, the stack's router otherwise."""
        if self._kinds.get(service) != "consumer":
            return self.http
        if self._consumer is None:
            self._consumer = self._consumer_factory()
        return self._consumer
