"""market-data: consumes `order-events` and records a fill per order in PostgreSQL.

Both colors consume in ONE offset group, `market-data`, with explicit assignment: which
partitions this member reads is decided by the release engine and kept in Redis
(`runbooks.partitions`, `runbooks.partition_store`). About every 0.5 s the consumer reads
the record, takes its color's partitions (split with the other live members of its color by
member id), releases what it no longer owns, then acknowledges the record's epoch; the ack
is its heartbeat too. Release before take: a partition leaves this member between two
records (the one in hand is written and its offset committed first), and a taken partition
starts at the group's committed offset, where its previous owner stopped. A prefetched
record of a released partition is dropped, never processed.

With no record yet (a stack nobody initialised: the local stack's `up` and the engine's
partition router store one, every partition on the active color), it consumes nothing:
two colors never guess the same partition. When Redis cannot be reached for half the
heartbeat TTL it releases everything, since the engine will treat it as dead and hand its
partitions on.

Writes are idempotent: one fill per order id (`ON CONFLICT DO NOTHING`); a write that
finds the fill already there (a redelivery) is counted in `consumer_redeliveries_total`.
An offset is committed only past a record that is done with (`outcome_of`):
- written: committed;
- a transient failure (a database error, the injected `--error-rate` fault, anything but
  poison): NOT committed. Counted in `consumer_errors_total` (each failed attempt), logged;
  the consumer seeks its partition back to the record and retries it after a short backoff
  (`RETRY_BACKOFF`). So a faulty color's records stay in its partitions, and once a rollback
  hands those back, the old color processes them from the committed offset: nothing lost;
- poison, a record that can never be processed (undecodable JSON, a missing or mistyped
  key): counted in `consumer_errors_total`, logged, and committed past (it is skipped for
  good; retrying would stall its partition forever).
A member whose last good sync is older than half the heartbeat TTL (it stalled, the engine
may already have handed its partitions on) processes and commits nothing until it syncs
again: the record in hand is sought back, for whoever owns the partition next.
`--added-latency-ms` slows each message.

    GET /health   200 while the consumer loop runs and PostgreSQL answers, else 503; shows
                  the configuration version, the partition epoch and the partitions owned
    GET /metrics  messages_consumed_total, consumer_errors_total,
                  consumer_redeliveries_total, message_processing_seconds (histogram),
                  consumer_lag{topic,partition} (owned partitions only),
                  consumer_partitions, consumer_last_sync_timestamp_seconds (unix time of
                  the consumer loop's last good sync: it stops moving when the loop hangs
                  or dies while this endpoint still answers), plus the HTTP metrics

Runtime configuration (`--config`, reloaded on SIGHUP, see samples.live_config):
`pollTimeoutSeconds`, how long each poll of the broker waits (at most the sync interval).

Run: `python -m samples.market_data --color green --version 1.1.0 --port 18102 ...`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from types import FrameType
from typing import Literal, Protocol

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from runbooks.config.market_data import MarketDataV1
from runbooks.kafka_client import client_config
from runbooks.partition_store import HEARTBEAT_TTL, REGISTERING, PartitionStore
from runbooks.partitions import member_share, partition_id, split_id
from samples import options as opts
from samples.db import Pool
from samples.live_config import LiveConfig
from samples.web import LATENCY_BUCKETS, Request, Response, Routes, ServiceMetrics, serve
from stackspec.errors import RunbookError
from stackspec.model import Color

SERVICE = "market-data"
TOPIC = "order-events"
SYNC_INTERVAL = 0.5  # seconds between reads of the assignment record
LAG_INTERVAL = 1.0  # seconds between reads of the partitions' end offsets
COMMITTED_TIMEOUT = 10.0
RETRY_BACKOFF = 0.2  # seconds before a record whose processing failed is tried again

Outcome = Literal["poison", "retry"]


class Poison(ValueError):
    """A record that can never be processed: undecodable, or missing a field."""


def member_id() -> str:
    """This process's member id: host and pid, safe inside a Redis key pattern."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{socket.gethostname()}-{os.getpid()}")


