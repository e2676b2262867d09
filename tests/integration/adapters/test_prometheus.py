"""The prometheus metric provider against a real prometheus scraping real exporters: the
sample backend, and haproxy's own exporter for the failures the services never see."""

from __future__ import annotations

import math
import time

import pytest

from runbooks.core.model import Color, Sample, Target
from runbooks.metrics.prometheus import PrometheusMetrics
from stackspec.model import Queries
from tests.integration.adapters.conftest import (
    PROM_FAIL_RATIO,
    PROM_LATENCY_MS,
    PROM_SERVICE,
    Edge,
    Prometheus,
    send,
)
from tests.integration.adapters.processes import free_port, wait_until

pytestmark = pytest.mark.integration

SENT = 40


def _since(metrics: PrometheusMetrics, target: Target, started: float) -> Sample:
    """A sample whose window starts a second before `started` and ends now."""
    return metrics.sample(target, time.time() - started + 1)


def _wait_for_quiet(metrics: PrometheusMetrics, target: Target) -> None:
    """Nothing counted in the last 3 s (1 s scrapes): earlier tests' traffic is all scraped
    before a window starts, so the window holds only what the test sends."""
    wait_until(lambda: metrics.sample(target, 3).requests == 0, "earlier traffic scraped", 30)


def test_a_window_counts_exactly_the_requests_sent(prometheus: Prometheus) -> None:
    metrics = PrometheusMetrics(prometheus.url)
    target = Target(PROM_SERVICE, Color.GREEN)
    _wait_for_quiet(metrics, target)
    started = time.time()
    send(prometheus.backend_url, SENT)
    samples: list[Sample] = []

    def scraped_all() -> bool:
        samples.append(_since(metrics, target, started))
        return samples[-1].requests >= SENT

    wait_until(scraped_all, f"prometheus to count {SENT} requests", 30)
    sample = samples[-1]
    assert (sample.error, sample.has_series, sample.edge_errors) == (None, True, 0)
    # whole numbers, exactly: no extrapolation (increase() gave 40-46 here)
    assert (sample.requests, sample.errors) == (SENT, SENT * PROM_FAIL_RATIO)
    assert sum(count for _, count in sample.latency) == SENT
    assert sample.p95_seconds is not None
    assert PROM_LATENCY_MS / 1000 < sample.p95_seconds <= 0.075  # the backend's 50-75 ms bucket


def test_windows_that_meet_count_each_request_once(prometheus: Prometheus) -> None:
    """Two windows side by side (whole seconds, as the provider aligns them to its 1 s
    step) add up to the requests sent: the boundary's scrape is in exactly one of them."""
    metrics = PrometheusMetrics(prometheus.url)
    target = Target(PROM_SERVICE, Color.GREEN)
    _wait_for_quiet(metrics, target)
    start = math.floor(time.time()) - 1
    send(prometheus.backend_url, SENT // 2)
    boundary = math.floor(time.time())
    send(prometheus.backend_url, SENT // 2)
    wait_until(lambda: _since(metrics, target, start).requests >= SENT, "all counted", 30)
    end = math.floor(time.time())

    def window(first: int, last: int) -> float:
        at_last = PrometheusMetrics(prometheus.url, clock=lambda: last)
        return at_last.sample(target, last - first).requests

    assert window(start, end) == SENT
    assert window(start, boundary) + window(boundary, end) == SENT


def test_a_color_without_series_has_no_series_not_zero_traffic(prometheus: Prometheus) -> None:
    metrics = PrometheusMetrics(prometheus.url)
    for target in (
        Target(PROM_SERVICE, Color.BLUE),  # the backend exports green only
        Target(PROM_SERVICE, Color.GREEN, "9.9.9"),  # not the version that runs
        Target("no-such", Color.GREEN),
    ):
        sample = metrics.sample(target, 30)
        assert (sample.error, sample.has_series, sample.requests, sample.p95_seconds) == (
            None,
            False,
            0,
            None,
        ), target


def test_connection_errors_to_a_dead_color_are_its_edge_errors(edge: Edge) -> None:
    metrics = PrometheusMetrics(edge.prometheus_url)
    green, blue = Target(edge.service, Color.GREEN), Target(edge.service, Color.BLUE)
    started = time.time()
    counts = send(edge.frontend_url, 20)  # round robin: every other request to dead green
    assert (counts["blue"], counts["5xx"]) == (10, 10), counts
    samples: list[Sample] = []

    def counted() -> bool:
        samples.append(_since(metrics, green, started))
        return samples[-1].edge_errors >= 10

    wait_until(counted, "haproxy's connection errors for green to be scraped", 30)
    dead = samples[-1]
    # green exports nothing (it is not running) but the users' failures are its own
    assert (dead.error, dead.has_series, dead.requests) == (None, False, 0)
    assert (dead.edge_errors, dead.total_requests, dead.total_errors) == (10, 10, 10)
    wait_until(lambda: _since(metrics, blue, started).requests >= 10, "blue's requests", 30)
    alive = _since(metrics, blue, started)
    assert (alive.requests, alive.errors, alive.edge_errors) == (10, 0, 0)


def test_unreachable_prometheus_gives_failed_sample() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    sample = PrometheusMetrics(url, timeout_seconds=1).sample(Target("x", Color.GREEN), 30)
    assert sample.error is not None and url in sample.error


def test_bad_query_gives_failed_sample(prometheus: Prometheus) -> None:
    metrics = PrometheusMetrics(prometheus.url, queries=Queries(requests="sum(("))
    sample = metrics.sample(Target(PROM_SERVICE, Color.GREEN), 30)
    assert sample.error is not None and "sum((" in sample.error
