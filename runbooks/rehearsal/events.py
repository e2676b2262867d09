"""Events produced vs rows written: every order event of a release has exactly one fill.

trading-api publishes one event per accepted order to `order-events` (keyed by order id)
before it answers 201; market-data writes one `fills` row per event, keyed by the order id.
After a release the colors may still be catching up (a rollback hands the partitions back
to the old color from the committed offsets, and it replays what the new color had not
committed), so `await_fills` polls PostgreSQL until every event has its row or a deadline
passes, then counts what it found.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg

from runbooks.rehearsal.timeline import EventSummary, event_summary

POLL_SECONDS = 0.25


def fill_rows(dsn: str, order_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(order id, color) of every `fills` row of `order_ids` (one query)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT order_id, color FROM fills WHERE order_id = ANY(%s)", (list(order_ids),)
        ).fetchall()
    return [(int(order_id), str(color)) for order_id, color in rows]


def await_fills(dsn: str, order_ids: Sequence[int], deadline_seconds: float) -> EventSummary:
    """Poll until each of `order_ids` has a fill row (or `deadline_seconds` pass); the
    summary of the last look, with the seconds it took when every event was written."""
    began = time.monotonic()
    wanted = set(order_ids)
    while True:
        rows = fill_rows(dsn, order_ids)
        waited = time.monotonic() - began
        if wanted <= {order_id for order_id, _ in rows}:
            return event_summary(order_ids, rows, round(waited, 2))
        if waited >= deadline_seconds:
            return event_summary(order_ids, rows, None)
        time.sleep(POLL_SECONDS)  # the consumers' pace, not a synchronisation of ours
