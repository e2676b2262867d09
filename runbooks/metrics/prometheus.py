"""Metric provider reading a color's traffic from Prometheus' instant-query API.

The three PromQL queries come from the stack's `rollout.metrics.queries`
(`infra.settings.Queries`): `string.Template` text filled with `$service`, `$color` and
`$window` (a Prometheus duration such as `30s`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from string import Template
from typing import Any

import httpx

from infra.settings import Queries
from runbooks.core.model import Sample, Target


class QueryFailed(Exception):
    """Prometheus could not answer one query; becomes a failed Sample, never escapes."""


class PrometheusMetrics:
    """Samples requests, 5xx errors and p95 latency of one color from Prometheus at `url`.

    Each sample looks back `window_seconds` (the analysis interval), or `min_window_seconds`
    when that is longer (it should span at least four scrape intervals).
    """

    def __init__(
        self,
        url: str,
        queries: Queries | None = None,
        timeout_seconds: float = 5.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        min_window_seconds: float = 0.0,
    ) -> None:
        self._url = url.rstrip("/") + "/api/v1/query"
        self._min_window_seconds = min_window_seconds
        self._queries = queries or Queries()
        self._client = client
        self._timeout_seconds = timeout_seconds
        self._clock = clock

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """Query the three series; an empty requests or errors result counts as 0."""
        at = self._clock()
        fill = {
            "service": target.service,
            "color": target.color.value,
            "version": target.version,
            # increase() over a range of few scrapes extrapolates wildly: never look back less.
            "window": prometheus_duration(max(window_seconds, self._min_window_seconds)),
        }
        try:
            with self._session() as client:
                requests = self._scalar(client, self._queries.requests, fill)
                errors = self._scalar(client, self._queries.errors, fill)
                p95 = self._scalar(client, self._queries.p95, fill)
        except QueryFailed as exc:
            return Sample.failed(target.color, at, f"prometheus at {self._url}: {exc}")
        return Sample(
            color=target.color,
            requests=_or_zero(requests),
            errors=_or_zero(errors),
            p95_seconds=p95,
            at=at,
        )

    def _session(self) -> contextlib.AbstractContextManager[httpx.Client]:
        """The injected client (left open), else a fresh one closed after the sample."""
        if self._client is not None:
            return contextlib.nullcontext(self._client)
        return httpx.Client(timeout=self._timeout_seconds)

    def _scalar(self, client: httpx.Client, template: str, fill: dict[str, str]) -> float | None:
        query = Template(template).substitute(fill)
        try:
            response = client.get(self._url, params={"query": query})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise QueryFailed(f"query {query!r} failed: {exc}") from exc
        return parse_instant_result(body, query)


def parse_instant_result(body: Any, query: str) -> float | None:
    """The single value of an instant query's answer; None when empty or NaN."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise QueryFailed(f"query {query!r} was rejected: {error}")
    result = body["data"]["result"]
    if not result:
        return None
    if len(result) > 1:
        raise QueryFailed(f"query {query!r} gave {len(result)} series; it must sum to one")
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


def prometheus_duration(seconds: float) -> str:
    """A window in Prometheus' duration syntax, whole seconds rounded up: 30 -> '30s'."""
    return f"{max(1, math.ceil(seconds))}s"


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value
