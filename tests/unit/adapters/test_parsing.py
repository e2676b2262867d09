"""The adapters' pure parts, on literal inputs in the shapes the backends answer."""

from __future__ import annotations

import pytest

from runbooks.core.model import Color, Target, Weights
from runbooks.haproxy_runtime import parse_csv_table
from runbooks.metrics.cloudwatch import dimension_of, period_seconds
from runbooks.metrics.haproxy_stats import Counters, delta_sample, snapshot
from runbooks.metrics.http_probe import percentile
from runbooks.metrics.prometheus import (
    QueryFailed,
    parse_matrix,
    parse_vector,
    prometheus_duration,
)
from runbooks.routers.kubernetes_route import route_weights, weighted_rules
from stackspec.errors import RouterError

SHOW_STAT = """\
# pxname,svname,req_tot,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,econ,eresp,rtime,
fe_main,FRONTEND,40,0,35,0,0,5,0,,,,
be_api,green,,0,15,0,0,5,0,1,0,12,
be_api,BACKEND,40,0,35,0,0,5,0,1,0,9,
"""
TARGET = Target("api", Color.GREEN)


def test_show_stat_snapshot_keeps_server_rows_only() -> None:
    counters = snapshot(parse_csv_table(SHOW_STAT))
    # econ/eresp are HAProxy's own failures: not in the server's hrsp_*, edge errors apart
    assert counters == {
        ("be_api", "green"): Counters(requests=20, errors=5, edge_errors=1, rtime_ms=12)
    }


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (Counters(10, 1, 0, 5), Counters(30, 4, 2, 20), (20, 3, 2, 0.02)),
        (Counters(10, 1, 2, 5), Counters(10, 1, 2, 20), (0, 0, 0, None)),
        (Counters(500, 9, 3, 5), Counters(30, 2, 1, 20), (30, 2, 1, 0.02)),  # restarted
        (Counters(10, 1, 9, 5), Counters(12, 1, 4, 20), (12, 1, 4, 0.02)),  # edge went down
    ],
)
def test_haproxy_deltas(
    before: Counters, after: Counters, expected: tuple[float, float, float, float | None]
) -> None:
    sample = delta_sample(TARGET, before, after, at=1.0)
    assert (sample.requests, sample.errors, sample.edge_errors, sample.p95_seconds) == expected
    assert sample.latency == ()  # haproxy keeps no per-request distribution


def test_prometheus_answers() -> None:
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "x", "instance": "a"}, "value": [1.7e9, "12"]},
                {"metric": {"instance": "b"}, "value": [1.7e9, "NaN"]},
            ],
        },
    }
    assert parse_vector(vector) == {frozenset({("instance", "a")}): 12.0}
    matrix = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {"le": "+Inf"}, "values": [[1.7e9, "1"], [1.7e9 + 1, "3"]]}],
        },
    }
    assert parse_matrix(matrix) == {frozenset({("le", "+Inf")}): [(1.7e9, 1.0), (1.7e9 + 1, 3.0)]}
    with pytest.raises(QueryFailed, match="expected a matrix"):
        parse_matrix(vector)
    with pytest.raises(QueryFailed, match="expected a vector"):
        parse_vector(matrix)


@pytest.mark.parametrize(("seconds", "text"), [(30, "30s"), (0.2, "1s"), (90.5, "91s")])
def test_prometheus_durations(seconds: float, text: str) -> None:
    assert prometheus_duration(seconds) == text


def test_nearest_rank_percentile() -> None:
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19.0
    assert percentile([0.3], 0.95) == 0.3


def test_cloudwatch_dimensions_and_periods() -> None:
    lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/trading/50dc6c"
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-green/73e2d6"
    assert dimension_of(lb) == "app/trading/50dc6c"
    assert dimension_of(tg) == "targetgroup/api-green/73e2d6"
    assert (period_seconds(30), period_seconds(60), period_seconds(61)) == (60, 60, 120)


def _route(*refs: dict[str, object]) -> dict[str, object]:
    return {"spec": {"rules": [{"backendRefs": list(refs)}]}}


def test_route_weights_default_to_one_as_in_the_gateway_api() -> None:
    route = _route({"name": "api-blue"}, {"name": "api-green"})
    assert route_weights(route, "api") == Weights(50, 50)


def test_weighted_rules_need_both_colors() -> None:
    route = _route({"name": "api-blue", "weight": 1}, {"name": "api-green", "weight": 0})
    rules = weighted_rules(route, "api", Weights(25, 75))
    assert [r["weight"] for r in rules[0]["backendRefs"]] == [25, 75]
    with pytest.raises(RouterError, match="no rule with backendRefs"):
        weighted_rules(_route({"name": "api-blue"}), "api", Weights(25, 75))
