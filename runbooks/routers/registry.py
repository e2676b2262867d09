"""The traffic routers by name, as `rollout.router` (or the substrate's default) names them.

ROUTERS.create("haproxy", socket_path=".local-stack/haproxy/admin.sock")
ROUTERS.create("kubernetes", namespace="trading")
ROUTERS.create("aws-alb", listener_arns={"trading-api": "arn:..."}, region="eu-west-1")
ROUTERS.create("nop")
"""

from __future__ import annotations

from runbooks.registry import Registry
from runbooks.routers.aws_alb import AwsAlbRouter
from runbooks.routers.base import TrafficRouter
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.routers.kubernetes_route import KubernetesRouter
from runbooks.routers.nop import NopRouter

ROUTERS = Registry[TrafficRouter](
    "traffic router",
    {
        "haproxy": HaproxyRouter,
        "kubernetes": KubernetesRouter,
        "aws-alb": AwsAlbRouter,
        "nop": NopRouter,
    },
)
