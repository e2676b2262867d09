"""The traffic routers by name, as `rollout.router` (or the substrate's default) names them.

ROUTERS.create("haproxy", socket_path=".local-stack/haproxy/admin.sock")
ROUTERS.create("kubernetes", namespace="trading")
ROUTERS.create("aws-alb", listener_arns={"trading-api": "arn:..."}, region="eu-west-1")
ROUTERS.create("nop")
ROUTERS.create("kafka-partitions", topics=..., active=..., store_of=...)
"""

from __future__ import annotations

from runbooks.registry import Registry
from runbooks.routers.base import TrafficRouter

# Import paths: a backend's library is imported only when that backend is built.
ROUTERS = Registry[TrafficRouter](
    "traffic router",
    {
        "haproxy": "runbooks.routers.haproxy:HaproxyRouter",
        "kubernetes": "runbooks.routers.kubernetes_route:KubernetesRouter",
        "aws-alb": "runbooks.routers.aws_alb:AwsAlbRouter",
        "nop": "runbooks.routers.nop:NopRouter",
        # Consumer services: partitions, not requests (session.py routes them by kind).
        "kafka-partitions": "runbooks.routers.kafka_partitions:PartitionRouter",
    },
)
