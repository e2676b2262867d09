"""The prometheus provider against literal answers (httpx.MockTransport): which queries it
asks, and how their raw counters become a window's whole-number counts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from runbooks.core.model import Color, Target
from runbooks.metrics.prometheus import PrometheusMetrics, Span, fill_of, render
from stackspec.model import Queries

NOW = 1_700_000_010.4  # the provider's clock; windows end on the step before it
END = 1_700_000_010.0
TARGET = Target("api", Color.GREEN, "1.2.0")
Answers = Mapping[str, tuple[dict[str, float], dict[str, list[tuple[float, float]]]]]


def test_default_queries_are_raw_counters_filled_per_color_and_version() -> None:
    fill = fill_of(TARGET)
    queries = Queries()
    assert render(queries.requests, fill) == (
        'sum by (instance) (http_requests_total{service="api",color="green",version="1.2.0"})'
    )
    assert render(queries.errors, fill) == (
        "sum by (instance) (http_requests_total"
        '{service="api",color="green",version="1.2.0",code=~"5.."})'
    )
    assert render(queries.latency, fill) == (
        "sum by (instance, le) (http_request_duration_seconds_bucket"
        '{service="api",color="green",version="1.2.0"})'
    )
    assert render(queries.edge_errors, fill) == (
        'sum by (instance) ({__name__=~"haproxy_server_(connection|response)_errors_total",'
        'proxy="be_api",server="green"})'
    )


@pytest.mark.parametrize(
    ("end", "seconds", "step", "expected"),
    [
        (10.4, 5, 1, Span(5_000, 10_000, 1_000)),  # aligned on the step before now
        (10.0, 2.5, 1, Span(7_000, 10_000, 1_000)),  # at least the window, whole steps
        (100_000.0, 86_400, 1, Span(13_599_360, 99_999_360, 8_640)),  # <= 10,000 points
    ],
)
def test_span(end: float, seconds: float, step: float, expected: Span) -> None:
    assert Span.ending_at(end, seconds, step) == expected


def _vector(values: dict[str, float]) -> dict[str, Any]:
    result = [{"metric": {"le": k} if k else {}, "value": [0, str(v)]} for k, v in values.items()]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _matrix(series: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    result = [
        {"metric": {"le": k} if k else {}, "values": [[t, str(v)] for t, v in points]}
        for k, points in series.items()
    ]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _prometheus(answers: Answers, seen: list[httpx.Request]) -> Callable[..., httpx.Response]:
    """A Prometheus answering, per query kind (the metric name in it), the baseline as an
    instant vector and the window as a range matrix."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        query = request.url.params["query"]
        kind = next(k for k in answers if k in query)
        before, window = answers[kind]
        if request.url.path.endswith("/query_range"):
            return httpx.Response(200, json=_matrix(window))
        return httpx.Response(200, json=_vector(before))

    return handle


def _metrics(answers: Answers, seen: list[httpx.Request]) -> PrometheusMetrics:
    client = httpx.Client(transport=httpx.MockTransport(_prometheus(answers, seen)))
    return PrometheusMetrics("http://prom:9090", client=client, clock=lambda: NOW)


def test_window_counts_are_counter_deltas_with_restarts_and_new_series() -> None:
    answers: Answers = {
        # 100 -> 130 -> restart -> 10: 30 + 10 requests
        '5.."': ({"": 10}, {"": [(END - 2, 10), (END - 1, 14), (END, 3)]}),  # 4 + 3 errors
        "http_requests_total": ({"": 100}, {"": [(END - 2, 100), (END - 1, 130), (END, 10)]}),
        "bucket": (
            {"0.01": 50, "0.02": 90, "+Inf": 100},
            {
                "0.01": [(END - 2, 50), (END, 80)],
                "0.02": [(END - 2, 90), (END, 130)],
                "+Inf": [(END - 2, 100), (END, 140)],
            },
        ),
        "haproxy": ({}, {"": [(END - 1, 2), (END, 3)]}),  # born in the window: from 0
    }
    sample = _metrics(answers, []).sample(TARGET, 2)
    assert (sample.error, sample.has_series) == (None, True)
    assert (sample.requests, sample.errors, sample.edge_errors) == (40, 7, 3)
    assert sample.latency == ((0.01, 30), (0.02, 10), (math.inf, 0))
    assert sample.p95_seconds == pytest.approx(0.018)  # rank 38: 8 of 10 into 0.01..0.02
    assert (sample.total_requests, sample.total_errors) == (43, 10)


