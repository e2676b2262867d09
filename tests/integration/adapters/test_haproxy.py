"""The haproxy router and haproxy-stats provider against a real haproxy and real backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.core.model import Color, Target, Weights
from runbooks.haproxy_runtime import HaproxyRuntime
from runbooks.metrics.haproxy_stats import HaproxyStatsMetrics
from runbooks.routers.haproxy import HaproxyRouter
from stackspec.errors import RouterError
from tests.integration.adapters.conftest import GREEN_FAIL_RATIO, Edge, Haproxy, send

pytestmark = pytest.mark.integration


def test_weights_change_live_and_traffic_follows(haproxy: Haproxy) -> None:
    router = HaproxyRouter(haproxy.socket_path)
    router.set_weights(haproxy.service, Weights(blue=75, green=25))

    assert router.get_weights(haproxy.service) == Weights(blue=75, green=25)
    counts = send(haproxy.frontend_url, 400)
    assert 80 <= counts["green"] <= 120, counts
    assert counts["blue"] + counts["green"] == 400, counts


def test_zero_weight_color_is_drained_not_cut(haproxy: Haproxy) -> None:
    router = HaproxyRouter(haproxy.socket_path)
    router.set_weights(haproxy.service, Weights(blue=50, green=50))
    router.set_weights(haproxy.service, Weights(blue=100, green=0))

    rows = HaproxyRuntime(haproxy.socket_path).show_servers_state(f"be_{haproxy.service}")
    admin = {row["srv_name"]: int(row["srv_admin_state"]) for row in rows}
    assert admin["green"] & 0x08, "green should be in forced drain"
    assert not admin["green"] & 0x01, "green must not be in maintenance"
    assert admin["blue"] == 0
    assert send(haproxy.frontend_url, 50)["green"] == 0


def test_ready_again_after_drain(haproxy: Haproxy) -> None:
    router = HaproxyRouter(haproxy.socket_path)
    router.set_weights(haproxy.service, Weights(blue=100, green=0))
    router.set_weights(haproxy.service, Weights(blue=0, green=100))

    assert router.get_weights(haproxy.service) == Weights(blue=0, green=100)
    assert send(haproxy.frontend_url, 40)["blue"] == 0


def test_unknown_service_is_a_router_error(haproxy: Haproxy) -> None:
    with pytest.raises(RouterError, match="be_no-such-service"):
        HaproxyRouter(haproxy.socket_path).set_weights("no-such-service", Weights(90, 10))


def test_bad_socket_path_is_a_router_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.sock"
    with pytest.raises(RouterError, match=r"nothing-here\.sock") as caught:
        HaproxyRouter(missing, timeout_seconds=0.5).get_weights("trading-api")
    assert "stats socket" in caught.value.hint


def test_stats_provider_sees_faulty_green(haproxy: Haproxy) -> None:
    HaproxyRouter(haproxy.socket_path).set_weights(haproxy.service, Weights(50, 50))
    metrics = HaproxyStatsMetrics(haproxy.socket_path)

    counts = send(haproxy.frontend_url, 200)
    green = metrics.sample(Target(haproxy.service, Color.GREEN), 30)
    blue = metrics.sample(Target(haproxy.service, Color.BLUE), 30)

    assert green.error is None and blue.error is None
    assert green.requests == counts["green"] == 100
    assert green.errors == counts["5xx"] == 100 * GREEN_FAIL_RATIO
    assert blue.requests == 100 and blue.errors == 0
    assert green.p95_seconds is not None and green.p95_seconds >= 0


def test_stats_provider_returns_deltas_between_calls(haproxy: Haproxy) -> None:
    HaproxyRouter(haproxy.socket_path).set_weights(haproxy.service, Weights(100, 0))
    metrics = HaproxyStatsMetrics(haproxy.socket_path)
    target = Target(haproxy.service, Color.BLUE)

    send(haproxy.frontend_url, 30)
    first = metrics.sample(target, 30)
    send(haproxy.frontend_url, 10)
    second = metrics.sample(target, 30)

    assert (first.requests, second.requests) == (30, 10)


def test_stats_provider_counts_connection_errors_as_the_colors_edge_errors(edge: Edge) -> None:
    """Green's port is dead: haproxy answers its requests 503 itself, after its retries."""
    metrics = HaproxyStatsMetrics(edge.socket_path)

    counts = send(edge.frontend_url, 20)
    green = metrics.sample(Target(edge.service, Color.GREEN), 30)
    blue = metrics.sample(Target(edge.service, Color.BLUE), 30)

    assert (counts["blue"], counts["5xx"]) == (10, 10), counts
    assert (green.error, green.requests, green.errors, green.edge_errors) == (None, 0, 0, 10)
    assert (green.total_errors, green.p95_seconds) == (10, None)
    assert (blue.requests, blue.errors, blue.edge_errors) == (10, 0, 0)


def test_stats_provider_without_haproxy_gives_failed_sample(tmp_path: Path) -> None:
    metrics = HaproxyStatsMetrics(tmp_path / "absent.sock", timeout_seconds=0.5)
    sample = metrics.sample(Target("trading-api", Color.GREEN), 30)
    assert sample.error is not None and "absent.sock" in sample.error