@dataclass
class MarketData:
    """The consumer loop and the HTTP handlers that report on it."""

    options: opts.Options
    db: Pool
    metrics: ServiceMetrics
    config: LiveConfig
    store: PartitionStore
    member: str = field(default_factory=member_id)
    last_error: str = ""
    running: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    epoch: int = REGISTERING
    owned: tuple[str, ...] = ()
    positions: dict[str, int] = field(default_factory=dict)  # next offset per owned partition
    synced_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        labels = ["service", "color", "version"]
        registry = self.metrics.registry
        self.consumed = Counter(
            "messages_consumed_total", "Messages processed", labels, registry=registry
        )
        self.errors = Counter(
            "consumer_errors_total", "Messages or polls that failed", labels, registry=registry
        )
        self.redeliveries = Counter(
            "consumer_redeliveries_total",
            "Messages whose write was already there (delivered again)",
            labels,
            registry=registry,
        )
        self.processing = Histogram(
            "message_processing_seconds",
            "Time to process one message, write included",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "consumer_lag",
            "End offset minus committed offset, per owned partition",
            [*labels, "topic", "partition"],
            registry=registry,
        )
        self.partitions = Gauge(
            "consumer_partitions", "Partitions this member consumes", labels, registry=registry
        )
        self.last_sync = Gauge(
            "consumer_last_sync_timestamp_seconds",
            "Unix time of the consumer loop's last good sync with the assignment record",
            labels,
            registry=registry,
        )
        # Series at zero from the start, as the HTTP metrics (samples.web.ServiceMetrics).
        for metric in (self.consumed, self.errors, self.redeliveries, self.processing):
            metric.labels(**self.metrics.labels)
        self.partitions.labels(**self.metrics.labels).set(0)
        self.last_sync.labels(**self.metrics.labels).set(time.time())

    @property
    def color(self) -> Color:
        """This member's color."""
        return Color(self.options.color)

    def consume_forever(self) -> None:
        """Sync, poll, write a fill, commit; runs in a thread until `stopping` is set."""
        consumer = Consumer(
            client_config(self.options.kafka)
            | {
                "group.id": SERVICE,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        # Registered before the first read of the record: see runbooks.partition_store.
        self.store.ack(self.color, self.member, REGISTERING, ())
        self.running.set()
        next_sync = next_lag = 0.0
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                if now >= next_sync:
                    self._sync(consumer)
                    next_sync = now + SYNC_INTERVAL
                if now >= next_lag:
                    self._update_lag(consumer)
                    next_lag = now + LAG_INTERVAL
                settings: MarketDataV1 = self.config.settings
                message = consumer.poll(min(settings.poll_timeout_seconds, SYNC_INTERVAL))
                if message is not None:
                    self._process(consumer, message)
        finally:
            self.running.clear()
            self._leave(consumer)

    def _sync(self, consumer: Consumer) -> None:
        """Follow the record: release, take, then acknowledge its epoch."""
        try:
            record = self.store.read()
            members = self.store.members(self.color)
            mine = member_share(record.owned_by(self.color), members, self.member) if record else ()
            self._reassign(consumer, mine)
            epoch = record.epoch if record else REGISTERING
            self.store.ack(self.color, self.member, epoch, self.owned)
        except (redis.RedisError, ValueError, KafkaException) as err:
            self._failed(f"partition sync: {type(err).__name__}: {err}")
            if time.monotonic() - self.synced_at > HEARTBEAT_TTL / 2:
                # The engine will take us for dead and give our partitions away: stop first.
                self._reassign(consumer, ())
            return
        self.epoch, self.synced_at = epoch, time.monotonic()
        self.last_sync.labels(**self.metrics.labels).set(time.time())

    def _reassign(self, consumer: Consumer, mine: tuple[str, ...]) -> None:
        """Own exactly `mine`: released partitions are dropped first (even if taking then
        fails), taken ones start at the group's committed offset, kept ones where this
        member is. assign() sets them all: the broker's incremental fetch sessions have been
        seen to stall on a partition unassigned and assigned again."""
        release = [p for p in self.owned if p not in mine]
        take = [p for p in mine if p not in self.owned]
        if release:
            for pid in release:
                self.positions.pop(pid, None)
                _remove_series(self.lag, {**self.metrics.labels, **_lag_labels(pid)})
            self._own(consumer, tuple(p for p in self.owned if p not in release))
        if take:
            found = consumer.committed([_tp(p) for p in take], timeout=COMMITTED_TIMEOUT)
            self.positions.update(committed_positions(found))
            self._own(consumer, tuple(sorted({*self.owned, *take}, key=split_id)))

    def _own(self, consumer: Consumer, owned: tuple[str, ...]) -> None:
        if owned:
            consumer.assign([_tp(p, _start(self.positions[p])) for p in owned])
        else:
            consumer.unassign()
        self.owned = owned
        self.partitions.labels(**self.metrics.labels).set(len(owned))

    def _process(self, consumer: Consumer, message: Message) -> None:
        """Process one record; commit past it only when done with it (module docstring)."""
        labels = self.metrics.labels
        pid = partition_id(message.topic() or "", message.partition() or 0)
        if message.error():
            self._failed(f"poll: {message.error()}")
            return
        if pid not in self.owned:
            return  # fetched before its partition was released: its new owner reads it
        if not sync_is_fresh(self.synced_at, time.monotonic()):
            self._seek_back(consumer, message)  # stalled: maybe no longer ours, sync first
            return
        started = time.perf_counter()
        try:
            event = decoded(message.value())
            if self.options.faults.added_latency_ms:
                time.sleep(self.options.faults.added_latency_ms / 1000)  # the injected fault
            if random.random() < self.options.faults.error_rate:
                raise RuntimeError("injected fault")
            if not self._record_fill(event):
                self.redeliveries.labels(**labels).inc()
        except Exception as err:
            if outcome_of(err) == "retry":
                self._failed(f"will retry offset {message.offset()} of {pid}: {_what(err)}")
                self._seek_back(consumer, message)
                self.stopping.wait(RETRY_BACKOFF)
                return
            self._failed(f"poison record at offset {message.offset()} of {pid} skipped: {err}")
        else:
            self.consumed.labels(**labels).inc()
            self.processing.labels(**labels).observe(time.perf_counter() - started)
        if not sync_is_fresh(self.synced_at, time.monotonic()):
            # Stalled while processing: the partition may have a new owner by now, whose
            # committed offset must not move back. The write is idempotent; it comes again.
            self._seek_back(consumer, message)
            return
        self._commit(consumer, message, pid)

    def _seek_back(self, consumer: Consumer, message: Message) -> None:
        """Fetch `message` again next (its partition's later prefetched records are dropped)."""
        tp = TopicPartition(message.topic() or "", message.partition() or 0, message.offset() or 0)
        try:
            consumer.seek(tp)
        except KafkaException as err:
            # Not assigned any more (released meanwhile): its owner starts at the commit.
            self._failed(f"seek back: {err}")

    def _commit(self, consumer: Consumer, message: Message, pid: str) -> None:
        try:
            consumer.commit(message=message, asynchronous=False)
        except KafkaException as err:
            # Not committed: the record comes again (to us or the next owner), idempotently.
            self._failed(f"commit: {err}")
            return
        self.positions[pid] = (message.offset() or 0) + 1

    def _record_fill(self, event: Fill) -> bool:
        """Write the order's fill; False when it was already written (a redelivery)."""
        with self.db.connection() as conn:
            cursor = conn.execute(
                "INSERT INTO fills (order_id, color, version, symbol, quantity, price)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    event.order_id,
                    self.options.color,
                    self.options.version,
                    event.symbol,
                    event.quantity,
                    event.price,
                ),
            )
            return cursor.rowcount == 1

    def _update_lag(self, consumer: Consumer) -> None:
        for pid in self.owned:
            try:
                # From the last fetch response: no round trip (a ListOffsets request per
                # partition takes ~0.5 s on the local broker and would stall the loop).
                _, end = consumer.get_watermark_offsets(_tp(pid), cached=True)
            except KafkaException:
                continue  # shown next time; an unreadable end offset is no lag
            if end < 0:
                continue  # nothing fetched yet
            lag = max(end - max(self.positions.get(pid, 0), 0), 0)
            self.lag.labels(**self.metrics.labels, **_lag_labels(pid)).set(lag)

    def _failed(self, what: str) -> None:
        self.errors.labels(**self.metrics.labels).inc()
        self.last_error = what
        print(what, file=sys.stderr, flush=True)

    def _leave(self, consumer: Consumer) -> None:
        """Stop cleanly: own nothing, say so, close (the engine waits for nobody)."""
        try:
            consumer.unassign()
            self.owned = ()
            self.store.leave(self.color, self.member)
        except (redis.RedisError, KafkaException) as err:
            print(f"leaving: {err}", file=sys.stderr, flush=True)
        finally:
            consumer.close()

    def routes(self) -> Routes:
        """The route table."""
        return {
            ("GET", "/health"): self.health,
            ("GET", "/metrics"): lambda _: self.metrics.render(),
        }

    def health(self, _: Request) -> Response:
        """200 while consuming with a reachable database and no injected failure."""
        problems = ["injected fault (--fail-health)"] if self.options.faults.fail_health else []
        if not self.running.is_set():
            problems.append("consumer loop is not running")
        try:
            self.db.ping()
        except Exception as err:
            problems.append(f"postgres: {type(err).__name__}: {err}")
        return Response.json(
            503 if problems else 200,
            {
                "status": "unhealthy" if problems else "ok",
                "problems": problems,
                "last_error": self.last_error,
                "version": self.options.version,
                "color": self.options.color,
                "config_version": self.config.version,
                "config": self.config.status(),
                "member": self.member,
                "epoch": self.epoch,
                "partitions": list(self.owned),
            },
        )


@dataclass(frozen=True)
class Fill:
    """The fields of an order event that a fill records."""

    order_id: int
    symbol: str
    quantity: Decimal
    price: Decimal


def decoded(value: bytes | str | None) -> Fill:
    """The event of a record's value; Poison when it is not a JSON object, or a field is
    missing or of the wrong type (quantity and price: a number or a decimal string, as
    trading-api writes them)."""
    try:
        event = json.loads(value or b"")
        order_id, symbol = event["order_id"], event["symbol"]
        quantity, price = _decimal(event["quantity"]), _decimal(event["price"])
        if isinstance(order_id, bool) or not isinstance(order_id, int | str):
            raise TypeError(f"order_id {order_id!r:.40} is not a whole number")
        if not isinstance(symbol, str):
            raise TypeError(f"symbol {symbol!r:.40} is not a string")
        return Fill(int(order_id), symbol, quantity, price)
    except (ValueError, KeyError, TypeError, ArithmeticError) as err:
        raise Poison(f"undecodable order event: {type(err).__name__}: {err}") from None


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{value!r:.40} is not a number")
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"{value!r:.40} is not a finite number")
    return number


