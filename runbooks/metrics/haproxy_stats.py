"""Metric provider reading per-server counters from HAProxy's `show stat` (admin socket).

Service `x`, color `c` is row `be_x/c`. HAProxy's counters are cumulative since start, so
this provider keeps the previous snapshot per server and returns the *delta since the
previous call* (not exactly `window_seconds`: the engine samples once per window), whole
numbers. It primes on construction with one `show stat` of every server, so the first
sample covers construction..first call. A server with no earlier snapshot (priming failed,
or added later) gives a zero-request sample, which the analysis treats as inconclusive.

What it gives:
- requests    = responses the server sent (hrsp_1xx..hrsp_5xx, hrsp_other)
- errors      = hrsp_5xx (the server's own 5xx)
- edge_errors = econ + eresp: requests that failed at HAProxy on this server (connection
  refused or reset after the retries, a bad or cut response), answered 503/502 by HAProxy;
  HAProxy counts them on the server but not in its hrsp_* (measured on 2.6). A connection
  error redispatched to the other color and answered there is that color's request, not an
  error (`option redispatch`). A 503 for "no server available" is counted on the backend
  only: it belongs to no color and is not attributed to one.
What it cannot give:
- a latency histogram: HAProxy keeps no per-request distribution, so `latency` is empty;
- p95 is APPROXIMATED by `rtime`, HAProxy's *average* response time (ms) over the
  server's last 1024 requests. Use prometheus or http for a true p95;
- versions: a server row is a color, whatever version runs in it (`has_series` is always
  True once the server exists; a missing server row is a failed sample).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbooks.core.model import Sample, Target
from runbooks.haproxy_runtime import HaproxyRuntime
from stackspec.errors import RouterError

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


_RESPONSE_CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


@dataclass(frozen=True)
class Counters:
    """One server's cumulative counters at one `show stat`."""

    requests: int
    errors: int
    edge_errors: int
    rtime_ms: int

    @classmethod
    def from_row(cls, row: dict[str, str]) -> Counters:
        def number(key: str) -> int:
            return int(row.get(key) or 0)

        return cls(
            requests=sum(number(k) for k in _RESPONSE_CLASSES),
            errors=number("hrsp_5xx"),
            edge_errors=number("econ") + number("eresp"),
            rtime_ms=number("rtime"),
        )


class HaproxyStatsMetrics:
    """Samples a color from `show stat` deltas on the admin socket at `socket_path`."""

    def __init__(
        self,
        socket_path: str | Path,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runtime = HaproxyRuntime(Path(socket_path), timeout_seconds)
        self._clock = clock
        self._previous: dict[tuple[str, str], Counters] = {}
        # haproxy not reachable yet: the first sample per server primes instead.
        with contextlib.suppress(RouterError, KeyError, ValueError):
            self._previous = snapshot(self._runtime.show_stat())

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> HaproxyStatsMetrics:
        """Counters of the stack's HAProxy (its admin socket, output `local.adminSocket`)."""
        return cls(outputs.require("local.adminSocket", "the haproxy metric provider"))

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """Requests, errors, router failures and approximate p95 of `target` since the
        previous call."""
        at = self._clock()
        key = (f"be_{target.service}", target.color.value)
        try:
            now = snapshot(self._runtime.show_stat())
        except RouterError as exc:
            return Sample.failed(target.color, at, exc.message)
        except (KeyError, ValueError) as exc:  # rows that are not HAProxy's counters
            return Sample.failed(target.color, at, f"unexpected `show stat` from haproxy: {exc}")
        if key not in now:
            return Sample.failed(target.color, at, f"haproxy has no server {key[0]}/{key[1]}")
        previous = self._previous.get(key)
        self._previous[key] = now[key]
        if previous is None:
            return Sample(color=target.color, requests=0, errors=0, p95_seconds=None, at=at)
        return delta_sample(target, previous, now[key], at)


def snapshot(rows: Iterable[dict[str, str]]) -> dict[tuple[str, str], Counters]:
    """Counters of every server row (not FRONTEND/BACKEND totals) by (backend, server)."""
    return {
        (row["pxname"], row["svname"]): Counters.from_row(row)
        for row in rows
        if row.get("svname") not in ("FRONTEND", "BACKEND")
    }


def delta_sample(target: Target, before: Counters, after: Counters, at: float) -> Sample:
    """The traffic between two snapshots; a counter that went down means haproxy restarted,
    and every counter then counts from 0."""
    restarted = (
        after.requests < before.requests
        or after.errors < before.errors
        or after.edge_errors < before.edge_errors
    )
    base = Counters(0, 0, 0, 0) if restarted else before
    requests = after.requests - base.requests
    return Sample(
        color=target.color,
        requests=requests,
        errors=after.errors - base.errors,
        p95_seconds=after.rtime_ms / 1000 if requests > 0 else None,
        at=at,
        edge_errors=after.edge_errors - base.edge_errors,
    )
