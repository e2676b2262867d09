"""A consumer rehearsal on a private local stack, for tests and benchmarks: the data tier
(PostgreSQL with the sample schema, Redis, the broker with the stack's topics and the
initial partition assignment), both colors of market-data, and a steady producer.

    with consumer_rig(base_dir) as rig:
        with SteadyProducer(rig.ends.bootstrap_servers, rate=200) as producer:
            rig.router().set_weights("market-data", Weights(blue=50, green=50))
        rig.wait_written(producer.produced)

Nothing of HAProxy, Varnish or Prometheus is started: a consumer release moves partitions.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import psycopg
from confluent_kafka import Producer

from runbooks.local.assignments import initialise_assignments
from runbooks.local.endpoints import LocalEndpoints, endpoints, local_section
from runbooks.local.isolated import isolated_stack
from runbooks.local.process import Server, wait_until
from runbooks.local.servers import create_topics, start_broker, start_postgres, start_redis
from runbooks.local.services import start_service
from runbooks.partition_store import PartitionStore
from runbooks.routers.kafka_partitions import PartitionRouter
from samples.options import Faults
from stackspec.model import Color, StackSettings

SERVICE = "market-data"
TOPIC = "order-events"
SCHEMA = Path(__file__).resolve().parents[2] / "samples" / "schema.sql"


class SteadyProducer:
    """Produces order events at `rate` per second on `workers` threads (a producer each),
    keyed by order id, one record per flush (the broker's end offsets are right only for
    1-record batches). `produced` holds the ids the broker acknowledged."""

    def __init__(
        self, bootstrap: str, rate: float, workers: int = 1, first_id: int | None = None
    ) -> None:
        self._bootstrap = bootstrap
        self._rate = rate / workers
        self._ids = itertools.count(first_id or random.randrange(1, 2**40))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"producer-{n}", daemon=True)
            for n in range(workers)
        ]
        self._started = time.monotonic()
        self.produced: list[int] = []
        self.failed = 0

    def __enter__(self) -> SteadyProducer:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop producing; returns once every thread has ended."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    @property
    def achieved_rate(self) -> float:
        """Events acknowledged per second so far."""
        return len(self.produced) / max(time.monotonic() - self._started, 1e-9)

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self._bootstrap, "linger.ms": 0, "acks": "all"})
        for sent in itertools.count():
            if self._stop.is_set():
                return
            delay = self._started + sent / self._rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the stream, not synchronising a test
            with self._lock:
                order_id = next(self._ids)
            self._send(producer, order_id)

    def _send(self, producer: Producer, order_id: int) -> None:
        event = {"order_id": order_id, "symbol": "AAPL", "quantity": 1, "price": 100.0}
        producer.produce(TOPIC, json.dumps(event).encode(), key=str(order_id).encode())
        acknowledged = producer.flush(5) == 0
        with self._lock:
            if acknowledged:
                self.produced.append(order_id)
            else:
                self.failed += 1


@dataclass
class ConsumerRig:
    """The running rehearsal: settings, endpoints, servers and the two colors."""

    settings: StackSettings
    ends: LocalEndpoints
    servers: list[Server] = field(default_factory=list)
    colors: dict[Color, Server] = field(default_factory=dict)

    def router(self, phase_timeout: float = 30.0) -> PartitionRouter:
        """The partition router on this stack's Redis."""
        declared = {t.name: t.partitions for t in self.settings.streaming.topics}
        svc = self.settings.service(SERVICE)
        return PartitionRouter(
            {SERVICE: {t: declared[t] for t in svc.consumes}},
            {SERVICE: svc.active_color},
            lambda service: PartitionStore.from_url(self.ends.redis_url, service),
            phase_timeout,
        )

    def store(self) -> PartitionStore:
        """The assignment store of market-data (close it after use)."""
        return PartitionStore.from_url(self.ends.redis_url, SERVICE)

    def start_color(
        self, color: Color, version: str = "1.0.0", faults: Faults | None = None
    ) -> None:
        """(Re)start `color` of market-data; returns once its /health answers 200."""
        old = self.colors.pop(color, None)
        if old is not None:
            old.stop()
        part = start_service(self.settings, self.ends, SERVICE, color, version, faults or Faults())
        self.colors[color] = part.server

    def kill(self, color: Color) -> None:
        """kill -9 the process of `color` (it leaves its heartbeat behind)."""
        server = self.colors.pop(color)
        os.kill(server.pid, signal.SIGKILL)
        wait_until(lambda: not server.alive(), 10, f"{SERVICE} {color} to die")

    def health(self, color: Color) -> dict[str, object]:
        """The /health answer of `color`."""
        url = self.ends.service_url(SERVICE, color) + "/health"
        answer: dict[str, object] = httpx.get(url, timeout=5).json()
        return answer

    def metric(self, color: Color, name: str) -> float:
        """The sum of every series of `name` that `color` exports."""
        text = httpx.get(self.ends.service_url(SERVICE, color) + "/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + "{", name + " "))
        )

    def fills(self, ids: list[int]) -> dict[int, str]:
        """order id -> the color that wrote its fill, for the `ids` written."""
        with psycopg.connect(self.ends.postgres_dsn) as conn:
            rows = conn.execute(
                "SELECT order_id, color FROM fills WHERE order_id = ANY(%s)", (ids,)
            ).fetchall()
        return {int(order_id): str(color) for order_id, color in rows}

    def doubled(self, ids: list[int]) -> int:
        """How many of `ids` have more than one fill (the order-id key should make it 0)."""
        with psycopg.connect(self.ends.postgres_dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM (SELECT order_id FROM fills WHERE order_id = ANY(%s)"
                " GROUP BY order_id HAVING count(*) > 1) AS twice",
                (ids,),
            ).fetchone()
        return int(row[0]) if row else 0

    def wait_written(self, ids: list[int], timeout: float = 60.0) -> dict[int, str]:
        """Poll until every id has its fill (TimeoutError naming how many are missing)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.fills(ids)
            if len(found) == len(set(ids)):
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(set(ids)) - len(found)} of {len(ids)} events unwritten")
            time.sleep(0.2)

    def owned(self, color: Color) -> list[str]:
        """The partitions `color` reports owning on /health."""
        partitions = self.health(color)["partitions"]
        assert isinstance(partitions, list)
        return [str(p) for p in partitions]


@contextmanager
def consumer_rig(base_dir: Path, colors: tuple[Color, ...] = tuple(Color)) -> Iterator[ConsumerRig]:
    """Start the rehearsal under `base_dir` (world-searchable: PostgreSQL runs as its own
    user); stop everything it started on exit."""
    base_dir.chmod(0o755)
    settings = isolated_stack(base_dir)
    ends = endpoints(settings)
    ends.state_dir.mkdir(parents=True, exist_ok=True)
    ends.state_dir.chmod(0o755)
    rig = ConsumerRig(settings, ends)
    ports = local_section(settings).ports
    try:
        rig.servers.append(start_postgres(ends.state_dir, ports.postgres, settings.database.name))
        with psycopg.connect(ends.postgres_dsn, autocommit=True) as conn:
            conn.execute(SCHEMA.read_text())
        rig.servers.append(start_redis(ends.state_dir, ports.redis))
        rig.servers.append(start_broker(ends.state_dir, ports.kafka))
        create_topics(
            ends.bootstrap_servers, [(t.name, t.partitions) for t in settings.streaming.topics]
        )
        initialise_assignments(settings, ends.redis_url)
        for color in colors:
            rig.start_color(color)
        yield rig
    finally:
        for server in [*rig.colors.values(), *reversed(rig.servers)]:
            server.stop()
        shutil.rmtree(ends.state_dir, ignore_errors=True)
