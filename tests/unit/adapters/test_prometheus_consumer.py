"""The prometheus provider on consumers: Prometheus' recorded answers (a real market-data
pair, recorded/prometheus_consumer.json) become consumer Samples the judge fails on 5 %
processing errors; literal answers for lag, partitions, last syncs and missing series."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbooks.core.analysis import AVAILABILITY, CONSUMER_LAG, ERROR_RATE, judge
from runbooks.core.model import Phase, Sample, Target, Weights
from runbooks.metrics.prometheus import (
    PrometheusMetrics,
    fill_of,
    last_total,
    render,
    stale_syncs,
    stayed_behind,
)
from stackspec.model import Color, ConsumerQueries, Thresholds

RECORDED = json.loads((Path(__file__).parent / "recorded" / "prometheus_consumer.json").read_text())
SERVICE = "market-data"
BLUE = Target(SERVICE, Color.BLUE, "1.0.0")
GREEN = Target(SERVICE, Color.GREEN, "1.1.0")


def replaying(answers: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """Prometheus answering each (endpoint, query) as recorded; anything else is a 400.
    The recording predates the last-sync gauge: its query is answered with one member that
    synced at each point (not recorded)."""
    by_query = {(a["endpoint"], a["params"]["query"]): a["body"] for a in answers}

    def handle(request: httpx.Request) -> httpx.Response:
        if "consumer_last_sync_timestamp_seconds" in request.url.params["query"]:
            start, end = (float(request.url.params[k]) for k in ("start", "end"))
            return httpx.Response(200, json=_synced(start, end, lag=0.5))
        key = (request.url.path.rsplit("/", 1)[1], request.url.params["query"])
        if key not in by_query:
            return httpx.Response(400, json={"status": "error", "error": f"unrecorded {key}"})
        return httpx.Response(200, json=by_query[key])

    return handle


def provider(
    handler: Callable[[httpx.Request], httpx.Response], now: float, gauge_seconds: float = 0.0
) -> PrometheusMetrics:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return PrometheusMetrics(
        "http://prom:9090",
        client=client,
        clock=lambda: now,
        consumers={SERVICE},
        gauge_seconds=gauge_seconds,
    )


def recorded_samples() -> tuple[Sample, Sample]:
    metrics = provider(replaying(RECORDED["answers"]), RECORDED["now"], RECORDED["gauge_seconds"])
    window = RECORDED["window_seconds"]
    return metrics.sample(BLUE, window), metrics.sample(GREEN, window)


def test_default_consumer_queries_read_the_consumers_metrics_per_color_and_version() -> None:
    fill, queries = fill_of(GREEN), ConsumerQueries()
    labels = '{service="market-data",color="green",version="1.1.0"}'

    assert render(queries.processed, fill) == f"sum by (instance) (messages_consumed_total{labels})"
    assert render(queries.errors, fill) == f"sum by (instance) (consumer_errors_total{labels})"
    assert render(queries.latency, fill) == (
        f"sum by (instance, le) (message_processing_seconds_bucket{labels})"
    )
    assert render(queries.lag, fill) == f"max by (topic, partition) (consumer_lag{labels})"
    assert render(queries.partitions, fill) == f"sum(consumer_partitions{labels})"
    assert render(queries.sync_age, fill) == (
        f"max by (instance) (timestamp(consumer_last_sync_timestamp_seconds{labels})"
        f" - consumer_last_sync_timestamp_seconds{labels})"
    )


def test_recorded_answers_become_consumer_samples_in_records() -> None:
    blue, green = recorded_samples()

    for sample in (blue, green):
        assert (sample.error, sample.has_series, sample.kind) == (None, True, "consumer")
        assert sample.partitions == 3  # 3 of the topic's 6 each
        # market-data times the records it processed OK
        assert sum(n for _, n in sample.latency) == sample.requests - sample.errors
        assert sample.p95_seconds is not None and sample.p95_seconds < 0.01
    # processed + failed; failed
    assert (blue.requests, blue.errors) == (606, 0)
    assert (green.requests, green.errors) == (613, 32)
    # each partition's lowest lag over the last 5 s (3, 5, 3 records), the largest of those
    assert (blue.lag, green.lag) == (5, 5)


def test_the_judge_fails_the_recorded_consumer_with_5_percent_processing_errors() -> None:
    blue, green = recorded_samples()

    measured = judge(blue, green, Thresholds(min_requests=20), 1.0, Weights(blue=50, green=50))

    phases = {m.metric: m.phase for m in measured}
    assert phases[ERROR_RATE] is Phase.FAILED and phases[AVAILABILITY] is Phase.FAILED
    assert phases[CONSUMER_LAG] is Phase.SUCCESSFUL  # it keeps up; it just fails records
    assert "32/613" in measured[0].message


def _matrix(series: Mapping[str, list[tuple[float, float]]]) -> dict[str, Any]:
    result = [
        {"metric": {"partition": k}, "values": [[t, str(v)] for t, v in points]}
        for k, points in series.items()
    ]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _synced(start: float, end: float, lag: float, hung_at: float | None = None) -> dict[str, Any]:
    """One member's sync age over [start, end] at 1 s steps: `lag` seconds, growing from
    `hung_at` on (its loop hung while /metrics still answers)."""
    points = []
    t = start
    while t <= end:
        age = lag if hung_at is None or t < hung_at else t - hung_at + lag
        points.append([t, str(age)])
        t += 1
    result = [{"metric": {"instance": "127.0.0.1:29211"}, "values": points}]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _empty(kind: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": kind, "result": []}}


def only_gauges(lag: Mapping[str, list[tuple[float, float]]]) -> Callable[..., httpx.Response]:
    """No counter series at all; `lag` for the lag gauge, one partition owned."""

    def handle(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json=_empty("vector"))
        if "consumer_lag" in query:
            return httpx.Response(200, json=_matrix(lag))
        if "consumer_partitions" in query and lag:
            return httpx.Response(200, json=_matrix({"": [(9.0, 1), (10.0, 1)]}))
        return httpx.Response(200, json=_empty("matrix"))

    return handle


def test_a_stuck_consumer_has_no_records_but_its_lag_is_measured() -> None:
    lag = {"0": [(8.0, 400), (9.0, 700), (10.0, 1000)]}

    stuck = provider(only_gauges(lag), 10.4).sample(GREEN, 2)

    assert (stuck.has_series, stuck.requests, stuck.errors) == (True, 0, 0)
    assert (stuck.lag, stuck.partitions, stuck.kind) == (400, 1, "consumer")


def test_a_consumer_color_without_any_series_says_so() -> None:
    nothing = provider(only_gauges({}), 10.4).sample(GREEN, 2)

    assert (nothing.has_series, nothing.error, nothing.kind, nothing.lag) == (
        False,
        None,
        "consumer",
        None,
    )


def test_a_prometheus_failure_is_a_failed_consumer_sample() -> None:
    down = provider(lambda _: httpx.Response(503, text="unavailable"), 10.4).sample(GREEN, 2)

    assert down.error is not None and down.kind == "consumer"


@pytest.mark.parametrize(
    ("series", "behind", "owned"),
    [
        ({}, None, None),
        ({"a": [(1.0, 10), (2.0, 30)]}, 10, 30),
        # a spiked (a hand-over) and came back to 10; b never went below 5
        ({"a": [(1.0, 50), (2.0, 10)], "b": [(1.0, 5), (2.0, 30)]}, 10, 40),
        # b ended at t=1 (handed over): still judged, gone from the total at the last point
        ({"a": [(1.0, 2), (2.0, 2)], "b": [(1.0, 4)]}, 4, 2),
        # falling behind: its lowest is its first
        ({"a": [(1.0, 100), (2.0, 200), (3.0, 300)], "b": [(3.0, 0)]}, 100, 300),
    ],
)
def test_lag_is_the_partition_that_stayed_furthest_behind_and_partitions_the_last_total(
    series: dict[str, list[tuple[float, float]]], behind: float | None, owned: float | None
) -> None:
    labelled = {(("partition", k),): points for k, points in series.items()}

    assert stayed_behind(labelled) == behind
    assert last_total(labelled) == owned


def test_gauges_are_read_over_the_last_gauge_seconds_of_the_window() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return only_gauges({})(request)

    provider(handle, 100.4, gauge_seconds=5).sample(GREEN, 60)

    spans = {
        name: (r.url.params["start"], r.url.params["end"])
        for r in seen
        for name in ("consumer_lag", "consumer_partitions", "messages_consumed_total")
        if r.url.path.endswith("/query_range") and name in r.url.params["query"]
    }
    # the gauges: the last 5 s; the counters: the whole window
    assert spans["consumer_lag"] == spans["consumer_partitions"] == ("95.000", "100.000")
    assert spans["messages_consumed_total"] == ("40.000", "100.000")


def hung_after(hung_at: float) -> Callable[[httpx.Request], httpx.Response]:
    """A healthy-looking consumer (records, one partition, no lag) whose loop hung at
    `hung_at`: its counters and gauges keep their last values."""

    def handle(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        if "consumer_last_sync_timestamp_seconds" in query:
            start, end = (float(request.url.params[k]) for k in ("start", "end"))
            return httpx.Response(200, json=_synced(start, end, 0.5, hung_at))
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json=_empty("vector"))
        return only_gauges({"0": [(95.0, 0), (100.0, 0)]})(request)

    return handle


@pytest.mark.parametrize(
    ("hung_at", "failed"),
    [
        (None, False),
        (95.0, False),  # 5.5 s ago: within the heartbeat TTL
        (80.0, True),  # 20.5 s without a sync: the engine took it for dead
    ],
)
def test_a_consumer_whose_last_sync_is_stale_is_an_error_measurement(
    hung_at: float | None, failed: bool
) -> None:
    sample = provider(hung_after(hung_at) if hung_at else hung_after(1e12), 100.4, 5).sample(
        GREEN, 30
    )

    assert sample.kind == "consumer"
    if failed:
        assert sample.error is not None
        assert "consumer loop not syncing" in sample.error and "127.0.0.1:29211" in sample.error
    else:
        assert sample.error is None and sample.partitions == 1


@pytest.mark.parametrize(
    ("series", "stale"),
    [
        ({}, []),
        ({"a": [(100.0, 0.5)]}, []),
        ({"a": [(100.0, 10.0)]}, []),  # exactly the limit
        ({"a": [(90.0, 20.0), (100.0, 1.0)]}, []),  # stale once, synced since
        ({"a": [(100.0, 11.0)], "b": [(100.0, 1.0)]}, ["instance=a had not synced for 11s at 100"]),
        ({"a": [(50.0, 40.0)]}, ["instance=a had not synced for 40s at 50"]),  # ended stale
    ],
)
def test_stale_syncs_are_the_members_whose_last_sync_age_is_above_the_limit(
    series: dict[str, list[tuple[float, float]]], stale: list[str]
) -> None:
    labelled = {frozenset({("instance", k)}): points for k, points in series.items()}

    assert stale_syncs(labelled, 10.0) == stale
