"""The http-probe metric provider against real backend processes."""

from __future__ import annotations

import pytest

from runbooks.core.model import Color, Target
from runbooks.metrics.http_probe import HttpProbeMetrics
from tests.integration.adapters.processes import backend, free_port

pytestmark = pytest.mark.integration


def test_probe_counts_5xx_and_measures_latency() -> None:
    with backend("quotes", "green", fail_ratio=0.25, latency_ms=30) as port:
        metrics = HttpProbeMetrics(url=f"http://127.0.0.1:{port}/{{service}}/{{color}}", probes=20)
        sample = metrics.sample(Target("quotes", Color.GREEN), 30)

    assert (sample.error, sample.requests, sample.errors) == (None, 20, 5)
    assert sample.p95_seconds is not None and 0.03 <= sample.p95_seconds < 1


def test_unreachable_color_counts_every_probe_as_error() -> None:
    urls = {"quotes/blue": f"http://127.0.0.1:{free_port()}/"}
    metrics = HttpProbeMetrics(urls=urls, probes=3, timeout_seconds=0.5)
    sample = metrics.sample(Target("quotes", Color.BLUE), 30)
    assert (sample.requests, sample.errors) == (3, 3)


def test_color_without_url_gives_failed_sample() -> None:
    metrics = HttpProbeMetrics(urls={"quotes/blue": "http://127.0.0.1:1/"})
    sample = metrics.sample(Target("quotes", Color.GREEN), 30)
    assert sample.error is not None and "quotes/green" in sample.error
