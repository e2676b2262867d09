"""The Pulumi program: stack settings from the engine's config, then every component.

`run()` is what `infra/__main__.py` calls; `declare(settings)` is the program proper and is
what the offline plan and the tests run under mocks.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.bluegreen import BlueGreenService
from infra.cache import InClusterCache, ManagedCache
from infra.database import InClusterDatabase, ManagedDatabase
from infra.edge import EdgeCache
from infra.network import Network
from infra.outputs import Endpoints, export_outputs
from infra.settings import StackSettings, Substrate
from infra.stackfile import PROJECT, settings_from_config
from infra.streaming import InClusterStreaming, ManagedStreaming

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


class LocalStackRefused(Exception):
    """`pulumi up` on the local stack: it is brought up by scripts, not by Pulumi."""

    exit_code = 2

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
    """Declare every component of the stack and export its outputs. Refuses `local`."""
    if settings.substrate is Substrate.LOCAL:
        raise LocalStackRefused(pulumi.get_stack())
    cluster = settings.kubernetes
    assert cluster is not None  # the settings model requires it on both substrates
    namespace = k8s.core.v1.Namespace(
        "namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=cluster.namespace)
    )
    in_namespace = pulumi.ResourceOptions(depends_on=[namespace])
    for svc in settings.services:
        BlueGreenService(svc.name, svc, cluster, opts=in_namespace)
    if settings.substrate is Substrate.AWS:
        endpoints = _declare_aws(settings)
    else:
        endpoints = _declare_in_cluster(settings, in_namespace)
    export_outputs(settings, endpoints)


def _declare_aws(settings: StackSettings) -> Endpoints:
    assert settings.aws is not None and settings.kubernetes is not None
    network = Network("network", settings.aws.network)
    keep_snapshot = pulumi.get_stack() != "dev"
    database = ManagedDatabase("database", settings.database, network, keep_snapshot)
    cache = ManagedCache("cache", settings.cache, network)
    streaming = ManagedStreaming("streaming", settings.streaming, network)
    edge = (
        EdgeCache(
            "edge", settings.edge, settings.kubernetes.ingress_host, settings.aws.certificate_arn
        )
        if settings.edge.enabled
        else None
    )
    return Endpoints(
        writer=database.writer_endpoint,
        readers=database.reader_endpoints,
        cache=cache.endpoint,
        brokers=streaming.bootstrap_brokers,
        distribution_id=edge.distribution_id if edge else None,
    )


def _declare_in_cluster(settings: StackSettings, opts: pulumi.ResourceOptions) -> Endpoints:
    assert settings.kubernetes is not None
    namespace = settings.kubernetes.namespace
    database = InClusterDatabase("database", settings.database, namespace, opts=opts)
    cache = InClusterCache("cache", settings.cache, namespace, opts=opts)
    streaming = InClusterStreaming("streaming", settings.streaming, namespace, opts=opts)
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
