"""Metric provider reading a color's window from Prometheus' raw counters.

The queries come from the stack's `rollout.metrics.queries` (`stackspec.model.Queries`):
`string.Template` text filled with `$service`, `$color` and `$version`, each giving raw
counter series (never rate()/increase()). For each query and window [start, end]:

- baseline: one instant query at `start` of `last_over_time((query)[lookback:step])`, the
  last value of each series before the window. A subquery rather than the value at
  `start`, because a single failed scrape marks every series of the target stale: read
  at `start` alone, a series would look newborn and its whole history would count.
- window: one range query of `query` over [start, end] at `step`.
- each series' delta is `counters.counter_delta` (rises summed, a fall is a restart that
  counts from 0, a series absent before the window started at 0), whole numbers, then the
  deltas are added over series (latency: per `le`).

What each query gives the `Sample` (see `runbooks.core.model.Sample`):
- `requests`, `errors`: requests the service answered, and its 5xx;
- `latency`: the non-cumulative histogram of the window, `p95_seconds` interpolated in it;
- `edge_errors`: failures of the color at the router the service never saw (local stack:
  HAProxy's per-server connection and response errors; see `Queries.edge_errors`). A 503
  that HAProxy answers because no server is available is counted on its backend only,
  with no server: it belongs to no color and is not attributed to one here. An empty
  `edge_errors` template skips that query (a stack without such a router);
- `has_series`: False when the requests query had no series in the window at all.

A service of kind `consumer` (the stack's services, given at construction) is read with
`rollout.metrics.consumers.queries` (`stackspec.model.ConsumerQueries`) instead, into a
`Sample` of kind "consumer": `requests` = records processed + failed and `errors` = failed
(counter deltas as above), `latency` = the processing-time histogram, and two gauges read by
one range query each over the window's last `gauge_seconds` (the analysis interval: the
engine's windows grow with the step, a gauge's state is now): `lag`, each partition's lowest
lag in that interval, the largest of those (the partition that stayed furthest behind), and
`partitions`, the series' values at the last point, added up. Lowest, because a consumer
that keeps up comes back near zero between bursts and hand-overs, while one that falls
behind never does. The worst partition's, not the sum: the colors own different shares of
the partitions, a sum would grow with the share, and one stuck partition shows whole.
`has_series` is False when none of the counters and gauges has a series. A consumer whose
records fail transiently retries them (samples.market_data): each failed attempt is one
more failed record here, so a faulty color's error rate shows even though nothing is lost.

A hung consumer loop (its thread stuck or dead while its /metrics still answers) freezes
its lag and partitions gauges at whatever they were, and every check above would pass. So
`sync_age` (seconds from each member's last good sync to the scrape that saw it) is read
over the same interval: a series whose last value is above `stale_sync_seconds` (the
partition heartbeat TTL, after which the engine takes the member for dead) makes the
whole sample an ERROR measurement (`Sample.failed`) naming the member.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any

import httpx

from runbooks.core.model import Sample, ServiceKind, Target
from runbooks.metrics.counters import Labels, Point, deltas, labels_of
from runbooks.metrics.histogram import bound_of, non_cumulative, quantile
from runbooks.partitions import HEARTBEAT_TTL
from stackspec.errors import BadInput
from stackspec.model import ConsumerQueries, Queries

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points a series


class QueryFailed(Exception):
    """Prometheus could not answer one query; becomes a failed Sample, never escapes."""


@dataclass(frozen=True)
class Span:
    """The window as Prometheus is asked for it, in whole milliseconds.

    Both ends fall on multiples of the step, as a subquery's evaluations do: the baseline
    (the subquery's last evaluation) is then the value at `start` exactly, which is also the
    range query's first point and the previous window's last, so windows that meet count
    each event once.
    """

    start_ms: int
    end_ms: int
    step_ms: int

    @classmethod
    def ending_at(cls, end: float, seconds: float, step_seconds: float) -> Span:
        """The window of at least `seconds` ending at `end`, in steps of `step_seconds`
        (coarser when the window would need more than MAX_POINTS)."""
        step_ms = max(1, round(step_seconds * 1000), math.ceil(seconds * 1000 / MAX_POINTS))
        steps = max(1, math.ceil(seconds * 1000 / step_ms))
        end_ms = math.floor(end * 1000 / step_ms) * step_ms
        return cls(end_ms - steps * step_ms, end_ms, step_ms)

    @property
    def start(self) -> str:
        return _seconds(self.start_ms)

    @property
    def end(self) -> str:
        return _seconds(self.end_ms)

    @property
    def step(self) -> str:
        return f"{self.step_ms}ms"


class PrometheusMetrics:
    """Samples one color's requests, 5xx, latency histogram and router failures; for the
    services named in `consumers`, its records, failed records, processing time and lag.

    Each sample covers the `window_seconds` before now (the analysis interval), or
    `min_window_seconds` when that is longer. `lookback_seconds` is how far before the
    window a series' last value is looked for (longer than any scrape gap to bridge).
    """

    def __init__(
        self,
        url: str,
        queries: Queries | None = None,
        timeout_seconds: float = 5.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        min_window_seconds: float = 0.0,
        step_seconds: float = 1.0,
        lookback_seconds: float = 300.0,
        consumers: Collection[str] = (),
        consumer_queries: ConsumerQueries | None = None,
        gauge_seconds: float = 0.0,
        stale_sync_seconds: float = HEARTBEAT_TTL,
    ) -> None:
        self._api = url.rstrip("/") + "/api/v1"
        self._queries = queries or Queries()
        self._consumers = frozenset(consumers)
        self._consumer_queries = consumer_queries or ConsumerQueries()
        self._gauge_seconds = gauge_seconds
        self._stale_sync_seconds = stale_sync_seconds
        self._client = client
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._min_window_seconds = min_window_seconds
        self._step_seconds = step_seconds
        self._lookback = prometheus_duration(lookback_seconds)

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> PrometheusMetrics:
        """Prometheus at `rollout.metrics.url`, else the stack's own (`local.prometheusUrl`)."""
        metrics = settings.rollout.metrics
        url = metrics.url or outputs.get("local.prometheusUrl")
        if not url:
            raise BadInput(
                "the prometheus metric provider needs rollout.metrics.url",
                hint="set rollout.metrics.url in the stack file to the Prometheus that "
                "scrapes the services",
            )
        return cls._built(settings, url)

    @classmethod
    def for_consumers(cls, settings: StackSettings, outputs: StackOutputs) -> PrometheusMetrics:
        """Prometheus at `rollout.metrics.consumers.url`, else as `from_stack` finds it."""
        metrics = settings.rollout.metrics
        url = metrics.consumers.url or metrics.url or outputs.get("local.prometheusUrl")
        if not url:
            raise BadInput(
                "measuring consumers with prometheus needs rollout.metrics.consumers.url",
                hint="set rollout.metrics.consumers.url (or rollout.metrics.url) in the stack "
                "file to the Prometheus that scrapes the consumers",
            )
        return cls._built(settings, url)

    @classmethod
    def _built(cls, settings: StackSettings, url: str) -> PrometheusMetrics:
        metrics = settings.rollout.metrics
        return cls(
            url,
            metrics.queries,
            min_window_seconds=metrics.min_window_seconds,
            consumers=consumer_services(settings),
            consumer_queries=metrics.consumers.queries,
            gauge_seconds=max(
                settings.rollout.analysis_interval_seconds, metrics.min_window_seconds
            ),
        )

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """The window's counts; a Prometheus failure is a failed sample, never an exception."""
        at = self._clock()
        span = Span.ending_at(at, max(window_seconds, self._min_window_seconds), self._step_seconds)
        fill = fill_of(target)
        consumer = target.service in self._consumers
        try:
            with self._session() as client:
                if consumer:
                    return self._consumer_sample(client, target, span, fill, at)
                return self._sample(client, target, span, fill, at)
        except QueryFailed as exc:
            kind: ServiceKind = "consumer" if consumer else "http"
            return Sample.failed(target.color, at, f"prometheus at {self._api}: {exc}", kind)

    def _sample(
        self, client: httpx.Client, target: Target, span: Span, fill: Mapping[str, str], at: float
    ) -> Sample:
        queries = self._queries
        requests = self._deltas(client, queries.requests, fill, span)
        edge = self._deltas(client, queries.edge_errors, fill, span) if queries.edge_errors else {}
        edge_errors = sum(edge.values())
        if not requests:
            return Sample(
                color=target.color,
                requests=0,
                errors=0,
                p95_seconds=None,
                at=at,
                has_series=False,
                edge_errors=edge_errors,
            )
        errors = self._deltas(client, queries.errors, fill, span)
        latency = histogram_of(self._deltas(client, queries.latency, fill, span))
        return Sample(
            color=target.color,
            requests=sum(requests.values()),
            errors=sum(errors.values()),
            p95_seconds=quantile(latency, 0.95),
            at=at,
            latency=latency,
            edge_errors=edge_errors,
        )

    def _consumer_sample(
        self, client: httpx.Client, target: Target, span: Span, fill: Mapping[str, str], at: float
    ) -> Sample:
        queries = self._consumer_queries
        processed = self._deltas(client, queries.processed, fill, span)
        failed = self._deltas(client, queries.errors, fill, span)
        recent = span
        if 0 < self._gauge_seconds < (span.end_ms - span.start_ms) / 1000:
            recent = Span.ending_at(span.end_ms / 1000, self._gauge_seconds, span.step_ms / 1000)
        if queries.sync_age:
            ages = self._gauge(client, queries.sync_age, fill, recent)
            stale = stale_syncs(ages, self._stale_sync_seconds)
            if stale:
                return Sample.failed(
                    target.color,
                    at,
                    f"{target.service} {target.color}: consumer loop not syncing "
                    f"(hung or dead while its metrics answer): {'; '.join(stale)}",
                    "consumer",
                )
        lag = self._gauge(client, queries.lag, fill, recent)
        partitions = self._gauge(client, queries.partitions, fill, recent)
        if not (processed or failed or lag or partitions):
            return Sample(
                color=target.color,
                requests=0,
                errors=0,
                p95_seconds=None,
                at=at,
                has_series=False,
                kind="consumer",
            )
        latency = histogram_of(self._deltas(client, queries.latency, fill, span))
        owned = last_total(partitions)
        return Sample(
            color=target.color,
            requests=sum(processed.values()) + sum(failed.values()),
            errors=sum(failed.values()),
            p95_seconds=quantile(latency, 0.95),
            at=at,
            latency=latency,
            kind="consumer",
            lag=stayed_behind(lag),
            partitions=None if owned is None else round(owned),
        )

    def _gauge(
        self, client: httpx.Client, template: str, fill: Mapping[str, str], span: Span
    ) -> dict[Labels, list[Point]]:
        """A gauge's points over the window, by series labels."""
        query = render(template, fill)
        window = self._get(
            client,
            "query_range",
            {"query": query, "start": span.start, "end": span.end, "step": span.step},
        )
        try:
            return parse_matrix(window)
        except QueryFailed as exc:
            raise QueryFailed(f"query {query!r}: {exc}") from exc

    def _deltas(
        self, client: httpx.Client, template: str, fill: Mapping[str, str], span: Span
    ) -> dict[Labels, float]:
        """Each series' whole-number delta over the window, by its labels."""
        query = render(template, fill)
        baseline = f"last_over_time(({query})[{self._lookback}:{span.step}])"
        before = self._get(client, "query", {"query": baseline, "time": span.start})
        window = self._get(
            client,
            "query_range",
            {"query": query, "start": span.start, "end": span.end, "step": span.step},
        )
        try:
            return deltas(parse_vector(before), parse_matrix(window))
        except QueryFailed as exc:
            raise QueryFailed(f"query {query!r}: {exc}") from exc

    def _get(self, client: httpx.Client, endpoint: str, params: dict[str, str]) -> Any:
        try:
            response = client.get(f"{self._api}/{endpoint}", params=params)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise QueryFailed(f"query {params['query']!r} failed: {exc}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise QueryFailed(f"query {params['query']!r} was rejected: {error}")
        return body

    def _session(self) -> contextlib.AbstractContextManager[httpx.Client]:
        """The injected client (left open), else a fresh one closed after the sample."""
        if self._client is not None:
            return contextlib.nullcontext(self._client)
        return httpx.Client(timeout=self._timeout_seconds)


def consumer_services(settings: StackSettings) -> frozenset[str]:
    """The names of the stack's services of kind `consumer`."""
    return frozenset(s.name for s in settings.services if s.kind == "consumer")


def stayed_behind(series: Mapping[Labels, list[Point]]) -> float | None:
    """The largest over the series of each one's lowest value; None without any point."""
    lowest = [min(v for _, v in points) for points in series.values() if points]
    return max(lowest, default=None)


def stale_syncs(series: Mapping[Labels, list[Point]], limit: float) -> list[str]:
    """The series (members) whose last value, seconds since a sync, is above `limit`,
    described ("instance=... had not synced for 42s at 1795732567")."""
    stale = []
    for labels, points in sorted(series.items(), key=lambda item: sorted(item[0])):
        if not points:
            continue
        at, age = points[-1]
        if age > limit:
            who = ", ".join(f"{k}={v}" for k, v in sorted(labels)) or "a member"
            stale.append(f"{who} had not synced for {age:.0f}s at {at:.0f}")
    return stale


def last_total(series: Mapping[Labels, list[Point]]) -> float | None:
    """The series' values at the latest point any of them has, added up; None without any
    point (a series that ended before that point is gone, not counted)."""
    last = max((points[-1][0] for points in series.values() if points), default=None)
    if last is None:
        return None
    return sum(v for points in series.values() for at, v in points if at == last)


def fill_of(target: Target) -> dict[str, str]:
    """The template fields of `target`."""
    return {"service": target.service, "color": target.color.value, "version": target.version}


def render(template: str, fill: Mapping[str, str]) -> str:
    """A query template with its `$fields` filled; an unknown field is a failed query."""
    try:
        return Template(template).substitute(fill)
    except (KeyError, ValueError) as exc:
        raise QueryFailed(f"query template {template!r} cannot be filled: {exc!r}") from exc


def parse_vector(body: Mapping[str, Any]) -> dict[Labels, float]:
    """An instant query's answer (a vector) as value by series labels; NaN is left out."""
    with _malformed("vector"):
        values = {labels_of(r["metric"]): float(r["value"][1]) for r in _result(body, "vector")}
    return {labels: v for labels, v in values.items() if not math.isnan(v)}


def parse_matrix(body: Mapping[str, Any]) -> dict[Labels, list[Point]]:
    """A range query's answer (a matrix) as points by series labels, in time order."""
    with _malformed("matrix"):
        return {
            labels_of(r["metric"]): [
                (float(t), float(v)) for t, v in r["values"] if not math.isnan(float(v))
            ]
            for r in _result(body, "matrix")
        }


def _result(body: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    data = body["data"]
    if data.get("resultType") != kind:
        raise QueryFailed(f"expected a {kind}, got {data.get('resultType')}")
    return list(data["result"])


@contextlib.contextmanager
def _malformed(kind: str) -> Iterator[None]:
    """An answer not shaped as Prometheus documents it is a failed query, not a crash."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise QueryFailed(f"malformed {kind} answer: {exc!r}") from exc


def histogram_of(bucket_deltas: Mapping[Labels, float]) -> tuple[tuple[float, float], ...]:
    """Non-cumulative latency buckets from per-series deltas of `le` series (added up over
    the other labels, e.g. several instances)."""
    cumulative: dict[float, float] = {}
    for labels, delta in bucket_deltas.items():
        le = dict(labels).get("le")
        if le is None:
            raise QueryFailed("the latency query must give series with an `le` label")
        bound = bound_of(le)
        cumulative[bound] = cumulative.get(bound, 0.0) + delta
    return non_cumulative(cumulative)


def prometheus_duration(seconds: float) -> str:
    """A duration in Prometheus' syntax, whole seconds rounded up: 30 -> '30s'."""
    return f"{max(1, math.ceil(seconds))}s"


def _seconds(milliseconds: int) -> str:
    return f"{milliseconds // 1000}.{milliseconds % 1000:03d}"
