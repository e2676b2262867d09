"""market-data: consumes `order-events` and records a fill per order in PostgreSQL.

Each color consumes in its own consumer group (`market-data-<color>`) and writes
`fills(order_id, color)` rows, committing the offset only after the row is written. Faults:
`--error-rate` makes that share of messages fail (counted in `consumer_errors_total`,
logged, skipped), `--added-latency-ms` slows each message.

    GET /health   200 while the consumer loop runs and PostgreSQL answers, else 503; shows
                  the configuration version running
    GET /metrics  messages_consumed_total, consumer_errors_total, plus the HTTP metrics

Runtime configuration (`--config`, reloaded on SIGHUP, see samples.live_config):
`pollTimeoutSeconds`, how long each poll of the broker waits.

Run: `python -m samples.market_data --color green --version 1.1.0 --port 18102 ...`.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message
from prometheus_client import Counter

from runbooks.config.market_data import MarketDataV1
from runbooks.kafka_client import client_config
from samples import options as opts
from samples.db import Pool
from samples.live_config import LiveConfig
from samples.web import Request, Response, Routes, ServiceMetrics, serve
from stackspec.errors import RunbookError

SERVICE = "market-data"
TOPIC = "order-events"


@dataclass
class MarketData:
    """The consumer loop and the HTTP handlers that report on it."""

    options: opts.Options
    db: Pool
    metrics: ServiceMetrics
    config: LiveConfig
    last_error: str = ""
    running: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        labels = ["service", "color", "version"]
        self.consumed = Counter(
            "messages_consumed_total", "Messages processed", labels, registry=self.metrics.registry
        )
        self.errors = Counter(
            "consumer_errors_total",
            "Messages or polls that failed",
            labels,
            registry=self.metrics.registry,
        )

    def consume_forever(self) -> None:
        """Poll, write a fill, commit; runs in a daemon thread until the process stops."""
        consumer = Consumer(
            client_config(self.options.kafka)
            | {
                "group.id": f"{SERVICE}-{self.options.color}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([TOPIC])
        self.running.set()
        try:
            while True:
                settings: MarketDataV1 = self.config.settings
                message = consumer.poll(settings.poll_timeout_seconds)
                if message is not None:
                    self._process(consumer, message)
        finally:
            self.running.clear()
            consumer.close()

    def _process(self, consumer: Consumer, message: Message) -> None:
        labels = self.metrics.labels
        try:
            if message.error():
                raise RuntimeError(str(message.error()))
            if self.options.faults.added_latency_ms:
                time.sleep(self.options.faults.added_latency_ms / 1000)  # the injected fault
            if random.random() < self.options.faults.error_rate:
                raise RuntimeError("injected fault")
            self._record_fill(json.loads(message.value() or b"{}"))
            self.consumed.labels(**labels).inc()
        except Exception as err:
            self.errors.labels(**labels).inc()
            self.last_error = f"{type(err).__name__}: {err}"
            print(f"message skipped: {self.last_error}", file=sys.stderr, flush=True)
        if not message.error():
            consumer.commit(message=message, asynchronous=False)

    def _record_fill(self, event: dict[str, object]) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO fills (order_id, color, version, symbol, quantity, price)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    event["order_id"],
                    self.options.color,
                    self.options.version,
                    event["symbol"],
                    event["quantity"],
                    event["price"],
                ),
            )

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
            },
        )


def main(argv: list[str] | None = None) -> None:
    """Start the consumer and the HTTP endpoint; exits 1 at once with --crash-on-start or an
    invalid --config."""
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
    service = MarketData(options, pool, metrics, config)
    config.reload_on_sighup()
    threading.Thread(target=service.consume_forever, name="consumer", daemon=True).start()
    print(f"{SERVICE} {options.version} ({options.color}) on 127.0.0.1:{options.port}", flush=True)
    serve(options, SERVICE, service.routes(), service.metrics, config.headers)


if __name__ == "__main__":
    main()
