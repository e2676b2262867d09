"""Each launcher starts a real server on loopback, which answers, then stops and frees its port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from confluent_kafka.admin import AdminClient

from runbooks.local import servers
from runbooks.local.process import port_open
from runbooks.local.servers import LaunchError, Server

pytestmark = pytest.mark.integration


@pytest.fixture
def started() -> Iterator[list[Server]]:
    """Servers a test started; each is stopped afterwards even if the test failed."""
    running: list[Server] = []
    yield running
    for server in running:
        server.stop()


def stop_and_check_gone(server: Server) -> None:
    server.stop()
    assert not server.alive()
    assert not port_open(server.port)
    server.stop()  # idempotent


def test_postgres_accepts_connections_to_trading(state_dir: Path, started: list[Server]) -> None:
    server = servers.start_postgres(state_dir, servers.free_port())
    started.append(server)
    with psycopg.connect(servers.postgres_dsn(server.port)) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row == ("trading",)
    assert Path(f"/proc/{server.pid}/exe").resolve().name == "postgres"
    stop_and_check_gone(server)


def test_postgres_restarts_on_existing_data(state_dir: Path, started: list[Server]) -> None:
    first = servers.start_postgres(state_dir, servers.free_port())
    with psycopg.connect(servers.postgres_dsn(first.port), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    first.stop()
    second = servers.start_postgres(state_dir, servers.free_port())
    started.append(second)
    with psycopg.connect(servers.postgres_dsn(second.port)) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)


def test_redis_answers_ping(state_dir: Path, started: list[Server]) -> None:
    server = servers.start_redis(state_dir, servers.free_port())
    started.append(server)
    client = redis.Redis(host="127.0.0.1", port=server.port)
    assert client.set("k", "v") and client.get("k") == b"v"
    client.close()
    stop_and_check_gone(server)


def test_broker_serves_metadata_and_creates_topics(state_dir: Path, started: list[Server]) -> None:
    server = servers.start_broker(state_dir, servers.free_port())
    started.append(server)
    bootstrap = f"127.0.0.1:{server.port}"
    servers.create_topics(bootstrap, [("order-events", 1), ("market-ticks", 2)])
    servers.create_topics(bootstrap, [("order-events", 1)])  # existing topics are left alone
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5).topics
    assert {"order-events", "market-ticks"} <= set(topics)
    stop_and_check_gone(server)


def test_haproxy_serves_and_rejects_bad_config(state_dir: Path, started: list[Server]) -> None:
    port = servers.free_port()
    config = (
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{port}\n"
        "  http-request return status 200 content-type text/plain string ok\n"
    )
    server = servers.start_haproxy(state_dir, config, port)
    started.append(server)
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
    stop_and_check_gone(server)
    with pytest.raises(LaunchError, match="unknown keyword 'bogus'"):
        servers.start_haproxy(state_dir, "bogus\n", port)


def test_varnish_proxies_to_its_backend(state_dir: Path, started: list[Server]) -> None:
    origin_port = servers.free_port()
    origin = servers.start_haproxy(
        state_dir,
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend fe\n  bind 127.0.0.1:{origin_port}\n"
        "  http-request return status 200 content-type text/plain string origin\n",
        origin_port,
    )
    started.append(origin)
    vcl = f'vcl 4.1;\nbackend default {{ .host = "127.0.0.1"; .port = "{origin_port}"; }}\n'
    server = servers.start_varnish(state_dir, servers.free_port(), vcl)
    started.append(server)
    assert httpx.get(f"http://127.0.0.1:{server.port}/").text == "origin"
    stop_and_check_gone(server)


def test_prometheus_is_ready(state_dir: Path, started: list[Server]) -> None:
    server = servers.start_prometheus(
        state_dir, servers.free_port(), "global:\n  scrape_interval: 1s\n"
    )
    started.append(server)
    answer = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/query", params={"query": "1+1"})
    assert answer.json()["data"]["result"][1] == "2"
    stop_and_check_gone(server)


def test_wait_until_names_what_and_the_last_error() -> None:
    def broken() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(TimeoutError, match=r"the thing.*ConnectionError: refused"):
        servers.wait_until(broken, 0.3, "the thing", interval=0.05)


def test_a_server_that_exits_at_start_is_reported(state_dir: Path) -> None:
    with pytest.raises(LaunchError, match="redis exited while starting"):
        servers.start_redis(state_dir, 70000)  # redis refuses an impossible port
