"""trading-api: takes orders, lists them and serves quotes.

    POST /orders          {"symbol", "side", "quantity", "price"} -> 201, row in `orders`,
                          event on Kafka topic `order-events`
    GET  /orders          the `orders.pageSize` most recent orders
    GET  /quotes/<symbol> a quote, cached in Redis under `quotes:v<key version>:<symbol>`
                          for `quotes.ttlSeconds`, with Cache-Control max-age for the edge
                          (with `features.bidAsk`: a bid and an ask too)
    GET  /health          200 when PostgreSQL and Redis answer, else 503; shows the
                          configuration version running
    GET  /metrics         Prometheus metrics

Runtime configuration (`--config`, reloaded on SIGHUP, see samples.live_config): the
settings above and `orders.maxQuantity` (larger orders get 400).

Run: `python -m samples.trading_api --color blue --version 1.1.0 --port 18100 ...`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import redis
from confluent_kafka import Producer

from runbooks.config.trading_api import TradingApiV2
from runbooks.kafka_client import client_config
from samples import options as opts
from samples.credential_files import redis_client
from samples.db import Pool
from samples.live_config import LiveConfig
from samples.web import Request, Response, Routes, ServiceMetrics, serve
from stackspec.errors import RunbookError

SERVICE = "trading-api"
ORDER_TOPIC = "order-events"


@dataclass
class TradingApi:
    """The service's handlers and the clients they share."""

    options: opts.Options
    db: Pool
    cache: redis.Redis
    producer: Producer
    config: LiveConfig

    @property
    def settings(self) -> TradingApiV2:
        """The configuration running now (read once per request: a reload swaps it whole)."""
        settings: TradingApiV2 = self.config.settings
        return settings

    def routes(self, metrics: ServiceMetrics) -> Routes:
        """The route table."""
        return {
            ("POST", "/orders"): self.place_order,
            ("GET", "/orders"): self.list_orders,
            ("GET", "/quotes/"): self.quote,
            ("GET", "/health"): self.health,
            ("GET", "/metrics"): lambda _: metrics.render(),
        }

    def place_order(self, request: Request) -> Response:
        """Insert the order, then publish it; 400 on a malformed order."""
        try:
            order = _parse_order(request.json(), self.settings.orders.max_quantity)
        except (ValueError, KeyError, TypeError, InvalidOperation) as err:
            return Response.json(400, {"error": f"bad order: {err}"})
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO orders (symbol, side, quantity, price, version, color)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, created_at",
                (
                    order["symbol"],
                    order["side"],
                    order["quantity"],
                    order["price"],
                    self.options.version,
                    self.options.color,
                ),
            ).fetchone()
        assert row is not None  # RETURNING always yields the inserted row
        event = {
            **order,
            "order_id": row[0],
            "version": self.options.version,
            "color": self.options.color,
        }
        self._publish(event)
        return Response.json(201, {**event, "created_at": row[1]})

    def _publish(self, event: dict[str, object]) -> None:
        # One record per flush: the broker's end offsets are only right for 1-record batches.
        payload = json.dumps(event, default=str).encode()
        # Keyed by order id: an order's events stay in order on one partition, and orders
        # spread over every partition (a consumer release moves partitions, not symbols).
        self.producer.produce(ORDER_TOPIC, payload, key=str(event["order_id"]).encode())
        if self.producer.flush(5) > 0:
            raise RuntimeError(f"order {event['order_id']} not acknowledged by the broker")

    def list_orders(self, _: Request) -> Response:
        """The most recent orders, newest first."""
        with self.db.connection() as conn:
            cursor = conn.execute(
                "SELECT id, symbol, side, quantity, price, version, color, created_at"
                " FROM orders ORDER BY id DESC LIMIT %s",
                (self.settings.orders.page_size,),
            )
            names = [c.name for c in cursor.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        return Response.json(200, {"orders": rows})

    def quote(self, request: Request) -> Response:
        """A quote for the symbol, from Redis if cached there."""
        symbol = request.path.removeprefix("/quotes/").upper()
        if not symbol.isalnum() or len(symbol) > 12:
            return Response.json(400, {"error": f"bad symbol '{symbol}'"})
        settings = self.settings
        key = f"quotes:v{self.options.cache_key_version}:{symbol}"
        cached = self.cache.get(key)
        source = "cache" if cached else "computed"
        body = cached if isinstance(cached, bytes) else _make_quote(symbol, self.options.version)
        if not cached:
            self.cache.set(key, body, ex=settings.quotes.ttl_seconds)
        if settings.features.bid_ask:
            body = _with_bid_ask(body)
        headers = {
            "Content-Type": "application/json",
            "X-Quote-Source": source,
            "Cache-Control": f"public, max-age={self.options.quote_max_age}",
        }
        return Response(200, body, headers)

    def health(self, _: Request) -> Response:
        """200 when every dependency answers and no failure is injected, else 503."""
        problems = ["injected fault (--fail-health)"] if self.options.faults.fail_health else []
        for name, probe in (("postgres", self.db.ping), ("redis", self.cache.ping)):
            try:
                probe()
            except Exception as err:
                problems.append(f"{name}: {type(err).__name__}: {err}")
        status = 503 if problems else 200
        return Response.json(
            status,
            {
                "status": "unhealthy" if problems else "ok",
                "problems": problems,
                "version": self.options.version,
                "color": self.options.color,
                "config_version": self.config.version,
                "config": self.config.status(),
            },
        )


def _parse_order(data: dict[str, object], max_quantity: int) -> dict[str, object]:
    side = str(data["side"])
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell; got {side!r}")
    quantity, price = Decimal(str(data["quantity"])), Decimal(str(data["price"]))
    if quantity <= 0 or price <= 0:
        raise ValueError("quantity and price must be positive")
    if quantity > max_quantity:
        raise ValueError(f"quantity {quantity} is above the limit of {max_quantity}")
    return {
        "symbol": str(data["symbol"]).upper(),
        "side": side,
        "quantity": str(quantity),
        "price": str(price),
    }


def _make_quote(symbol: str, version: str) -> bytes:
    """A made-up but stable-per-second price, so caching is observable."""
    second = int(time.time())
    digest = hashlib.sha256(f"{symbol}:{second}".encode()).digest()
    price = 100 + int.from_bytes(digest[:2], "big") / 100
    return json.dumps(
        {"symbol": symbol, "price": round(price, 2), "as_of": second, "served_by": version}
    ).encode()


def _with_bid_ask(body: bytes) -> bytes:
    """The quote with a bid and an ask 0.05% either side of its price."""
    quote = json.loads(body)
    price = Decimal(str(quote["price"]))
    spread = (price * Decimal("0.0005")).quantize(Decimal("0.01"))
    quote["bid"], quote["ask"] = float(price - spread), float(price + spread)
    return json.dumps(quote).encode()


def main(argv: list[str] | None = None) -> None:
    """Start the service; exits 1 at once with --crash-on-start or an invalid --config."""
    options = opts.parse(SERVICE, argv)
    if options.faults.crash_on_start:
        sys.exit(f"{SERVICE} {options.version} ({options.color}): injected crash on start")
    metrics = ServiceMetrics(SERVICE, options.color, options.version)
    config = _live_config(options, metrics)
    pool = Pool(options.postgres_conninfo)
    pool.warm()
    api = TradingApi(
        options,
        pool,
        redis_client(options.redis_url, options.redis_url_file, socket_timeout=2),
        Producer(
            client_config(options.kafka)
            | {
                "linger.ms": 0,
                "message.timeout.ms": 5000,
            }
        ),
        config,
    )
    config.reload_on_sighup()
    print(f"{SERVICE} {options.version} ({options.color}) on 127.0.0.1:{options.port}", flush=True)
    serve(options, SERVICE, api.routes(metrics), metrics, config.headers)


def _live_config(options: opts.Options, metrics: ServiceMetrics) -> LiveConfig:
    """The configuration at start; an invalid file stops the service with its message."""
    try:
        return LiveConfig(SERVICE, options.config_path, metrics)
    except RunbookError as err:
        sys.exit(f"{SERVICE} {options.version} ({options.color}): {err}")


if __name__ == "__main__":
    main()
