"""The prometheus metric provider against a real prometheus scraping a real backend."""

from __future__ import annotations

import pytest

from runbooks.core.model import Color, Sample, Target
from runbooks.metrics.prometheus import PrometheusMetrics
from tests.integration.adapters.conftest import (
    PROM_FAIL_RATIO,
    PROM_LATENCY_MS,
    PROM_SERVICE,
    Prometheus,
    send,
)
from tests.integration.adapters.processes import free_port, wait_until

pytestmark = pytest.mark.integration

SENT = 40


def test_sample_matches_the_traffic_generated(prometheus: Prometheus) -> None:
    """increase() extrapolates up to one scrape interval past the last scrape, so the count
    overshoots while the series is young; it is polled until it settles within 15%."""
    metrics = PrometheusMetrics(prometheus.url)
    target = Target(PROM_SERVICE, Color.GREEN)
    send(prometheus.backend_url, SENT)
    samples: list[Sample] = []

    def scraped_all() -> bool:
        samples.append(metrics.sample(target, 120))
        return SENT <= samples[-1].requests <= SENT * 1.15

    wait_until(scraped_all, f"prometheus to count {SENT} requests within 15%", 30)
    sample = samples[-1]
    assert sample.error is None
    assert sample.requests == pytest.approx(SENT, rel=0.15)
    assert sample.errors == pytest.approx(SENT * PROM_FAIL_RATIO, rel=0.15)
    assert sample.p95_seconds is not None
    assert PROM_LATENCY_MS / 1000 < sample.p95_seconds <= 0.1  # the 0.05..0.1 buckets


def test_unknown_service_has_zero_requests_not_an_error(prometheus: Prometheus) -> None:
    sample = PrometheusMetrics(prometheus.url).sample(Target("no-such", Color.BLUE), 30)
    assert (sample.error, sample.requests, sample.errors, sample.p95_seconds) == (
        None,
        0,
        0,
        None,
    )


def test_unreachable_prometheus_gives_failed_sample() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    sample = PrometheusMetrics(url, timeout_seconds=1).sample(Target("x", Color.GREEN), 30)
    assert sample.error is not None and url in sample.error


def test_bad_query_gives_failed_sample(prometheus: Prometheus) -> None:
    from infra.settings import Queries

    metrics = PrometheusMetrics(prometheus.url, queries=Queries(requests="sum(("))
    sample = metrics.sample(Target(PROM_SERVICE, Color.GREEN), 30)
    assert sample.error is not None and "sum((" in sample.error
