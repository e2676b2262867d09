"""The drills' admin-socket proxy (benchmarks/drills/proxy.py) in front of a stand-in
HAProxy socket: it forwards, holds a chosen command, and blips inside a weight change, and
the router's retry carries a weight change across a blip shorter than its budget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.drills.harness import poll
from benchmarks.drills.proxy import AdminProxy
from runbooks.core.model import Weights
from runbooks.routers.haproxy import HaproxyRouter
from stackspec.errors import RouterError
from tests.drills.fake_haproxy import FakeHaproxy

SERVICE = "trading-api"


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[FakeHaproxy, AdminProxy]]:
    fake = FakeHaproxy(tmp_path / "admin.sock").start()
    proxy = AdminProxy.install(fake.path)
    fake.path = proxy.real  # the stand-in's socket file was moved aside
    yield fake, proxy
    proxy.release()
    proxy.vanish()
    fake.vanish()


def test_commands_are_forwarded_and_recorded(proxied: tuple[FakeHaproxy, AdminProxy]) -> None:
    fake, proxy = proxied

    HaproxyRouter(proxy.path).set_weights(SERVICE, Weights(blue=90, green=10))

    assert fake.servers == {"blue": [90, 0], "green": [10, 0]}
    assert "set server be_trading-api/green weight 10" in proxy.commands


def test_a_held_command_never_reaches_haproxy(proxied: tuple[FakeHaproxy, AdminProxy]) -> None:
    fake, proxy = proxied
    proxy.hold(lambda line: line == "set server be_trading-api/blue weight 90")
    router = HaproxyRouter(proxy.path, timeout_seconds=5, retry_budget_seconds=0)

    with pytest.raises(RouterError):  # released: the connection closes unanswered
        proxy_released_when_held(proxy)
        router.set_weights(SERVICE, Weights(blue=90, green=10))

    assert fake.servers["green"] == [10, 0], "the change before the held command is live"
    assert fake.servers["blue"] == [100, 0], "the held command never reached haproxy"


def proxy_released_when_held(proxy: AdminProxy) -> None:
    """Release the hold from a thread once the command is held (the drill kills then)."""

    def release() -> None:
        poll(proxy.holding.is_set, 10, "the command to be held")
        proxy.release()

    threading.Thread(target=release, daemon=True).start()


def test_a_blip_inside_a_weight_change_is_retried_through(
    proxied: tuple[FakeHaproxy, AdminProxy],
) -> None:
    fake, proxy = proxied
    proxy.blip_on(lambda line: line == "set server be_trading-api/green weight 50", 1.0)

    HaproxyRouter(proxy.path).set_weights(SERVICE, Weights(blue=50, green=50))

    assert len(proxy.blips) == 1
    assert fake.servers == {"blue": [50, 0], "green": [50, 0]}
    assert proxy.path.exists()
