"""The judge on consumers' samples: records as requests, processing time as latency, and
the consumer-lag check (literal tables)."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from runbooks.core.analysis import (
    AVAILABILITY,
    CONSUMER_LAG,
    CONSUMER_METRICS,
    ERROR_RATE,
    METRICS,
    P95_LATENCY,
    Limits,
    VerdictPhase,
    assess,
    judge,
)
from runbooks.core.model import Bucket, Measurement, Phase, Sample, Weights
from stackspec.model import Color, Metrics, Thresholds

THRESHOLDS = Thresholds(min_requests=50, max_consumer_lag=1000, consumer_lag_increase_percent=50)
S, F, INC, E = Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR
# Processing times of a healthy consumer: most records in 2..4 ms.
HEALTHY: tuple[Bucket, ...] = ((0.002, 100.0), (0.004, 850.0), (0.008, 50.0), (float("inf"), 0.0))


def consumer(
    color: Color,
    records: float,
    failed: float = 0,
    lag: float | None = 5,
    latency: tuple[Bucket, ...] = HEALTHY,
    has_series: bool = True,
) -> Sample:
    return Sample(
        color,
        records,
        failed,
        None,
        at=10.0,
        latency=latency if records else (),
        has_series=has_series,
        kind="consumer",
        lag=lag,
        partitions=3,
    )


def phases(measurements: tuple[Measurement, ...]) -> dict[str, Phase]:
    return {m.metric: m.phase for m in measurements}


HALF = Weights(blue=50, green=50)


@pytest.mark.parametrize(
    ("case", "old", "new", "expected"),
    [
        (
            "healthy",
            consumer(Color.BLUE, 1000),
            consumer(Color.GREEN, 1000, lag=8),
            {ERROR_RATE: S, P95_LATENCY: S, AVAILABILITY: S, CONSUMER_LAG: S},
        ),
        (
            "5% of records fail processing",
            consumer(Color.BLUE, 1000),
            consumer(Color.GREEN, 1000, failed=50),
            {ERROR_RATE: F, P95_LATENCY: S, AVAILABILITY: F, CONSUMER_LAG: S},
        ),
        (
            "lagging: 5000 records behind while the old color keeps up",
            consumer(Color.BLUE, 1000, lag=10),
            consumer(Color.GREEN, 1000, lag=5000),
            {ERROR_RATE: S, P95_LATENCY: S, AVAILABILITY: S, CONSUMER_LAG: F},
        ),
        (
            "stuck: no record processed, lag growing (judged below minRequests)",
            consumer(Color.BLUE, 1000, lag=10),
            consumer(Color.GREEN, 0, lag=3000),
            {ERROR_RATE: INC, P95_LATENCY: INC, AVAILABILITY: INC, CONSUMER_LAG: F},
        ),
        (
            "the stream is behind on both colors (a burst): not the release",
            consumer(Color.BLUE, 1000, lag=4800),
            consumer(Color.GREEN, 1000, lag=5000),
            {ERROR_RATE: S, P95_LATENCY: S, AVAILABILITY: S, CONSUMER_LAG: S},
        ),
        (
            "lag above the old color's x1.5 but within maxConsumerLag",
            consumer(Color.BLUE, 1000, lag=10),
            consumer(Color.GREEN, 1000, lag=900),
            {ERROR_RATE: S, P95_LATENCY: S, AVAILABILITY: S, CONSUMER_LAG: S},
        ),
        (
            "no lag for the new color: inconclusive, never a pass",
            consumer(Color.BLUE, 1000),
            consumer(Color.GREEN, 1000, lag=None),
            {ERROR_RATE: S, P95_LATENCY: S, AVAILABILITY: S, CONSUMER_LAG: INC},
        ),
        (
            "above the limit, no lag on the old color to compare against",
            consumer(Color.BLUE, 1000, lag=None),
            consumer(Color.GREEN, 1000, lag=2000),
            {ERROR_RATE: S, P95_LATENCY: S, AVAILABILITY: S, CONSUMER_LAG: INC},
        ),
        (
            "processing 3x slower",
            consumer(Color.BLUE, 1000),
            consumer(
                Color.GREEN, 1000, latency=((0.008, 100.0), (0.016, 900.0), (float("inf"), 0.0))
            ),
            {ERROR_RATE: S, P95_LATENCY: F, AVAILABILITY: S, CONSUMER_LAG: S},
        ),
    ],
)
def test_consumers_are_judged_by_the_same_checks_plus_lag(
    case: str, old: Sample, new: Sample, expected: dict[str, Phase]
) -> None:
    measurements = judge(old, new, THRESHOLDS, 10.0, HALF)

    assert tuple(m.metric for m in measurements) == CONSUMER_METRICS, case
    assert phases(measurements) == expected, case


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            consumer(Color.BLUE, 1000),
            consumer(Color.GREEN, 0, lag=None, has_series=False),
            "no series for green although it has 50% of the partitions",
        ),
        (
            consumer(Color.BLUE, 0, lag=None, has_series=False),
            consumer(Color.GREEN, 1000),
            "no series for blue although it has 50% of the partitions",
        ),
        (
            consumer(Color.BLUE, 1000),
            Sample.failed(Color.GREEN, 10.0, "prometheus down", kind="consumer"),
            "could not measure green: prometheus down",
        ),
    ],
)
def test_a_consumer_color_with_partitions_but_no_series_or_no_answer_is_an_error(
    old: Sample, new: Sample, why: str
) -> None:
    measurements = judge(old, new, THRESHOLDS, 10.0, HALF)

    assert phases(measurements) == dict.fromkeys(CONSUMER_METRICS, E)
    assert all(why in m.message for m in measurements), measurements[0].message


def test_without_a_live_baseline_lag_is_judged_against_the_limit_alone() -> None:
    # The new color owns every partition: the old one's window is an earlier step's.
    earlier = consumer(Color.BLUE, 1000, lag=4000)
    behind, keeping_up = consumer(Color.GREEN, 1000, lag=4000), consumer(Color.GREEN, 1000, lag=20)
    all_new = Weights.all_on(Color.GREEN)

    [*_, failed] = judge(earlier, behind, THRESHOLDS, 10.0, all_new, live=False)
    [*_, passed] = judge(earlier, keeping_up, THRESHOLDS, 10.0, all_new, live=False)

    assert (failed.phase, passed.phase) == (F, S)
    assert "blue consumes nothing now" in failed.message


def test_lag_measurements_read_as_consumer_lag_in_records() -> None:
    [*_, lag] = judge(
        consumer(Color.BLUE, 1000, lag=10), consumer(Color.GREEN, 1000, lag=5000), THRESHOLDS, 10.0
    )
    [error_rate, *_] = judge(
        consumer(Color.BLUE, 0), consumer(Color.GREEN, 10), THRESHOLDS, 10.0, HALF
    )

    assert (lag.value, lag.threshold, lag.baseline) == (5000, 1000, 10)
    assert lag.message.startswith(
        "consumer lag 5000 records on green's worst partition vs baseline 10"
    )
    assert "maxConsumerLag (1000)" in lag.message and "x1.50" in lag.message
    assert "10 records to green < minRequests" in error_rate.message


def test_http_samples_get_no_lag_check() -> None:
    old, new = Sample(Color.BLUE, 1000, 0, 0.1, 10.0), Sample(Color.GREEN, 1000, 0, 0.1, 10.0)

    assert tuple(m.metric for m in judge(old, new, THRESHOLDS, 10.0)) == METRICS


def test_a_lagging_window_fails_the_step_like_any_failed_check() -> None:
    limits = Limits(failure_limit=0, consecutive_error_limit=2, inconclusive_limit=3)
    healthy = judge(consumer(Color.BLUE, 1000), consumer(Color.GREEN, 1000), THRESHOLDS, 1.0)
    lagging = judge(
        consumer(Color.BLUE, 1000), consumer(Color.GREEN, 1000, lag=9000), THRESHOLDS, 2.0
    )

    assert assess(healthy, limits).phase is VerdictPhase.SUCCESSFUL
    verdict = assess((*healthy, *lagging), limits)
    assert verdict.phase is VerdictPhase.FAILED
    assert verdict.message.startswith("consumer-lag: failed (1) > failureLimit (0)")


def test_samples_from_journals_written_before_consumers_still_load() -> None:
    adapter = TypeAdapter(Sample)
    old = {"color": "blue", "requests": 10, "errors": 0, "p95_seconds": None, "at": 1.0}
    new = consumer(Color.GREEN, 100, lag=12.5)

    assert adapter.validate_python(old).kind == "http"
    assert adapter.validate_python(old).lag is None
    assert adapter.validate_json(adapter.dump_json(new)) == new


@pytest.mark.parametrize(
    ("model", "document", "key", "says"),
    [
        (Thresholds, {"maxConsumerLag": -1}, "maxConsumerLag", "greater than or equal to 0"),
        (Thresholds, {"consumerLagIncreasePercent": 5000}, "consumerLagIncreasePercent", "1000"),
        (Metrics, {"consumers": {"provider": "cloudwatch"}}, "provider", "'prometheus' or 'nop'"),
    ],
)
def test_consumer_policy_values_are_validated(
    model: type[Thresholds] | type[Metrics], document: dict[str, object], key: str, says: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate_json(json.dumps(document))

    assert key in str(raised.value) and says in str(raised.value)


def test_consumer_policy_defaults() -> None:
    thresholds = Thresholds()

    assert (thresholds.max_consumer_lag, thresholds.consumer_lag_increase_percent) == (1000, 50)
    assert (Metrics().consumers.provider, Metrics().consumers.url) == (None, None)
