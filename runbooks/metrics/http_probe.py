"""Metric provider that measures a color by probing it: N GETs, errors and p95 counted.

Each color has its own URL (bypassing the router), given as a template with `{service}`
and `{color}` fields, or as an explicit map keyed `"<service>/<color>"`. A probe is an
error when it times out, cannot connect, or answers anything but 2xx. The sample is taken
now; `window_seconds` is not used (a probe has no history). Counts are the probes' own
(whole numbers); a probe that cannot connect is one of `errors`, not of `edge_errors` (a
probe bypasses the router). `latency` stays empty: the p95 is the probes' nearest rank.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import httpx

from runbooks.core.model import Sample, Target
from stackspec.errors import BadInput

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


class HttpProbeMetrics:
    """Samples a color by sending `probes` GETs to its URL, one after the other."""

    def __init__(
        self,
        url: str | None = None,
        urls: Mapping[str, str] | None = None,
        probes: int = 20,
        timeout_seconds: float = 2.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (url is None) == (urls is None):
            raise ValueError("give exactly one of url (a template) or urls (a map)")
        if probes < 1:
            raise ValueError(f"probes must be at least 1; got {probes}")
        self._template = url
        self._urls = dict(urls or {})
        self._probes = probes
        self._client = client
        self._timeout_seconds = timeout_seconds
        self._clock = clock

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> HttpProbeMetrics:
        """Probes of `rollout.metrics.url`, a template with `{service}` and `{color}`."""
        url = settings.rollout.metrics.url
        if not url:
            raise BadInput(
                "the http metric provider needs rollout.metrics.url",
                hint="e.g. http://gateway/{service}/{color}/health",
            )
        return cls(url=url)

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """Probe `target` now; a color with no URL is a failed sample."""
        at = self._clock()
        url = self._url_of(target)
        if url is None:
            missing = f"no probe URL for {target.service}/{target.color}"
            return Sample.failed(target.color, at, missing)
        latencies: list[float] = []
        errors = 0
        with self._session() as client:
            for _ in range(self._probes):
                started = time.perf_counter()
                if not _probe_ok(client, url):
                    errors += 1
                latencies.append(time.perf_counter() - started)
        return Sample(
            color=target.color,
            requests=self._probes,
            errors=errors,
            p95_seconds=percentile(latencies, 0.95),
            at=at,
        )

    def _url_of(self, target: Target) -> str | None:
        if self._template is not None:
            return self._template.format(service=target.service, color=target.color.value)
        return self._urls.get(f"{target.service}/{target.color.value}")

    def _session(self) -> contextlib.AbstractContextManager[httpx.Client]:
        """The injected client (left open), else a fresh one closed after the sample."""
        if self._client is not None:
            return contextlib.nullcontext(self._client)
        return httpx.Client(timeout=self._timeout_seconds)


def _probe_ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).is_success
    except httpx.HTTPError:
        return False


def percentile(values: Sequence[float], quantile: float) -> float:
    """The nearest-rank percentile: the smallest value with `quantile` of values at or below."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]
