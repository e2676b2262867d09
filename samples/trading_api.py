"""trading-api: takes orders, lists them and serves quotes.

    POST /orders          {"symbol", "side", "quantity", "price"} -> 201, row in `orders`,
                          event on Kafka topic `order-events`
    GET  /orders          the 50 most recent orders
    GET  /quotes/<symbol> a quote, cached in Redis under `quotes:v<key version>:<symbol>`,
                          with Cache-Control max-age for the edge
    GET  /health          200 when PostgreSQL and Redis answer, else 503
    GET  /metrics         Prometheus metrics

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

from samples import options as opts
from samples.db import Pool
from samples.web import Request, Response, Routes, ServiceMetrics, serve

SERVICE = "trading-api"
ORDER_TOPIC = "order-events"
QUOTE_TTL_SECONDS = 5


@dataclass
class TradingApi:
    """The service's handlers and the clients they share."""

    options: opts.Options
    db: Pool
    cache: redis.Redis
    producer: Producer

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
            order = _parse_order(request.json())
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
        self.producer.produce(ORDER_TOPIC, payload, key=str(event["symbol"]).encode())
        if self.producer.flush(5) > 0:
            raise RuntimeError(f"order {event['order_id']} not acknowledged by the broker")

    def list_orders(self, _: Request) -> Response:
        """The most recent orders, newest first."""
        with self.db.connection() as conn:
            cursor = conn.execute(
                "SELECT id, symbol, side, quantity, price, version, color, created_at"
                " FROM orders ORDER BY id DESC LIMIT 50"
            )
            names = [c.name for c in cursor.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        return Response.json(200, {"orders": rows})

    def quote(self, request: Request) -> Response:
        """A quote for the symbol, from Redis if cached there."""
        symbol = request.path.removeprefix("/quotes/").upper()
        if not symbol.isalnum() or len(symbol) > 12:
            return Response.json(400, {"error": f"bad symbol '{symbol}'"})
        key = f"quotes:v{self.options.cache_key_version}:{symbol}"
        cached = self.cache.get(key)
        source = "cache" if cached else "computed"
        body = cached if isinstance(cached, bytes) else _make_quote(symbol, self.options.version)
        if not cached:
            self.cache.set(key, body, ex=QUOTE_TTL_SECONDS)
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
            },
        )


def _parse_order(data: dict[str, object]) -> dict[str, object]:
    side = str(data["side"])
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell; got {side!r}")
    quantity, price = Decimal(str(data["quantity"])), Decimal(str(data["price"]))
    if quantity <= 0 or price <= 0:
        raise ValueError("quantity and price must be positive")
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


def main(argv: list[str] | None = None) -> None:
    """Start the service; exits 1 at once with --crash-on-start."""
    options = opts.parse(SERVICE, argv)
    if options.faults.crash_on_start:
        sys.exit(f"{SERVICE} {options.version} ({options.color}): injected crash on start")
    api = TradingApi(
        options,
        Pool(options.postgres_dsn),
        redis.Redis.from_url(options.redis_url, socket_timeout=2),
        Producer(
            {
                "bootstrap.servers": options.bootstrap_servers,
                "linger.ms": 0,
                "message.timeout.ms": 5000,
            }
        ),
    )
    metrics = ServiceMetrics(SERVICE, options.color, options.version)
    print(f"{SERVICE} {options.version} ({options.color}) on 127.0.0.1:{options.port}", flush=True)
    serve(options, SERVICE, api.routes(metrics), metrics)


if __name__ == "__main__":
    main()
