"""Simulated user load behind the stand-in ALB, published as the ALB publishes its metrics.

No service runs in the staging rehearsal, so users are simulated: every `tick` seconds,
`rate * tick` requests are split between the colors by the router's LIVE weights (the ALB
listener's or the HTTPRoute's, read back from its stand-in each tick, never from what the
engine asked), each color's
requests answered by the version its Deployment runs now (its `version` label, read from
the Kubernetes stand-in). A request to a version in `faulty` fails (a 5xx) with
probability `error_rate`; latencies follow one fixed spread for every version, so only the
fault tells the colors apart.

Each tick is then put into CloudWatch (`put_metric_data`, namespace AWS/ApplicationELB,
dimensions LoadBalancer + TargetGroup, as the ALB does): `RequestCount`,
`HTTPCode_Target_5XX_Count` (only when some failed, as the ALB omits zero counts) and
`TargetResponseTime` datapoints (seconds; the spread once per color and tick): what
runbooks.metrics.cloudwatch reads. Every simulated request is also kept as a `Hit`, so
the rehearsal's report shows what users saw, as the local rehearsal's does.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from runbooks.core.model import Color, Weights
from runbooks.local.load import Hit
from runbooks.metrics.cloudwatch import dimension_of

NAMESPACE = "AWS/ApplicationELB"
# One fixed latency spread (ms), cycled: every version is equally fast, so a latency verdict
# never tells the colors apart by chance.
LATENCIES_MS = tuple(12.0 + 0.8 * i for i in range(20))


class SimulatedLoad:
    """`rate` simulated requests per second through the live split (see module doc)."""

    def __init__(
        self,
        weights: Callable[[], Weights],
        versions: Callable[[Color], str],
        load_balancer: str,
        target_groups: Mapping[str, str],
        rate: float,
        error_rate: float = 0.2,
        tick: float = 1.0,
        seed: int = 7,
    ) -> None:
        self._weights = weights
        self._versions = versions
        self._load_balancer = dimension_of(load_balancer)
        self._groups = {color: dimension_of(arn) for color, arn in target_groups.items()}
        self._per_tick = max(1, round(rate * tick))
        self._error_rate = error_rate
        self._tick = tick
        self._random = random.Random(seed)
        self._cloudwatch: Any = boto3.client("cloudwatch")
        self.faulty: set[str] = set()
        self._hits: list[Hit] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.problems = 0  # ticks whose weights or versions could not be read

    def start(self) -> SimulatedLoad:
        """Publish one tick now (a provider asked at once has data), then every tick."""
        self._one_tick()
        self._thread.start()
        return self

    def stop(self) -> list[Hit]:
        """Stop and return every simulated request, oldest first."""
        self._stop.set()
        self._thread.join(timeout=self._tick + 5)
        return sorted(self._hits, key=lambda h: h.at)

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self._one_tick()

    def _one_tick(self) -> None:
        try:
            weights = self._weights()
            versions = {color: self._versions(color) for color in Color}
        except Exception:  # a stand-in hiccup costs one tick, not the load
            self.problems += 1
            return
        now = time.time()
        data: list[Any] = []
        for color in Color:
            count = round(self._per_tick * weights.of(color) / 100)
            if count:
                data += self._serve(color, versions[color], count, now)
        for start in range(0, len(data), 1000):  # put_metric_data takes 1000 at most
            self._cloudwatch.put_metric_data(
                Namespace=NAMESPACE, MetricData=data[start : start + 1000]
            )

    def _serve(self, color: Color, version: str, count: int, now: float) -> list[Any]:
        """`count` requests to `color`: their hits kept, their metric datapoints returned."""
        failing = version in self.faulty
        errors = 0
        stamp = datetime.fromtimestamp(now, UTC)
        dimensions = [
            {"Name": "LoadBalancer", "Value": self._load_balancer},
            {"Name": "TargetGroup", "Value": self._groups[color.value]},
        ]
        data: list[Any] = []
        for i in range(count):
            failed = failing and self._random.random() < self._error_rate
            errors += failed
            seconds = LATENCIES_MS[i % len(LATENCIES_MS)] / 1000
            at = now + self._tick * i / count
            self._hits.append(Hit(at, 503 if failed else 200, color.value, version, seconds))
            if i < len(LATENCIES_MS):  # the spread once: the same p95, a small put
                data.append(_datum("TargetResponseTime", dimensions, stamp, seconds))
        data.append(_datum("RequestCount", dimensions, stamp, count))
        if errors:
            data.append(_datum("HTTPCode_Target_5XX_Count", dimensions, stamp, errors))
        return data


def _datum(metric: str, dimensions: list[Any], at: datetime, value: float) -> dict[str, Any]:
    return {"MetricName": metric, "Dimensions": dimensions, "Timestamp": at, "Value": value}