def test_baseline_is_the_last_value_before_the_window_and_the_window_a_range() -> None:
    seen: list[httpx.Request] = []
    answers: Answers = {"http_requests_total": ({}, {}), "haproxy": ({}, {})}
    _metrics(answers, seen).sample(TARGET, 2)
    baseline, window = (r for r in seen if "http_requests_total" in r.url.params["query"])
    assert baseline.url.path == "/api/v1/query"
    assert baseline.url.params["query"] == (
        "last_over_time((sum by (instance) (http_requests_total"
        '{service="api",color="green",version="1.2.0"}))[300s:1000ms])'
    )
    assert baseline.url.params["time"] == "1700000008.000"
    assert window.url.path == "/api/v1/query_range"
    assert (window.url.params["start"], window.url.params["end"]) == (
        "1700000008.000",
        "1700000010.000",
    )
    assert window.url.params["step"] == "1000ms"


def test_no_series_at_all_is_not_zero_traffic_and_edge_errors_still_count() -> None:
    answers: Answers = {
        "http_requests_total": ({"": 500}, {}),  # it had series once: gone before the window
        "haproxy": ({"": 4}, {"": [(END - 2, 4), (END, 9)]}),  # the router saw it fail
    }
    sample = _metrics(answers, []).sample(TARGET, 2)
    assert (sample.error, sample.has_series) == (None, False)
    assert (sample.requests, sample.errors, sample.latency, sample.p95_seconds) == (
        0,
        0,
        (),
        None,
    )
    assert (sample.edge_errors, sample.error_rate) == (5, 1.0)


def test_series_at_zero_are_zero_traffic_with_no_latency() -> None:
    answers: Answers = {
        "http_requests_total": ({"": 0.0}, {"": [(END - 2, 0.0), (END, 0.0)]}),
        "bucket": ({"+Inf": 0.0}, {"+Inf": [(END, 0.0)]}),
        "haproxy": ({}, {}),
    }
    sample = _metrics(answers, []).sample(TARGET, 2)
    assert (sample.has_series, sample.requests, sample.p95_seconds) == (True, 0, None)
    assert sample.latency == ((math.inf, 0),)


def test_empty_edge_template_skips_the_router_query() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(_prometheus({"http_requests_total": ({}, {})}, seen))
    )
    metrics = PrometheusMetrics("http://p", Queries(edge_errors=""), client=client)
    assert metrics.sample(TARGET, 2).edge_errors == 0
    assert not any("haproxy" in r.url.params["query"] for r in seen)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(400, json={"status": "error", "error": "parse error"}), "parse error"),
        (httpx.Response(502, text="bad gateway"), "failed"),
        (
            httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar"}}),
            "vector",
        ),
    ],
)
def test_a_bad_answer_is_a_failed_sample_naming_the_query(
    answer: httpx.Response, message: str
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _: answer))
    sample = PrometheusMetrics("http://p", client=client, clock=lambda: NOW).sample(TARGET, 2)
    assert sample.error is not None and message in sample.error
    assert "http_requests_total" in sample.error


def test_a_template_with_an_unknown_field_is_a_failed_sample() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(500)))
    metrics = PrometheusMetrics("http://p", Queries(requests='x{a="$nope"}'), client=client)
    sample = metrics.sample(TARGET, 2)
    assert sample.error is not None and "$nope" in sample.error
