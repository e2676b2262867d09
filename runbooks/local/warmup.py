"""Warming a freshly started color before it is given traffic.

A sample service that answers /health has opened its PostgreSQL pool, but each of the
pool's connections (24, taken in turn) still has a cold server backend (catalogue caches
not loaded, no plan) and no prepared statement (psycopg prepares a query on its 5th run on
a connection), and the process has not yet run the code of a real request. Measured on
this machine (load average 51-54, 2 cores), a fresh trading-api's first 30 `GET /orders`
took 1.1-1.5x the old color's median and requests 30-120 still 1.1x; at 10% of 150
requests/s, those ~120 requests are the first 8 s of the canary step, which the engine's
windows (each covers the step from its start) judge as the version's latency. So the
deploy sends `requests` reads to the new process directly (bypassing HAProxy) before its
server is made ready: the slow start is paid by nobody and is not in any window (the
counts they leave are scraped before the step's weights are set).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import httpx

# 8 runs of each of the sample pool's 24 connections: past psycopg's prepare threshold (5).
WARM_UP_REQUESTS = 192
WARM_UP_WORKERS = 6
WARM_UP_TIMEOUT = 10.0  # a slow or faulty version is warmed as far as it gets, then routed
REQUEST_TIMEOUT = 2.0

# What users read from each sample service judged on its requests' latency (market-data,
# a consumer, is judged on its lag: it is not warmed).
WARM_UP_PATHS: dict[str, tuple[str, ...]] = {
    "trading-api": ("/orders", "/quotes/WARMUP"),
}


def warm_up(
    base_url: str,
    paths: Sequence[str],
    requests: int = WARM_UP_REQUESTS,
    workers: int = WARM_UP_WORKERS,
    timeout: float = WARM_UP_TIMEOUT,
) -> int:
    """GET `paths` in turn on `base_url`, `requests` times in all from `workers` keep-alive
    clients, or until `timeout` seconds have passed; returns how many were answered (any
    status: an injected error is still a warm request). A worker whose request times out
    stops (a version that slow is not made faster by more). Never raises for a failed
    request; no `paths`, no request."""
    if not paths:
        return 0
    deadline = time.monotonic() + timeout
    answered = [0] * workers
    per_worker = -(-requests // workers)

    def work(index: int) -> None:
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
            for n in range(per_worker):
                if time.monotonic() >= deadline:
                    return
                try:
                    client.get(paths[(index + n) % len(paths)])
                except httpx.TimeoutException:
                    return
                except httpx.HTTPError:
                    continue
                answered[index] += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 2.0)
    return sum(answered)
