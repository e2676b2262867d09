"""Order writers against the local stack, and the check that every acknowledged order is kept.

Writer threads (default 4) place orders with `POST /orders` through HAProxy's frontend at a
steady open-loop rate, paced by `runbooks.local.load.Paced` like the read load. Each request
is recorded as a `Write`: when it was sent, its status, the order id of a 201 response, its
latency, and the color and version that answered it.

An order is *acknowledged* when the user got a 201 with its id: from then on the system owes
it. `kept_orders` asks PostgreSQL which acknowledged orders are still in `orders` (one query);
`account` does the arithmetic. An order is matched by its id *and* its `created_at`, both
from the 201's body: a restore from backup resets the id sequence, so a later order can
reuse a lost order's id, and matching on the id alone would count the lost one as kept.
`p99_ms` is the writers' latency over any set of windows.

Latency here is measured from when a request was *due* on the open-loop schedule to its
answer (`late + seconds`): writers stalled behind a lock fall behind their schedule, and
counting only the send-to-answer time would hide all but the first stalled request of each
writer (coordinated omission).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
import psycopg

from runbooks.local.load import Hit, Paced

ORDERS_PATH = "/orders"
ACCEPTED = 201
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN")

Window = tuple[float, float]  # [start, end) in epoch seconds


@dataclass(frozen=True)
class Write(Hit):
    """One order as its user saw it: a `Hit` plus how late it was sent and, for a 201, the
    order id and creation time the answer carried."""

    order_id: int | None = None
    late: float = 0.0
    created_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        """The user was told the order was accepted (201 with an id)."""
        return self.status == ACCEPTED and self.order_id is not None

    @property
    def due(self) -> float:
        """When the order was due on the writers' schedule (epoch); `at` is when it was sent."""
        return self.at - self.late

    @property
    def waited(self) -> float:
        """Seconds from when the order was due to its answer (or to giving up)."""
        return self.late + self.seconds


class Writers(Paced[Write]):
    """`rate` orders per second to `url` (HAProxy's `/orders`) from `workers` threads."""

    def __init__(self, url: str, rate: float, workers: int = 4, timeout: float = 10.0) -> None:
        # A long timeout: a writer stalled behind a lock should show up as latency, not as
        # an unanswered order whose fate the user never learned.
        super().__init__(rate, workers, timeout)
        self.url = url

    def send(self, client: httpx.Client, late: float) -> Write:
        """Place one order (a random symbol, side, quantity and price)."""
        order: dict[str, object] = {
            "symbol": random.choice(SYMBOLS),
            "side": random.choice(("buy", "sell")),
            "quantity": random.randint(1, 100),
            "price": round(random.uniform(10, 500), 2),
        }
        return _post(client, self.url, order, late)


def _post(client: httpx.Client, url: str, order: dict[str, object], late: float) -> Write:
    at, started = time.time(), time.perf_counter()
    try:
        response = client.post(url, json=order)
    except httpx.HTTPError:
        return Write(at, 0, "", "", time.perf_counter() - started, None, late)
    seconds = time.perf_counter() - started
    order_id, created_at = _receipt(response)
    return Write(
        at,
        response.status_code,
        response.headers.get("X-Color", ""),
        response.headers.get("X-Version", ""),
        seconds,
        order_id,
        late,
        created_at,
    )


def _receipt(response: httpx.Response) -> tuple[int | None, datetime | None]:
    """The order id and creation time a 201 carries (each None when absent or malformed)."""
    if response.status_code != ACCEPTED:
        return None, None
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    order_id = body.get("order_id")
    try:
        created: datetime | None = datetime.fromisoformat(str(body["created_at"]))
    except (KeyError, ValueError):
        created = None  # still acknowledged: kept_orders then matches the id alone
    return (order_id if isinstance(order_id, int) else None), created


@contextmanager
def steady_writes(url: str, rate: float, workers: int = 4) -> Iterator[Writers]:
    """Writers for the duration of a `with` block; always stopped on exit."""
    writers = Writers(url, rate, workers).start()
    try:
        yield writers
    finally:
        writers.stop()


@dataclass(frozen=True)
class Receipt:
    """An acknowledged order as the database should still hold it."""

    order_id: int
    created_at: datetime | None  # None: the 201 gave no time, match the id alone


def acknowledged(writes: Iterable[Write]) -> list[int]:
    """The ids of the orders users were told were accepted, in the order they were sent."""
    return [r.order_id for r in receipts(writes)]


def receipts(writes: Iterable[Write]) -> list[Receipt]:
    """The acknowledged orders (id and creation time), in the order they were sent."""
    return [
        Receipt(w.order_id, w.created_at)
        for w in writes
        if w.acknowledged and w.order_id is not None
    ]


@dataclass(frozen=True)
class Kept:
    """Acknowledged orders against what the database still holds."""

    accepted: int
    kept: int
    lost: tuple[int, ...]

    @property
    def all_kept(self) -> bool:
        """Every acknowledged order is still there."""
        return self.kept == self.accepted


def account(accepted: Sequence[Receipt], present: Iterable[Receipt]) -> Kept:
    """How many `accepted` orders are `present` (rows as (id, created_at)).

    Each acknowledgement counts once, even when two share an id (a reused id after a
    restore); lost ids are listed in ascending order.
    """
    rows = {r.order_id: r.created_at for r in present}
    lost = [
        r.order_id
        for r in accepted
        if r.order_id not in rows or (r.created_at is not None and rows[r.order_id] != r.created_at)
    ]
    return Kept(len(accepted), len(accepted) - len(lost), tuple(sorted(lost)))


def kept_orders(dsn: str, accepted: Sequence[Receipt]) -> Kept:
    """Ask PostgreSQL (one query) which `accepted` orders are still in `orders`."""
    ids = [r.order_id for r in accepted]
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, created_at FROM orders WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    return account(accepted, (Receipt(int(r[0]), r[1]) for r in rows))


def within(writes: Iterable[Write], windows: Sequence[Window]) -> list[Write]:
    """The writes *due* inside any of `windows`.

    By due time, not send time: an order due while a writer was stalled is sent only after
    the stall, yet it is the stall that made it wait.
    """
    return [w for w in writes if any(start <= w.due < end for start, end in windows)]


def outside(writes: Iterable[Write], windows: Sequence[Window]) -> list[Write]:
    """The writes due outside every one of `windows`."""
    return [w for w in writes if not any(start <= w.due < end for start, end in windows)]


def p99_ms(writes: Sequence[Write]) -> float | None:
    """Nearest-rank 99th percentile of `waited`, in ms; None for no writes.

    Every write counts, failed ones too: an order that timed out waited the longest of all.
    """
    waits = sorted(w.waited for w in writes)
    if not waits:
        return None
    return round(1000 * waits[min(len(waits) - 1, math.ceil(0.99 * len(waits)) - 1)], 3)
