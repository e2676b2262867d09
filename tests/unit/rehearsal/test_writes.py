"""The order writers' accounting, from literal writes (pure, no servers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx

from runbooks.local.writes import (
    Kept,
    Receipt,
    Write,
    Writers,
    account,
    acknowledged,
    outside,
    p99_ms,
    receipts,
    within,
)
from runbooks.rehearsal.report import render
from runbooks.rehearsal.timeline import (
    ReleaseSummary,
    StepWindow,
    Timeline,
    step_windows,
    write_summary,
)

WRITES = [
    Write(
        100.0, 201, "blue", "1.0", 0.010, order_id=1, created_at=datetime(2026, 1, 1, tzinfo=UTC)
    ),
    Write(100.5, 201, "green", "2.0", 0.020, order_id=2),
    Write(101.0, 500, "green", "2.0", 0.005),
    Write(101.5, 0, "", "", 10.0),  # no answer: the user never learned its fate
    Write(103.0, 201, "blue", "1.0", 0.030, order_id=3, late=1.5),  # due at 101.5
    Write(104.0, 201, "blue", "1.0", 0.010, order_id=4),
]


def test_only_a_201_with_an_id_is_an_acknowledged_order() -> None:
    assert acknowledged(WRITES) == [1, 2, 3, 4]
    assert receipts(WRITES)[0] == Receipt(1, datetime(2026, 1, 1, tzinfo=UTC))
    assert not Write(1.0, 201, "blue", "1.0", 0.01).acknowledged  # 201 without an id


T1, T2 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 10, 1, tzinfo=UTC)


def test_accounting_lists_lost_ids_in_order() -> None:
    accepted = [Receipt(i, T1) for i in (4, 1, 2, 3)]
    kept = account(accepted, present=[Receipt(1, T1), Receipt(3, T1), Receipt(99, T1)])
    assert kept == Kept(accepted=4, kept=2, lost=(2, 4))
    assert not kept.all_kept
    assert account([], present=[Receipt(1, T1)]).all_kept


def test_an_id_reused_after_a_restore_does_not_hide_a_lost_order() -> None:
    # Order 7 was acknowledged at T1, lost by a restore; a later order got id 7 again at T2.
    accepted = [Receipt(7, T1), Receipt(7, T2)]
    assert account(accepted, present=[Receipt(7, T2)]) == Kept(accepted=2, kept=1, lost=(7,))
    # The same instant in another time zone is the same row.
    other_zone = T2.astimezone(timezone(timedelta(hours=2)))
    assert account([Receipt(7, T2)], present=[Receipt(7, other_zone)]).all_kept


def test_a_receipt_without_a_time_is_matched_by_id() -> None:
    assert account([Receipt(5, None)], present=[Receipt(5, T1)]).all_kept


def test_p99_is_nearest_rank_of_the_time_from_due_to_answer() -> None:
    # 100 writes waiting 1..100 ms: the 99th is 99 ms.
    writes = [Write(float(i), 201, "blue", "1.0", i / 1000, order_id=i) for i in range(1, 101)]
    assert p99_ms(writes) == 99.0
    # A write sent 1.5 s late and answered in 30 ms waited 1530 ms.
    assert p99_ms([WRITES[4]]) == 1530.0
    assert p99_ms([]) is None


def test_windows_select_writes_by_when_they_were_due() -> None:
    windows = [(101.0, 102.0)]
    # The write sent at 103.0 was due at 101.5: it waited through the window.
    assert [w.at for w in within(WRITES, windows)] == [101.0, 101.5, 103.0]
    assert [w.at for w in outside(WRITES, windows)] == [100.0, 100.5, 104.0]


APPLY = {"type": "ApplyReleaseStep", "name": "db-migration"}
UNDO = {"type": "UndoReleaseStep", "name": "db-migration"}
OTHER = {"type": "ApplyReleaseStep", "name": "cache-bump"}
EVENTS = [
    {"at": 100.9, "kind": "action.started", "action": OTHER},
    {"at": 101.0, "kind": "action.started", "action": APPLY},
    {"at": 101.2, "kind": "action.done", "action": OTHER},
    {"at": 102.0, "kind": "action.done", "action": APPLY},
    {"at": 103.5, "kind": "action.started", "action": UNDO},
    {"at": 103.8, "kind": "action.failed", "action": UNDO},
    {"at": 104.5, "kind": "action.started", "action": UNDO},  # killed: never ended
]


def test_step_windows_pair_each_start_with_its_end() -> None:
    assert step_windows(EVENTS, "db-migration") == [
        StepWindow("db-migration", "apply", 101.0, 102.0, ok=True),
        StepWindow("db-migration", "undo", 103.5, 103.8, ok=False),
    ]
    assert step_windows(EVENTS, "edge-purge") == []


def test_write_summary_splits_latency_by_migration_window() -> None:
    windows = step_windows(EVENTS, "db-migration")
    summary = write_summary(WRITES, windows, account(_r(1, 2, 3, 4), present=_r(1, 2, 3)))
    assert (summary.orders, summary.accepted, summary.kept, summary.lost) == (6, 4, 3, 1)
    assert summary.lost_ids == [4]
    assert (summary.writes_apply, summary.writes_revert, summary.writes_outside) == (3, 0, 3)
    assert summary.p99_apply_ms == 10000.0  # the unanswered write, due during the apply
    assert summary.p99_revert_ms is None  # no write was due during the revert
    assert summary.p99_outside_ms == 20.0


def test_write_summary_of_a_release_never_undone_has_no_revert_figure() -> None:
    apply_only = [StepWindow("db-migration", "apply", 101.0, 102.0, ok=True)]
    summary = write_summary(WRITES, apply_only, account(_r(1), present=_r(1)))
    assert summary.p99_revert_ms is None and summary.writes_revert == 0


def test_report_shows_orders_accepted_kept_and_lost() -> None:
    summary = write_summary(WRITES, step_windows(EVENTS, "db-migration"), account(_r(1, 2), _r(1)))
    release = ReleaseSummary(
        release="r1",
        version="2.0",
        outcome="rolled-back",
        steps=[10, 100],
        verdicts=[],
        requests=6,
        failed_requests=2,
        seconds=4.0,
        writes=summary,
    )
    html = render(Timeline(start=100.0, releases=[release]))
    assert "p99 during revert" in html
    assert "<td>2</td><td>1</td>" in html  # accepted 2, kept 1
    assert "(e.g. 2)" in html  # the lost id


def _r(*ids: int) -> list[Receipt]:
    return [Receipt(i, None) for i in ids]


def _writer_against(answer: httpx.Response) -> tuple[Write, list[dict[str, object]]]:
    """One order placed by a Writers thread's `send`, against a function instead of a server."""
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/orders")
        seen.append(json.loads(request.content))
        return answer

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        write = Writers("http://127.0.0.1:1/orders", rate=10).send(client, late=0.25)
    return write, seen


def test_a_201_yields_a_receipt_with_id_and_creation_time() -> None:
    body = {"order_id": 42, "created_at": "2026-01-01 10:00:00.123456+00:00"}
    answer = httpx.Response(201, json=body, headers={"X-Color": "green", "X-Version": "2.0"})
    write, seen = _writer_against(answer)
    assert set(seen[0]) == {"symbol", "side", "quantity", "price"}
    assert (write.status, write.color, write.version, write.late) == (201, "green", "2.0", 0.25)
    assert receipts([write]) == [Receipt(42, datetime(2026, 1, 1, 10, 0, 0, 123456, UTC))]


def test_a_201_without_a_time_is_still_acknowledged_and_an_error_is_not() -> None:
    write, _ = _writer_against(httpx.Response(201, json={"order_id": 7}))
    assert write.acknowledged and receipts([write]) == [Receipt(7, None)]
    failed, _ = _writer_against(httpx.Response(500, json={"order_id": 8}))
    assert not failed.acknowledged and failed.failed
