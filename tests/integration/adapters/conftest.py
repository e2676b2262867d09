"""Real servers for the adapter tests: haproxy over two real backends, prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from runbooks.routers.haproxy_runtime import HaproxyRuntime
from tests.integration.adapters.processes import backend, free_port, running, wait_until

SERVICE = "trading-api"
GREEN_FAIL_RATIO = 0.25

HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe_main
    bind 127.0.0.1:{port}
    default_backend be_{service}
backend be_{service}
    balance roundrobin
    option httpchk GET /health
    default-server check inter 200ms fall 2 rise 1
    server blue 127.0.0.1:{blue} weight 100
    server green 127.0.0.1:{green} weight 0
"""


@dataclass(frozen=True)
class Haproxy:
    """A running haproxy: where to send traffic and where its admin socket is."""

    frontend_url: str
    socket_path: Path
    service: str


def _both_servers_up(runtime: HaproxyRuntime) -> bool:
    try:
        rows = runtime.show_servers_state(f"be_{SERVICE}")
    except Exception:
        return False
    return len(rows) == 2 and all(row["srv_op_state"] == "2" for row in rows)


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Haproxy]:
    """haproxy on a free loopback port; blue healthy, green failing GREEN_FAIL_RATIO of
    requests with 500 (its health check still passes)."""
    tmp = tmp_path_factory.mktemp("haproxy")
    sock, port = tmp / "admin.sock", free_port()
    with backend(SERVICE, "blue") as blue, backend(SERVICE, "green", GREEN_FAIL_RATIO) as green:
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(
            HAPROXY_CFG.format(sock=sock, port=port, service=SERVICE, blue=blue, green=green)
        )
        with running(["haproxy", "-db", "-f", str(cfg)], tmp / "haproxy.log"):
            runtime = HaproxyRuntime(sock, timeout_seconds=1)
            wait_until(lambda: _both_servers_up(runtime), "haproxy and healthy backends")
            yield Haproxy(f"http://127.0.0.1:{port}/", sock, SERVICE)


def send(url: str, count: int) -> dict[str, int]:
    """Send `count` GETs to `url`; how many answers each body (color) gave, and 5xx."""
    counts: dict[str, int] = {"blue": 0, "green": 0, "5xx": 0}
    with httpx.Client(timeout=5) as client:
        for _ in range(count):
            response = client.get(url)
            counts[response.text] = counts.get(response.text, 0) + 1
            counts["5xx"] += response.status_code >= 500
    return counts
