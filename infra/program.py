"""The Pulumi program: stack settings from the engine's config, then every component.

`run()` is what `infra/__main__.py` calls; `declare(settings)` is the program proper and is
what the offline plan and the tests run under mocks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.bluegreen import BlueGreenService, DataWiring
from infra.cache import InClusterCache, ManagedCache
from infra.cluster import AwsCluster, declare_aws_cluster, kubernetes_provider
from infra.database import InClusterDatabase, ManagedDatabase
from infra.edge import EdgeCache
from infra.gateway import OriginFirewall, PlatformGateway
from infra.identity import ServiceAccess, ServiceRoles
from infra.netpol import NamespacePolicies, data_flows, pod_security_labels
from infra.network import Network
from infra.outputs import (
    Endpoints,
    PlatformOutputs,
    export_gateway,
    export_outputs,
    export_platform,
)
from infra.secrets import DataEndpoints, DataSecrets, SecretDelivery
from infra.streaming import InClusterStreaming, ManagedStreaming
from infra.topics import InClusterTopics, ManagedTopics
from stackspec.errors import BadInput
from stackspec.model import StackSettings, Substrate
from stackspec.stackfile import PROJECT, settings_from_config

# `notifications` is left out on purpose: the engine hands the program secrets decrypted,
# which the settings model rightly refuses as plain text, and the program declares nothing
# from it (the runbooks read it from the stack file).
CONFIG_KEYS = (
    "substrate",
    "services",
    "database",
    "cache",
    "streaming",
    "edge",
    "rollout",
    "kubernetes",
    "aws",
    "local",
)


class LocalStackRefused(BadInput):
    """`pulumi up` on the local stack: it is brought up by scripts, not by Pulumi (exit 2)."""

    def __init__(self, stack: str) -> None:
        super().__init__(
            f"stack '{stack}' has substrate 'local': it is not deployed by Pulumi; "
            "bring it up with `scripts/local-stack up` or rehearse with `make rehearse`"
        )


def read_settings() -> StackSettings:
    """The stack's settings from the engine's config, validated like the runbooks do."""
    config = pulumi.Config(PROJECT)
    section: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        raw = config.get(key)
        if raw is not None:
            section[key] = _parse(raw)
    stack = pulumi.get_stack()
    return settings_from_config(section, path=f"stacks/Pulumi.{stack}.yaml")


def _parse(raw: str) -> Any:
    # Objects and lists arrive as JSON text; plain strings (substrate: aws) as themselves.
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def declare(settings: StackSettings) -> None:
    """Declare every component of the stack and export its outputs. Refuses `local`.

    Every AWS resource uses the region's explicit provider and every Kubernetes resource the
    cluster's (default providers are disabled in the stack files): the program never acts
    on whatever account or cluster the operator's environment points at.
    """
    if settings.substrate is Substrate.LOCAL:
        raise LocalStackRefused(pulumi.get_stack())
    cluster = settings.kubernetes
    assert cluster is not None  # the settings model requires it on both substrates
    platform: AwsPlatform | None = None
    if settings.aws is not None and settings.substrate is Substrate.AWS:
        aws_provider = aws.Provider("aws", region=settings.aws.region)
        platform = AwsPlatform(declare_aws_cluster(settings.aws, aws_provider), aws_provider)
        info = platform.cluster.info
        k8s_provider = kubernetes_provider(info.kubeconfig, cluster, ready=info.ready)
    else:
        k8s_provider = kubernetes_provider(None, cluster)
    on_cluster = pulumi.ResourceOptions(provider=k8s_provider)
    namespace = k8s.core.v1.Namespace(
        "namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=cluster.namespace, labels=pod_security_labels()),
        opts=on_cluster,
    )
    in_namespace = pulumi.ResourceOptions(provider=k8s_provider, depends_on=[namespace])
    if platform is not None:
        endpoints, access = _declare_aws(settings, platform, in_namespace)
    else:
        endpoints, access = _declare_in_cluster(settings, in_namespace), None
    # The routes attach to the Gateway: installed here, or already on the cluster.
    # On aws the Gateway's load balancer admits CloudFront only (infra.gateway).
    firewall = (
        OriginFirewall(
            platform.cluster.info.vpc_id, platform.cluster.info.services_sg_id, platform.provider
        )
        if platform is not None
        else None
    )
    gateway = (
        PlatformGateway("gateway", cluster, opts=on_cluster, firewall=firewall)
        if settings.installs_gateway
        else None
    )
    route_after = [gateway.gateway] if gateway else []
    for svc in settings.services:
        role_arn = access.roles.role_arns[svc.name] if access else None
        data = _data_wiring(settings, svc.name, access, endpoints)
        BlueGreenService(
            svc.name,
            svc,
            cluster,
            opts=in_namespace,
            role_arn=role_arn,
            data=data,
            route_after=route_after,
        )
    is_aws = settings.substrate is Substrate.AWS
    NamespacePolicies(
        "namespace-policies",
        cluster,
        settings.services,
        data_flows(settings, platform.cluster.info.vpc_cidr if platform else None),
        aws_apis=is_aws,
        opts=in_namespace,
    )
    export_outputs(settings, endpoints)
    export_gateway(cluster, installed=gateway is not None)
    if platform is not None and access is not None:
        export_platform(
            PlatformOutputs(
                cluster_name=platform.cluster.info.name,
                cluster_created=platform.cluster.vpc is not None,
                role_arns=access.roles.role_arns,
                secret_names=access.delivery.secret_names,
                database_secret_arn=access.secrets.database_secret_arn,
            )
        )


@dataclass(frozen=True)
class AwsPlatform:
    """The aws stack's cluster (created or adopted) and the region's explicit provider."""

    cluster: AwsCluster
    provider: aws.Provider


@dataclass(frozen=True)
class Access:
    """Who may read what on an aws stack: IRSA roles, stored secrets, their delivery."""

    roles: ServiceRoles
    secrets: DataSecrets
    delivery: SecretDelivery


def _declare_aws(
    settings: StackSettings, platform: AwsPlatform, in_namespace: pulumi.ResourceOptions
) -> tuple[Endpoints, Access]:
    assert settings.aws is not None and settings.kubernetes is not None
    on_aws = pulumi.ResourceOptions(provider=platform.provider)
    info = platform.cluster.info
    network = Network(
        "network",
        info.vpc_id,
        info.subnet_ids,
        info.services_sg_id,
        settings.streaming,
        operator_sg_id=settings.aws.network.operator_security_group_id,
        opts=on_aws,
    )
    logs_key_arn = platform.cluster.logs_key.arn
    keep_snapshot = pulumi.get_stack() != "dev"
    database = ManagedDatabase(
        "database",
        settings.database,
        network,
        keep_snapshot,
        logs_key_arn=logs_key_arn,
        opts=on_aws,
    )
    cache = ManagedCache("cache", settings.cache, network, logs_key_arn=logs_key_arn, opts=on_aws)
    streaming = ManagedStreaming(
        "streaming", settings.streaming, network, logs_key_arn=logs_key_arn, opts=on_aws
    )
    # The brokers create no topic on first use: each declared one is created after the cluster.
    ManagedTopics("topics", settings.streaming, streaming.cluster_arn, settings.aws.region)
    edge = (
        EdgeCache(
            "edge",
            settings.edge,
            settings.kubernetes.ingress_host,
            # The edge's WAF logs live in us-east-1: the logs key only serves its own region.
            logs_key_arn=logs_key_arn if settings.aws.region == "us-east-1" else None,
            opts=on_aws,
        )
        if settings.edge.enabled
        else None
    )
    access = _declare_access(settings, platform, database, cache, streaming, in_namespace)
    endpoints = Endpoints(
        writer=database.writer_endpoint,
        readers=database.reader_endpoints,
        cache=cache.endpoint,
        brokers=streaming.bootstrap_brokers,
        distribution_id=edge.distribution_id if edge else None,
        writer_identifier=database.writer.identifier,
    )
    return endpoints, access


def _declare_access(
    settings: StackSettings,
    platform: AwsPlatform,
    database: ManagedDatabase,
    cache: ManagedCache,
    streaming: ManagedStreaming,
    in_namespace: pulumi.ResourceOptions,
) -> Access:
    assert settings.aws is not None and settings.kubernetes is not None
    on_aws = pulumi.ResourceOptions(provider=platform.provider)
    namespace, region = settings.kubernetes.namespace, settings.aws.region
    secrets = DataSecrets(
        database_secret_arn=database.master_secret_arn.apply(_required_arn),
        redis_secret_arn=cache.auth_secret_arn,
        key_arns=(database.key.arn, cache.key.arn),
    )
    names = [s.name for s in settings.services]
    access = ServiceAccess(
        region,
        settings.streaming,
        streaming.cluster.arn,
        {name: secrets.arns for name in names},
        secrets.key_arns,
    )
    info = platform.cluster.info
    roles = ServiceRoles(
        "irsa",
        settings.services,
        namespace,
        info.oidc_provider_arn,
        info.oidc_issuer,
        access,
        opts=on_aws,
    )
    # Endpoints only: ESO renders the connection strings with the credentials in-cluster.
    endpoints = DataEndpoints(
        database=database.writer_endpoint,
        database_name=database.writer.db_name.apply(_required_db_name),
        cache=cache.endpoint,
    )
    delivery = SecretDelivery(
        "secret-delivery", names, namespace, region, secrets, endpoints, opts=in_namespace
    )
    return Access(roles, secrets, delivery)


def _data_wiring(
    settings: StackSettings, service: str, access: Access | None, endpoints: Endpoints
) -> DataWiring | None:
    """What `service`'s pods read on an aws stack; None in dev (its in-cluster data tier)."""
    if access is None or settings.aws is None:
        return None
    return DataWiring(
        secret_name=access.delivery.secret_names[service],
        files=access.delivery.files[service],
        bootstrap_servers=endpoints.brokers,
        region=settings.aws.region,
        secret_ready=[access.delivery.external_secrets[service]],
    )


