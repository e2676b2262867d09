"""The metric providers by name, as `rollout.metrics.provider` names them.

METRICS.create("prometheus", url="http://127.0.0.1:19090", queries=settings.queries)
METRICS.create("haproxy", socket_path=".local-stack/haproxy/admin.sock")
METRICS.create("http", url="http://127.0.0.1:18100/{service}/{color}/health")
METRICS.create("cloudwatch", load_balancer="arn:...:loadbalancer/app/trading/abc")
METRICS.create("nop")

`from_stack` builds the named provider for the stack's HTTP services and, on a stack with
consumers, measures those with `rollout.metrics.consumers` (see `runbooks.metrics.by_kind`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from runbooks.metrics import by_kind
from runbooks.metrics.base import MetricProvider
from runbooks.registry import Factory, Registry


def _by_kind(name: str, provider: Any) -> Factory[MetricProvider]:
    """`provider` as it is: `create` builds it from options; `from_stack` by service kind."""
    return Factory(provider, partial(by_kind.from_stack, name, provider))


# Import paths: a backend's library is imported only when that backend is built.
METRICS = Registry[MetricProvider](
    "metric provider",
    {
        "prometheus": "runbooks.metrics.prometheus:PrometheusMetrics",
        "haproxy": "runbooks.metrics.haproxy_stats:HaproxyStatsMetrics",
        "http": "runbooks.metrics.http_probe:HttpProbeMetrics",
        "cloudwatch": "runbooks.metrics.cloudwatch:CloudWatchMetrics",
        "nop": "runbooks.metrics.nop:NopMetrics",
    },
    adapt=_by_kind,
)
