"""The traffic-router plug-in area: move a service's traffic between its two colors."""

from __future__ import annotations

from typing import Protocol

from runbooks.core.model import Weights


class TrafficRouter(Protocol):
    """Sets and reads the live blue/green split of one service.

    `set_weights` returns only once the new split is live and has been read back and
    verified; a color whose weight becomes 0 is drained, not cut. Failures raise
    `stackspec.errors.RouterError` with what was asked and what is live.
    """

    def set_weights(self, service: str, weights: Weights) -> None: ...

    def get_weights(self, service: str) -> Weights: ...