def outcome_of(err: BaseException) -> Outcome:
    """What a failed record becomes: poison (committed past, never retried) or retry (not
    committed; sought back and tried again: database errors, injected faults, the rest)."""
    return "poison" if isinstance(err, Poison) else "retry"


def sync_is_fresh(synced_at: float, now: float, ttl: float = HEARTBEAT_TTL) -> bool:
    """Whether a member last synced recently enough to process and commit: within half the
    heartbeat TTL (after the whole TTL the engine takes it for dead and hands its
    partitions on)."""
    return now - synced_at <= ttl / 2


class _Committed(Protocol):
    """What `committed_positions` reads of a TopicPartition."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def error(self) -> object: ...


def committed_positions(found: Iterable[_Committed]) -> dict[str, int]:
    """partition id -> committed offset, of `Consumer.committed()`'s answer. KafkaException
    when any partition came back with an error: its offset (-1001) would otherwise read as
    "none committed" and replay the whole partition from the beginning."""
    positions = {}
    for tp in found:
        if tp.error:
            raise KafkaException(tp.error)
        positions[partition_id(tp.topic, tp.partition)] = tp.offset
    return positions


def _what(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0]


def _tp(pid: str, offset: int | None = None) -> TopicPartition:
    topic, partition = split_id(pid)
    return (
        TopicPartition(topic, partition)
        if offset is None
        else TopicPartition(topic, partition, offset)
    )


def _start(committed: int) -> int:
    """Where a taken partition starts: its committed offset, else the beginning."""
    return committed if committed >= 0 else OFFSET_BEGINNING


def _remove_series(gauge: Gauge, labels: dict[str, str]) -> None:
    # KeyError: never set, the partition was released before its lag was read.
    with contextlib.suppress(KeyError):
        gauge.remove(*labels.values())


def _lag_labels(pid: str) -> dict[str, str]:
    topic, partition = split_id(pid)
    return {"topic": topic, "partition": str(partition)}


def main(argv: list[str] | None = None) -> None:
    """Start the consumer and the HTTP endpoint; exits 1 at once with --crash-on-start or an
    invalid --config. SIGTERM leaves the group's assignment cleanly, then exits."""
    options = opts.parse(SERVICE, argv)
    if options.faults.crash_on_start:
        sys.exit(f"{SERVICE} {options.version} ({options.color}): injected crash on start")
    metrics = ServiceMetrics(SERVICE, options.color, options.version)
    try:
        config = LiveConfig(SERVICE, options.config_path, metrics)
    except RunbookError as err:
        sys.exit(f"{SERVICE} {options.version} ({options.color}): {err}")
    pool = Pool(options.postgres_conninfo)
    pool.warm()
    store = PartitionStore.from_url(options.redis_url, SERVICE)
    service = MarketData(options, pool, metrics, config, store)
    config.reload_on_sighup()
    loop = threading.Thread(target=service.consume_forever, name="consumer", daemon=True)
    loop.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        service.stopping.set()
        loop.join(COMMITTED_TIMEOUT)
        os._exit(0)  # the HTTP server's serve_forever holds the main thread

    signal.signal(signal.SIGTERM, stop)
    print(f"{SERVICE} {options.version} ({options.color}) on 127.0.0.1:{options.port}", flush=True)
    serve(options, SERVICE, service.routes(), service.metrics, config.headers)


if __name__ == "__main__":
    main()
