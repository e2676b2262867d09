"""The rehearsal succeeds only when both releases end as they should and no order is lost."""

from __future__ import annotations

from pathlib import Path

from runbooks.rehearsal.run import Result
from runbooks.rehearsal.timeline import ReleaseSummary, Timeline, WriteSummary


def release(outcome: str, accepted: int, kept: int) -> ReleaseSummary:
    writes = WriteSummary(accepted, accepted, kept, [], None, None, None, 0, 0, accepted)
    return ReleaseSummary("r", "v", outcome, [10, 100], [], 100, 0, 5.0, writes=writes)


def result(*releases: ReleaseSummary) -> Result:
    return Result(Timeline(0.0, releases=list(releases)), Path("r.html"), Path("r.json"))


def test_promoted_then_rolled_back_with_every_order_kept_is_ok() -> None:
    assert result(release("promoted", 50, 50), release("rolled-back", 40, 40)).ok


def test_a_lost_acknowledged_order_fails_the_rehearsal() -> None:
    assert not result(release("promoted", 50, 50), release("rolled-back", 40, 39)).ok


def test_a_rollback_that_ended_aborted_fails_the_rehearsal() -> None:
    assert not result(release("promoted", 50, 50), release("aborted", 40, 40)).ok
