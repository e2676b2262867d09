"""The whole local stack: up, traffic through the edge, status, idempotent up, down."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from runbooks.local import stack
from runbooks.local.endpoints import LocalEndpoints, endpoints
from runbooks.local.isolated import free_local_ports
from runbooks.local.process import pid_alive, port_open, wait_until
from runbooks.local.services import deploy_color
from samples.options import Faults
from stackspec.model import Color, LocalPorts, StackSettings
from stackspec.stackfile import load_stack

pytestmark = pytest.mark.integration


def local_settings_on_free_ports() -> StackSettings:
    """The local stack file's settings, every port moved to a free one."""
    settings = load_stack("local")
    assert settings.local is not None
    ports = LocalPorts.model_validate(free_local_ports())
    return settings.model_copy(update={"local": settings.local.model_copy(update={"ports": ports})})


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[StackSettings, LocalEndpoints, stack.StackStatus]]:
    """A stack brought up once for this module, and always torn down."""
    state = Path(tempfile.mkdtemp(prefix="local-stack-test-"))
    state.chmod(0o755)
    settings = local_settings_on_free_ports()
    try:
        status = stack.up(settings, state)
        yield settings, endpoints(settings, state), status
    finally:
        stack.down(state)
        shutil.rmtree(state, ignore_errors=True)


def test_up_reports_every_part_healthy(
    running: tuple[StackSettings, LocalEndpoints, stack.StackStatus],
) -> None:
    _, ends, status = running
    names = {p.name for p in status.parts}
    assert names == {
        "postgres",
        "redis",
        "broker",
        "haproxy",
        "varnish",
        "prometheus",
        "trading-api-blue",
        "trading-api-green",
        "market-data-blue",
        "market-data-green",
    }
    assert status.healthy, [p for p in status.parts if not p.healthy]
    assert stack.status(ends.state_dir).healthy


def test_a_quote_goes_through_the_edge_to_blue_and_is_cached(
    running: tuple[StackSettings, LocalEndpoints, stack.StackStatus],
) -> None:
    _, ends, _ = running
    first = httpx.get(f"{ends.edge_url}/quotes/MSFT")
    second = httpx.get(f"{ends.edge_url}/quotes/MSFT")
    assert first.status_code == 200
    assert first.headers["x-color"] == "blue"
    assert first.headers["x-version"] == "1.0.0"
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.json() == first.json()


def test_purge_is_allowed_from_loopback(
    running: tuple[StackSettings, LocalEndpoints, stack.StackStatus],
) -> None:
    _, ends, _ = running
    httpx.get(f"{ends.edge_url}/quotes/IBM")
    assert httpx.request("PURGE", f"{ends.edge_url}/quotes/IBM").status_code == 200
    assert httpx.get(f"{ends.edge_url}/quotes/IBM").headers["x-cache"] == "MISS"


def test_an_order_lands_in_postgres_and_is_consumed(
    running: tuple[StackSettings, LocalEndpoints, stack.StackStatus],
) -> None:
    _, ends, _ = running
    placed = httpx.post(
        f"{ends.haproxy_url}/orders",
        json={"symbol": "AAPL", "side": "buy", "quantity": 3, "price": 101.5},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]

    def fills() -> set[str]:
        with psycopg.connect(ends.postgres_dsn) as conn:
            rows = conn.execute("SELECT color FROM fills WHERE order_id = %s", (order_id,))
            return {row[0] for row in rows.fetchall()}

    with psycopg.connect(ends.postgres_dsn) as conn:
        row = conn.execute("SELECT symbol, color FROM orders WHERE id = %s", (order_id,))
        assert row.fetchone() == ("AAPL", "blue")
    # One offset group, every partition on the active color (runbooks.partitions): one fill.
    wait_until(lambda: fills() == {"blue"}, 30, f"the fill of order {order_id}")


def test_up_again_leaves_running_parts_alone(
    running: tuple[StackSettings, LocalEndpoints, stack.StackStatus],
) -> None:
    settings, ends, _ = running
    before = stack.status(ends.state_dir)
    after = stack.up(settings, ends.state_dir)
    assert {p.name: p.pid for p in after.parts} == {p.name: p.pid for p in before.parts}


def test_deploy_color_puts_a_new_version_on_green(
    running: tuple[StackSettings, LocalEndpoints, stack.StackStatus],
) -> None:
    settings, ends, _ = running
    server = deploy_color(
        settings, ends.state_dir, "trading-api", Color.GREEN, "1.1.0", Faults(error_rate=1.0)
    )
    url = ends.service_url("trading-api", Color.GREEN)
    answer = httpx.get(f"{url}/quotes/AAPL")
    assert (answer.status_code, answer.headers["x-version"]) == (500, "1.1.0")
    assert server.alive()
    by_name = {p.name: p for p in stack.status(ends.state_dir).parts}
    assert by_name["trading-api-green"].pid == server.pid


def test_down_leaves_no_process_and_no_listener() -> None:
    state = Path(tempfile.mkdtemp(prefix="local-stack-test-"))
    state.chmod(0o755)
    settings = local_settings_on_free_ports()
    status = stack.up(settings, state)
    stopped = stack.down(state)
    assert sorted(stopped) == sorted(p.name for p in status.parts)
    assert not any(pid_alive(p.pid) for p in status.parts if p.pid is not None)
    assert not any(port_open(p.port) for p in status.parts)
    assert stack.status(state).parts == ()
