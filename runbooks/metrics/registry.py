"""The metric providers by name, as `rollout.metrics.provider` names them.

METRICS.create("prometheus", url="http://127.0.0.1:19090", queries=settings.queries)
METRICS.create("haproxy", socket_path=".local-stack/haproxy/admin.sock")
METRICS.create("http", url="http://127.0.0.1:18100/{service}/{color}/health")
METRICS.create("cloudwatch", load_balancer="arn:...:loadbalancer/app/trading/abc")
METRICS.create("nop")
"""

from __future__ import annotations

from runbooks.metrics.base import MetricProvider
from runbooks.metrics.cloudwatch import CloudWatchMetrics
from runbooks.metrics.haproxy_stats import HaproxyStatsMetrics
from runbooks.metrics.http_probe import HttpProbeMetrics
from runbooks.metrics.nop import NopMetrics
from runbooks.metrics.prometheus import PrometheusMetrics
from runbooks.registry import Registry

METRICS = Registry[MetricProvider](
    "metric provider",
    {
        "prometheus": PrometheusMetrics,
        "haproxy": HaproxyStatsMetrics,
        "http": HttpProbeMetrics,
        "cloudwatch": CloudWatchMetrics,
        "nop": NopMetrics,
    },
)
