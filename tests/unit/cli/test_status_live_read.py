"""status reads each service's live weights on its own: one service the router cannot
answer for leaves the others' live weights shown (it dropped every service's before)."""

from __future__ import annotations

from runbooks.cli.status import _read
from runbooks.core.model import Weights
from stackspec.errors import RouterError


class OneBroken:
    """A router that knows trading-api and web, and fails for market-data."""

    def get_weights(self, service: str) -> Weights:
        if service == "market-data":
            raise RouterError("no partitions recorded for market-data")
        return Weights(blue=90, green=10) if service == "web" else Weights(blue=100, green=0)


def test_one_failing_service_keeps_the_others_live_weights() -> None:
    live = _read(OneBroken(), ["trading-api", "market-data", "web"])  # type: ignore[arg-type]
    assert live.weights == {
        "trading-api": {"blue": 100, "green": 0},
        "web": {"blue": 90, "green": 10},
    }
    assert live.error is not None and "market-data" in live.error


def test_every_service_answering_is_no_error() -> None:
    live = _read(OneBroken(), ["trading-api", "web"])  # type: ignore[arg-type]
    assert set(live.weights) == {"trading-api", "web"} and live.error is None
