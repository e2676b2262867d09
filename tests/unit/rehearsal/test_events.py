"""Events produced vs rows written (issue 12 item 5): the count, and the rehearsal's verdict.

Every order event of a release together must have exactly one fill row; a lost or a doubled
one fails the rehearsal (exit 1), as does a release together that ends otherwise than
expected (healthy promoted, faulty rolled back).
"""

from __future__ import annotations

from pathlib import Path

from runbooks.rehearsal.report import render
from runbooks.rehearsal.run import EXPECTED, Result
from runbooks.rehearsal.timeline import EventSummary, ReleaseSummary, Timeline, event_summary


def test_every_event_with_one_row_is_exact() -> None:
    summary = event_summary([1, 2, 3], [(1, "blue"), (2, "green"), (3, "blue")], 0.5)

    assert (summary.produced, summary.written, summary.lost, summary.doubled) == (3, 3, 0, 0)
    assert summary.by_color == {"blue": 2, "green": 1}
    assert summary.exact


def test_an_event_without_a_row_is_lost() -> None:
    summary = event_summary([1, 2, 3], [(1, "blue")], None)

    assert (summary.written, summary.lost, summary.lost_ids) == (1, 2, [2, 3])
    assert not summary.exact


def test_an_event_with_two_rows_is_doubled() -> None:
    summary = event_summary([1, 2], [(1, "blue"), (1, "green"), (2, "blue")], 0.1)

    assert (summary.written, summary.doubled, summary.doubled_ids) == (3, 1, [1])
    assert not summary.exact


def test_lost_ids_shown_are_capped() -> None:
    summary = event_summary(list(range(100)), [], None, shown=5)

    assert (summary.lost, summary.lost_ids) == (100, [0, 1, 2, 3, 4])


def _release(outcome: str, events: EventSummary | None = None) -> ReleaseSummary:
    return ReleaseSummary("r", "v", outcome, [10, 100], [], 100, 0, 5.0, events=events)


def _result(outcomes: tuple[str, ...], healthy: EventSummary, faulty: EventSummary) -> Result:
    first, second, third, fourth = outcomes
    releases = [
        _release(first),
        _release(second),
        _release(third, healthy),
        _release(fourth, faulty),
    ]
    return Result(Timeline(0.0, releases=releases), Path("r.html"), Path("r.json"), EXPECTED)


EXACT = event_summary([1, 2], [(1, "blue"), (2, "green")], 1.0)


def test_both_releases_together_as_expected_with_every_event_written_is_ok() -> None:
    assert _result(EXPECTED, EXACT, EXACT).ok


def test_a_lost_event_fails_the_rehearsal() -> None:
    lost = event_summary([1, 2], [(1, "blue")], None)

    assert not _result(EXPECTED, EXACT, lost).ok


def test_a_doubled_event_fails_the_rehearsal() -> None:
    doubled = event_summary([1], [(1, "blue"), (1, "green")], 1.0)

    assert not _result(EXPECTED, doubled, EXACT).ok


def test_a_faulty_pair_that_was_promoted_fails_the_rehearsal() -> None:
    promoted = ("promoted", "rolled-back", "promoted", "promoted")

    assert not _result(promoted, EXACT, EXACT).ok


def test_the_two_release_rehearsal_keeps_its_verdict() -> None:
    # The staging rehearsal's Result: two releases, no events, the default expectation.
    result = Result(
        Timeline(0.0, releases=[_release("promoted"), _release("rolled-back")]),
        Path("r.html"),
        Path("r.json"),
    )

    assert result.ok


def test_the_report_has_an_events_section_only_for_releases_together() -> None:
    lost = event_summary([7, 8], [(7, "green")], None)
    together = _release("rolled-back", lost)
    html = render(Timeline(0.0, releases=[_release("promoted"), together]))

    assert "Order events" in html
    assert "not within the deadline" in html and "(e.g. 8)" in html
    assert "Order events" not in render(Timeline(0.0, releases=[_release("promoted")]))
