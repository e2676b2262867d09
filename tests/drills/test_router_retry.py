"""Issue 14: a blip of the router's admin socket is retried with backoff within a budget.

Before the fix, `HaproxyRouter.set_weights` raised at the first refused connection and the
engine rolled a healthy release back after a 5-second blip. The socket here is a stateful
stand-in (tests/drills/fake_haproxy.py); the drills run the same against real HAProxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbooks.core.model import Weights
from runbooks.routers.haproxy import HaproxyRouter
from stackspec.errors import RouterError
from tests.drills.fake_haproxy import FakeHaproxy

SERVICE = "trading-api"


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[FakeHaproxy]:
    fake = FakeHaproxy(tmp_path / "admin.sock").start()
    yield fake
    fake.vanish()


def test_weights_are_set_once_the_socket_is_back(haproxy: FakeHaproxy) -> None:
    haproxy.vanish()
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the socket comes back during the third wait
        waits.append(seconds)
        if len(waits) == 3:
            haproxy.start()

    router = HaproxyRouter(haproxy.path, sleep=sleep)
    router.set_weights(SERVICE, Weights(blue=90, green=10))

    assert len(waits) == 3
    assert waits[0] < waits[2], f"the waits back off: {waits}"
    assert haproxy.servers == {"blue": [90, 0], "green": [10, 0]}
    assert router.get_weights(SERVICE) == Weights(blue=90, green=10)


def test_an_outage_longer_than_the_budget_is_a_router_error(tmp_path: Path) -> None:
    router = HaproxyRouter(tmp_path / "gone.sock", retry_budget_seconds=0.5)
    began = time.monotonic()

    with pytest.raises(RouterError, match="cannot talk to haproxy's admin socket"):
        router.set_weights(SERVICE, Weights(blue=90, green=10))

    assert 0.2 < time.monotonic() - began < 3.0


def test_a_refused_command_is_not_retried(haproxy: FakeHaproxy) -> None:
    waits: list[float] = []
    router = HaproxyRouter(haproxy.path, sleep=waits.append)

    with pytest.raises(RouterError, match="cannot show backend"):
        router.set_weights("no-such-service", Weights(blue=90, green=10))

    assert waits == []
    assert haproxy.received == ["show servers state be_no-such-service"]


def test_reading_the_weights_is_not_retried(tmp_path: Path) -> None:
    """status and the preflight's reachability check must say at once that HAProxy is down."""
    waits: list[float] = []
    router = HaproxyRouter(tmp_path / "gone.sock", sleep=waits.append)

    with pytest.raises(RouterError, match="cannot talk to haproxy's admin socket"):
        router.get_weights(SERVICE)

    assert waits == []
