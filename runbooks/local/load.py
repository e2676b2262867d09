"""Steady HTTP load against the local stack, recording what every user request got.

The rehearsal, the benchmarks and the integration tests put traffic on the stack with
this, and judge a release by what users saw: each response's status, the color and
version that served it (`X-Color`, `X-Version`), and its latency. A request that failed to
connect or timed out is recorded with status 0.

Workers pace themselves to an open-loop schedule (a request every `workers / rate`
seconds each), so a slow backend shows up as latency, not as fewer requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, Self, TypeVar

import httpx


@dataclass(frozen=True)
class Hit:
    """One request as its user saw it."""

    at: float
    status: int
    color: str
    version: str
    seconds: float

    @property
    def failed(self) -> bool:
        """A 5xx or no answer at all."""
        return self.status == 0 or self.status >= 500


HitT = TypeVar("HitT", bound=Hit)


class Paced(Generic[HitT]):
    """`rate` requests per second from `workers` threads on an open-loop schedule.

    What one request is belongs to the subclass (`send`); this class owns the pacing, the
    threads and the record. Shared by the read load here and the order writers
    (`runbooks.local.writes`).
    """

    def __init__(self, rate: float, workers: int, timeout: float) -> None:
        if rate <= 0 or workers <= 0:
            raise ValueError(f"rate and workers must be positive; got {rate}, {workers}")
        self.period = workers / rate
        self.timeout = timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._hits: list[HitT] = []
        self._threads = [
            threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(workers)
        ]

    def start(self) -> Self:
        """Start the workers; returns self."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[HitT]:
        """Stop the workers and return every hit, oldest first."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        return self.hits()

    def hits(self, since: float = 0.0) -> list[HitT]:
        """The hits so far (at or after `since`), oldest first."""
        with self._lock:
            return sorted((h for h in self._hits if h.at >= since), key=lambda h: h.at)

    def send(self, client: httpx.Client, late: float) -> HitT:
        """Make one request; `late` is how many seconds after its scheduled time it is sent."""
        raise NotImplementedError

    def _work(self, index: int) -> None:
        # Stagger the workers over one period so requests are spread, not bunched.
        next_at = time.monotonic() + self.period * index / len(self._threads)
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                hit = self.send(client, max(0.0, -delay))
                next_at += self.period
                with self._lock:
                    self._hits.append(hit)


class Load(Paced[Hit]):
    """`rate` GET requests per second to `url` from `workers` threads, until `stop()`."""

    def __init__(self, url: str, rate: float, workers: int = 8, timeout: float = 2.0) -> None:
        super().__init__(rate, workers, timeout)
        self.url = url

    def send(self, client: httpx.Client, late: float) -> Hit:
        """GET `url` once."""
        return _request(client, self.url)


def _request(client: httpx.Client, url: str) -> Hit:
    at, started = time.time(), time.perf_counter()
    try:
        response = client.get(url)
    except httpx.HTTPError:
        return Hit(at, 0, "", "", time.perf_counter() - started)
    return Hit(
        at,
        response.status_code,
        response.headers.get("X-Color", ""),
        response.headers.get("X-Version", ""),
        time.perf_counter() - started,
    )


@contextmanager
def steady_load(url: str, rate: float, workers: int = 8) -> Iterator[Load]:
    """Load for the duration of a `with` block; always stopped on exit."""
    load = Load(url, rate, workers).start()
    try:
        yield load
    finally:
        load.stop()


def failed(hits: Sequence[Hit]) -> int:
    """How many of `hits` failed (5xx or no answer)."""
    return sum(1 for h in hits if h.failed)


@dataclass(frozen=True)
class LoadSummary:
    """What a run of load achieved: requests sent, failed, over how long, by color."""

    requests: int
    failed: int
    seconds: float
    colors: dict[str, int]

    @property
    def rate(self) -> float:
        """Requests per second actually sent."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """`3000 requests in 60.0s (50.0/s), 0 failed; served by blue 2700, green 300`."""
        served = ", ".join(
            f"{color or 'no answer'} {n}" for color, n in sorted(self.colors.items())
        )
        return (
            f"{self.requests} requests in {self.seconds:.1f}s ({self.rate:.1f}/s), "
            f"{self.failed} failed (5xx or no answer); served by {served or 'nobody'}"
        )


def summarize(hits: Sequence[Hit], seconds: float) -> LoadSummary:
    """The summary of `hits` sent over `seconds`."""
    colors: dict[str, int] = {}
    for hit in hits:
        colors[hit.color] = colors.get(hit.color, 0) + 1
    return LoadSummary(len(hits), failed(hits), seconds, colors)


def run_load(
    url: str, rate: float, seconds: float | None, stop: threading.Event, workers: int = 8
) -> LoadSummary:
    """`rate` GETs a second to `url` for `seconds` (None: until `stop` is set), then the
    summary. `stop` ends it early too (a signal handler sets it)."""
    started = time.monotonic()
    load = Load(url, rate, workers).start()
    try:
        stop.wait(seconds)
    finally:
        hits = load.stop()
    return summarize(hits, time.monotonic() - started)