def _required_db_name(name: str | None) -> str:
    # The writer is always declared with db_name (infra.database); None is a provider bug.
    if not name:
        raise ValueError("RDS returned no database name for the writer")
    return name


def _required_arn(arn: str | None) -> str:
    # RDS reports the managed secret once the writer exists; a None here is a provider bug.
    if arn is None:
        raise ValueError("RDS returned no managed master secret for the writer")
    return arn


def _declare_in_cluster(settings: StackSettings, opts: pulumi.ResourceOptions) -> Endpoints:
    assert settings.kubernetes is not None
    namespace = settings.kubernetes.namespace
    database = InClusterDatabase("database", settings.database, namespace, opts=opts)
    cache = InClusterCache("cache", settings.cache, namespace, opts=opts)
    streaming = InClusterStreaming("streaming", settings.streaming, namespace, opts=opts)
    InClusterTopics(
        "streaming-topics",
        settings.streaming,
        namespace,
        broker="streaming",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[streaming])),
    )
    return Endpoints(
        writer=database.writer_endpoint,
        readers=database.reader_endpoints,
        cache=cache.endpoint,
        brokers=streaming.bootstrap_brokers,
        distribution_id=None,
    )


def run() -> None:
    """The program as `pulumi up` runs it."""
    declare(read_settings())
