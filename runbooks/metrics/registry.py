"""The metric providers by name, as `rollout.metrics.provider` names them.

METRICS.create("prometheus", url="http://127.0.0.1:19090", queries=settings.queries)
METRICS.create("haproxy", socket_path=".local-stack/haproxy/admin.sock")
METRICS.create("http", url="http://127.0.0.1:18100/{service}/{color}/health")
METRICS.create("cloudwatch", load_balancer="arn:...:loadbalancer/app/trading/abc")
METRICS.create("nop")
"""

from __future__ import annotations

from runbooks.metrics.base import MetricProvider
from runbooks.registry import Registry

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
)
