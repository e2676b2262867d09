"""The message of a rollback retrying its weights: the interval in seconds and the clock
time of the retry, never an epoch float (it read `retrying at 1.764e+09` before)."""

from __future__ import annotations

import re
import time

import pytest

from runbooks.core.decide import decide, start_rollback
from runbooks.core.state import (
    ActionResult,
    EventKind,
    NotifyEvent,
    Observation,
    SetWeights,
)
from tests.unit.core.test_decide import OLD_WEIGHTS, release

RETRY = re.compile(r"retrying in (\d+) s \(at (\d\d:\d\d:\d\dZ)\)")
NOW = 1_764_201_600.0  # 2025-11-27 00:00:00 UTC: a real clock's epoch, where e+09 showed


def retry_message(interval: int) -> str:
    """The message decide() gives when restoring the old weights fails while rolling back."""
    rolling_back = start_rollback(release(analysisIntervalSeconds=interval), "test")
    failed = ActionResult(SetWeights("trading-api", OLD_WEIGHTS), False, "socket refused")
    decision = decide(rolling_back, Observation(now=NOW, results=(failed,)), ())
    assert decision.state.retry_at == NOW + interval
    (message,) = [
        a.message
        for a in decision.actions
        if isinstance(a, NotifyEvent) and a.kind is EventKind.RETRYING
    ]
    return message


@pytest.mark.parametrize("interval", [15, 3600])
def test_a_retry_names_its_interval_and_clock_time(interval: int) -> None:
    message = retry_message(interval)
    found = RETRY.search(message)
    assert found is not None, message
    assert int(found[1]) == interval
    assert found[2] == time.strftime("%H:%M:%SZ", time.gmtime(NOW + interval))
    assert "e+" not in message and "socket refused" in message
