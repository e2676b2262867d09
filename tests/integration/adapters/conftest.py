"""Real servers for the adapter tests: haproxy over real backends, prometheus, moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbooks.haproxy_runtime import HaproxyRuntime
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


PROMETHEUS_CFG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: services
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


@dataclass(frozen=True)
class Prometheus:
    """A running prometheus scraping one real backend (service PROM_SERVICE, green)."""

    url: str
    backend_url: str


PROM_SERVICE = "orders"
PROM_FAIL_RATIO = 0.2
PROM_LATENCY_MS = 60


def _has_scraped(url: str) -> bool:
    try:
        body = httpx.get(f"{url}/api/v1/query", params={"query": "up == 1"}, timeout=1).json()
    except (httpx.HTTPError, ValueError):
        return False
    return bool(body.get("data", {}).get("result"))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """prometheus (1s scrapes) over a backend whose green fails PROM_FAIL_RATIO of
    requests and takes PROM_LATENCY_MS each; ready once the backend was scraped."""
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    with backend(PROM_SERVICE, "green", PROM_FAIL_RATIO, PROM_LATENCY_MS) as exporter:
        cfg = tmp / "prometheus.yml"
        cfg.write_text(PROMETHEUS_CFG.format(port=exporter))
        args = [
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with running(args, tmp / "prometheus.log"):
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _has_scraped(url), "prometheus to scrape the backend", 30)
            yield Prometheus(url, f"http://127.0.0.1:{exporter}/")


EDGE_HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe_main
    bind 127.0.0.1:{port}
    default_backend be_{service}
frontend fe_stats
    bind 127.0.0.1:{stats}
    http-request use-service prometheus-exporter if {{ path /metrics }}
backend be_{service}
    balance roundrobin
    server blue 127.0.0.1:{blue} weight 1
    server green 127.0.0.1:{green} weight 1
"""

EDGE_PROMETHEUS_CFG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: haproxy
    static_configs:
      - targets: ["127.0.0.1:{stats}"]
  - job_name: services
    static_configs:
      - targets: ["127.0.0.1:{blue}"]
"""


@dataclass(frozen=True)
class Edge:
    """haproxy in front of a live blue and a green whose port nothing listens on, and a
    prometheus scraping haproxy's exporter and blue."""

    frontend_url: str
    prometheus_url: str
    service: str
    socket_path: Path


def _scraped_both(url: str) -> bool:
    try:
        body = httpx.get(f"{url}/api/v1/query", params={"query": "up == 1"}, timeout=1).json()
    except (httpx.HTTPError, ValueError):
        return False
    return len(body.get("data", {}).get("result", [])) == 2


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """No health checks and no redispatch: every request haproxy sends to green fails to
    connect (after its retries) and is answered 503 by haproxy, as a crashed color is."""
    tmp = tmp_path_factory.mktemp("edge")
    port, stats, prom, dead = free_port(), free_port(), free_port(), free_port()
    with backend(SERVICE, "blue") as blue:
        (tmp / "haproxy.cfg").write_text(
            EDGE_HAPROXY_CFG.format(
                sock=tmp / "admin.sock",
                port=port,
                stats=stats,
                service=SERVICE,
                blue=blue,
                green=dead,
            )
        )
        (tmp / "prometheus.yml").write_text(EDGE_PROMETHEUS_CFG.format(stats=stats, blue=blue))
        args = [
            "prometheus",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom}",
        ]
        with (
            running(["haproxy", "-db", "-f", str(tmp / "haproxy.cfg")], tmp / "haproxy.log"),
            running(args, tmp / "prometheus.log"),
        ):
            url = f"http://127.0.0.1:{prom}"
            wait_until(lambda: _scraped_both(url), "prometheus to scrape haproxy and blue", 30)
            yield Edge(f"http://127.0.0.1:{port}/", url, SERVICE, tmp / "admin.sock")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server (AWS API emulator) in this process, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client for `service` on the moto server, with dummy credentials."""
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
