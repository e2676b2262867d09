"""market-data's handling of one record (samples.market_data), on a fake consumer and
database: a written record is committed; a transient failure (database error, injected
fault) is NOT committed but sought back for a retry; poison is counted and committed
past; a member whose last sync is stale processes and commits nothing. Plus the pure
pieces: decoding, the outcome of an error, sync freshness, committed offsets with errors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from confluent_kafka import KafkaError, KafkaException

from samples.market_data import (
    HEARTBEAT_TTL,
    MarketData,
    Poison,
    committed_positions,
    decoded,
    outcome_of,
    sync_is_fresh,
)
from samples.options import Faults
from samples.web import ServiceMetrics

PID = "order-events:2"
EVENT = {"order_id": 7, "symbol": "AAPL", "quantity": "1", "price": "100.50"}


@dataclass
class FakeMessage:
    body: bytes
    at: int = 41

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "order-events"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self.at

    def value(self) -> bytes:
        return self.body


@dataclass
class FakeConsumer:
    committed: list[int] = field(default_factory=list)
    sought: list[tuple[str, int, int]] = field(default_factory=list)

    def commit(self, message: FakeMessage, asynchronous: bool) -> None:
        self.committed.append(message.offset())

    def seek(self, tp: Any) -> None:
        self.sought.append((tp.topic, tp.partition, tp.offset))


class FakeDb:
    """A pool whose connections fail with `error`, else record each insert."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.rows: list[tuple[object, ...]] = []

    def connection(self) -> Any:
        db = self

        class Conn:
            def __enter__(self) -> Conn:
                if db.error is not None:
                    raise db.error
                return self

            def __exit__(self, *_: object) -> None:
                return None

            def execute(self, _sql: str, params: tuple[object, ...]) -> Any:
                db.rows.append(params)
                return SimpleNamespace(rowcount=1)

        return Conn()


def service(db: FakeDb, error_rate: float = 0.0, synced_ago: float = 0.0) -> MarketData:
    options = SimpleNamespace(color="green", version="1.1.0", faults=Faults(error_rate=error_rate))
    md = MarketData(options, db, ServiceMetrics("market-data", "green", "1.1.0"), None, None)  # type: ignore[arg-type]
    md.owned = (PID,)
    md.synced_at = time.monotonic() - synced_ago
    md.stopping.set()  # no real backoff wait in a unit test
    return md


def errors(md: MarketData) -> float:
    return md.errors.labels(**md.metrics.labels)._value.get()


def test_a_written_record_is_committed() -> None:
    db, consumer = FakeDb(), FakeConsumer()
    md = service(db)
    md._process(consumer, FakeMessage(json.dumps(EVENT).encode()))
    assert consumer.committed == [41] and consumer.sought == [] and len(db.rows) == 1
    assert md.positions[PID] == 42 and errors(md) == 0


@pytest.mark.parametrize(
    ("db", "error_rate"),
    [
        (FakeDb(psycopg.OperationalError("server closed the connection")), 0.0),
        (FakeDb(), 1.0),  # the injected processing fault
    ],
)
def test_a_transient_failure_is_not_committed_but_sought_back_and_counted(
    db: FakeDb, error_rate: float
) -> None:
    consumer = FakeConsumer()
    md = service(db, error_rate)
    md._process(consumer, FakeMessage(json.dumps(EVENT).encode()))
    assert consumer.committed == []  # the record stays: retried here, or by the next owner
    assert consumer.sought == [("order-events", 2, 41)]
    assert errors(md) == 1 and "will retry offset 41" in md.last_error


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", json.dumps({"order_id": 7}).encode(), b""],
)
def test_poison_is_counted_and_committed_past(body: bytes) -> None:
    db, consumer = FakeDb(), FakeConsumer()
    md = service(db)
    md._process(consumer, FakeMessage(body))
    assert consumer.committed == [41] and consumer.sought == [] and db.rows == []
    assert errors(md) == 1 and "poison record at offset 41" in md.last_error


def test_a_member_whose_last_sync_is_stale_processes_and_commits_nothing() -> None:
    db, consumer = FakeDb(), FakeConsumer()
    md = service(db, synced_ago=HEARTBEAT_TTL / 2 + 1)
    md._process(consumer, FakeMessage(json.dumps(EVENT).encode()))
    assert consumer.committed == [] and db.rows == []
    assert consumer.sought == [("order-events", 2, 41)]


@pytest.mark.parametrize(
    ("event", "poison"),
    [
        (EVENT, False),
        ({**EVENT, "quantity": 1, "price": 100.5}, False),
        ({**EVENT, "order_id": "7"}, False),
        ({**EVENT, "price": "abc"}, True),
        ({**EVENT, "price": None}, True),
        ({**EVENT, "quantity": True}, True),
        ({**EVENT, "price": "NaN"}, True),
        ({**EVENT, "order_id": 1.5}, True),
        ({**EVENT, "symbol": 3}, True),
        ({k: v for k, v in EVENT.items() if k != "symbol"}, True),
    ],
)
def test_decoding_an_order_event(event: dict[str, object], poison: bool) -> None:
    body = json.dumps(event).encode()
    if poison:
        with pytest.raises(Poison):
            decoded(body)
    else:
        fill = decoded(body)
        assert fill.order_id == 7 and fill.symbol == "AAPL"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (Poison("bad"), "poison"),
        (psycopg.OperationalError("down"), "retry"),
        (RuntimeError("injected fault"), "retry"),
        (KeyError("anything else"), "retry"),
    ],
)
def test_only_poison_is_skipped_for_good(error: Exception, outcome: str) -> None:
    assert outcome_of(error) == outcome


@pytest.mark.parametrize(
    ("ago", "fresh"), [(0.0, True), (HEARTBEAT_TTL / 2, True), (HEARTBEAT_TTL / 2 + 0.1, False)]
)
def test_a_sync_is_fresh_for_half_the_heartbeat_ttl(ago: float, fresh: bool) -> None:
    assert sync_is_fresh(100.0 - ago, 100.0) is fresh


def test_committed_offsets_with_an_error_raise_rather_than_replay_from_the_beginning() -> None:
    ok = SimpleNamespace(topic="order-events", partition=0, offset=12, error=None)
    none_yet = SimpleNamespace(topic="order-events", partition=1, offset=-1001, error=None)
    assert committed_positions([ok, none_yet]) == {"order-events:0": 12, "order-events:1": -1001}
    failed = SimpleNamespace(
        topic="order-events", partition=2, offset=-1001, error=KafkaError(KafkaError._TIMED_OUT)
    )
    with pytest.raises(KafkaException):
        committed_positions([ok, failed])
