"""Both judges replayed over literal windows, and the recording's JSON round trip."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.judges import (
    FlaggerPolicy,
    Verdict,
    Window,
    canary_requests_until,
    flagger_check,
    replay_flagger,
    replay_ours,
    requests_to_detect,
    sample_from_json,
    sample_to_json,
)
from runbooks.core.analysis import Limits
from runbooks.core.model import Sample
from runbooks.core.state import SamplePair
from stackspec.model import Color, Thresholds

FAST = ((0.002, 990.0), (0.005, 10.0), (math.inf, 0.0))  # p99 under 5 ms
LIMITS = Limits(failure_limit=0, consecutive_error_limit=3, inconclusive_limit=5)
THRESHOLDS = Thresholds()


def sample(color: Color, requests: float, errors: float, at: float = 1.0, **kw: object) -> Sample:
    latency = kw.pop("latency", FAST)
    return Sample(color, requests, errors, None, at, latency=latency, **kw)  # type: ignore[arg-type]


def window(errors_new: float, step: int = 0, at: float = 1.0, requests: float = 1000) -> Window:
    pair = SamplePair(
        sample(Color.BLUE, requests, 0.3 * requests / 1000, at),
        sample(Color.GREEN, requests, errors_new, at),
    )
    return Window(step, 50 if step == 0 else 100, at, pair)


def outage(at: float) -> Window:
    pair = SamplePair(Sample.failed(Color.BLUE, at, "down"), Sample.failed(Color.GREEN, at, "down"))
    return Window(0, 50, at, pair)


def test_a_sample_survives_its_json_line_including_the_inf_bucket() -> None:
    # Given a sample with a +Inf bucket and router failures
    original = sample(Color.GREEN, 10, 1, edge_errors=2.0, has_series=True)

    # When written as a JSON line and read back
    line = json.dumps(sample_to_json(original), allow_nan=False)

    # Then it is the same sample
    assert sample_from_json(json.loads(line)) == original


@pytest.mark.parametrize(
    ("canary", "passed"),
    [
        (sample(Color.GREEN, 1000, 5), True),  # 99.5% success, fast
        (sample(Color.GREEN, 1000, 20), False),  # 98%: under 99%
        (sample(Color.GREEN, 1000, 0, latency=((0.4, 980.0), (0.8, 20.0))), False),  # p99 > 500
        (Sample.failed(Color.GREEN, 1.0, "connection refused"), False),  # query failed
        (sample(Color.GREEN, 0, 0, has_series=False, latency=()), False),  # no values found
    ],
)
def test_flagger_checks_the_canary_alone_against_absolute_thresholds(
    canary: Sample, passed: bool
) -> None:
    pair = SamplePair(sample(Color.BLUE, 1000, 0), canary)

    ok, why = flagger_check(pair, FlaggerPolicy())

    assert ok is passed, why


def test_flagger_rolls_back_when_failed_checks_reach_its_threshold_and_never_resets_them() -> None:
    # Given failed, passed, failed checks and a threshold of 2
    windows = [window(30, at=1), window(0, at=2), window(30, at=3)]

    # When replayed
    replay = replay_flagger(windows, complete=False, policy=FlaggerPolicy(threshold=2))

    # Then the third window decides (failed checks are counted, not consecutive)
    assert (replay.verdict, replay.decided_at, replay.windows) == (Verdict.ROLLED_BACK, 3, 3)


def test_a_judge_that_never_failed_promotes_only_when_the_whole_release_was_recorded() -> None:
    windows = [window(0, at=1), window(0, step=1, at=2)]

    assert replay_flagger(windows, True, FlaggerPolicy()).verdict is Verdict.PROMOTED
    assert replay_flagger(windows, False, FlaggerPolicy()).verdict is Verdict.UNDECIDED


def test_flagger_misses_half_a_point_of_errors_that_our_judge_catches() -> None:
    # Given +0.5 pp on 20,000 requests a color (0.53% vs 0.03%)
    windows = [window(106, at=1, requests=20_000)]

    # When both judges read it
    theirs = replay_flagger(windows, False, FlaggerPolicy())
    ours = replay_ours(windows, False, lambda step: THRESHOLDS, LIMITS, 20)

    # Then only ours rolls back
    assert theirs.verdict is Verdict.UNDECIDED
    assert ours.verdict is Verdict.ROLLED_BACK


def test_our_replay_rolls_back_a_provider_outage_after_the_consecutive_error_limit() -> None:
    # Given one good window, then the provider is down
    windows = [window(0, at=1), *(outage(at) for at in (2, 3, 4, 5))]

    # When replayed with consecutiveErrorLimit 3
    replay = replay_ours(windows, False, lambda step: THRESHOLDS, LIMITS, 20)

    # Then the fourth error in a row rolls back; never a promotion
    assert (replay.verdict, replay.decided_at) == (Verdict.ROLLED_BACK, 5)


def test_our_replay_promotes_noise_when_the_release_completed() -> None:
    windows = [window(0.5, at=1, requests=5000), window(0.5, step=1, at=2, requests=5000)]

    replay = replay_ours(windows, True, lambda step: THRESHOLDS, LIMITS, 20)

    assert replay.verdict is Verdict.PROMOTED


def test_requests_until_a_decision_add_the_last_window_of_each_earlier_step() -> None:
    windows = [
        window(0, step=0, requests=100),
        window(0, step=0, requests=250),
        window(0, step=1, requests=40),
    ]

    assert canary_requests_until(windows, 2) == 290
    assert canary_requests_until(windows, 1) == 250


def test_requests_to_detect_half_a_point_and_nothing_under_the_margin() -> None:
    # +0.5 pp over 0.03% with a 0.1 pp margin, 95% confidence and power, half the traffic
    needed = requests_to_detect(0.0003, 0.0053, 0.001, 0.95, 0.95, 0.5)

    assert needed is not None and 3_700 < needed < 3_850
    assert requests_to_detect(0.0003, 0.0005, 0.001, 0.95, 0.95, 0.5) is None
