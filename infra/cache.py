"""Redis: an ElastiCache replication group (aws) or a StatefulSet in-cluster (kubernetes)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.incluster import InClusterServer, ServerSpec
from infra.network import Network
from infra.settings import Cache as CacheSettings

REDIS_PORT = 6379


class ManagedCache(pulumi.ComponentResource):
    """An encrypted, private ElastiCache Redis group; failover and multi-AZ with replicas."""

    def __init__(
        self,
        name: str,
        settings: CacheSettings,
        network: Network,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        has_replicas = settings.replicas >= 1
        # ElastiCache accepts an AUTH token only with encryption in transit.
        token = (
            random.RandomPassword(f"{name}-auth-token", length=40, special=False, opts=child)
            if settings.tls
            else None
        )
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description=f"{name}: trading cache",
            engine="redis",
            engine_version=settings.redis_version,
            node_type=settings.node_type,
            port=REDIS_PORT,
            num_cache_clusters=1 + settings.replicas,
            automatic_failover_enabled=has_replicas,
            multi_az_enabled=has_replicas,
            transit_encryption_enabled=settings.tls,
            at_rest_encryption_enabled=True,
            auth_token=token.result if token else None,
            subnet_group_name=network.cache_subnet_group.name,
            security_group_ids=[network.data_sg.id],
            snapshot_retention_limit=7,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["authToken"]),
        )
        self.endpoint: pulumi.Output[str] = pulumi.Output.concat(
            self.group.primary_endpoint_address, f":{REDIS_PORT}"
        )
        self.register_outputs({"endpoint": self.endpoint})


class InClusterCache(pulumi.ComponentResource):
    """Redis as a single StatefulSet with a PVC (dev)."""

    def __init__(
        self,
        name: str,
        settings: CacheSettings,
        namespace: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Cache", name, None, opts)
        spec = ServerSpec(
            image=f"redis:{settings.redis_version}",
            port=REDIS_PORT,
            data_path="/data",
            storage_gb=2,
            args=("--appendonly", "yes"),
        )
        self.server = InClusterServer(
            "trading:infra:InClusterServer",
            name,
            spec,
            namespace,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.endpoint: pulumi.Output[str] = self.server.endpoint
        self.register_outputs({"endpoint": self.endpoint})
