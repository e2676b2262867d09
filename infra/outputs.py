"""The stack outputs the runbooks read, in one place so both sides agree on the keys.

substrate                 "kubernetes" | "aws"
services.<name>           namespace, deployments/services per color, stable, preview, route
database                  writerEndpoint, readerEndpoints, writerIdentifier (aws: the RDS
                          writer instance's identifier, which the db-migration step snapshots)
cache                     endpoint
streaming                 bootstrapBrokers, topics
edge                      distributionId (None when the stack has no edge)
gateway                   name, namespace, installed (bool: the stack installs it, see
                          infra.gateway), addressCommand: prints the Gateway's address, at
                          which the operator points kubernetes.ingressHost's DNS (CNAME)
cluster (aws)             name, created (bool), provider ("explicit"), defaultProviders
identity (aws)            roleArns.<service>: the IRSA role of the service's ServiceAccount
secrets (aws)             delivery ("external-secrets"), databaseSecretArn,
                          secretNames.<service>: the Secret ESO keeps in sync for it
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra.bluegreen import PairNames
from infra.gateway import address_command
from stackspec.model import Color, StackSettings
from stackspec.model import Kubernetes as KubernetesSettings


@dataclass(frozen=True)
class Endpoints:
    """What the data-tier components produced."""

    writer: pulumi.Output[str]
    readers: pulumi.Output[list[str]]
    cache: pulumi.Output[str]
    brokers: pulumi.Output[str]
    distribution_id: pulumi.Output[str] | None
    writer_identifier: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class PlatformOutputs:
    """What an aws stack's cluster, identity and secrets parts produced."""

    cluster_name: pulumi.Output[str]
    cluster_created: bool
    role_arns: dict[str, pulumi.Output[str]]
    secret_names: dict[str, str]
    database_secret_arn: pulumi.Output[str]


def service_outputs(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Per service, the Kubernetes names the runbooks address."""
    namespace = settings.kubernetes.namespace if settings.kubernetes else ""
    result: dict[str, dict[str, Any]] = {}
    for svc in settings.services:
        names = PairNames(svc.name)
        per_color = {str(c): names.color(c) for c in Color}
        result[svc.name] = {
            "namespace": namespace,
            "deployments": per_color,
            "services": per_color,
            "stable": names.stable,
            "preview": names.preview,
            "route": names.route if svc.kind == "http" else None,
        }
    return result


def export_outputs(settings: StackSettings, endpoints: Endpoints) -> None:
    """Export every stack output listed in this module's docstring."""
    pulumi.export("substrate", str(settings.substrate))
    pulumi.export("services", service_outputs(settings))
    database: dict[str, Any] = {
        "writerEndpoint": endpoints.writer,
        "readerEndpoints": endpoints.readers,
    }
    if endpoints.writer_identifier is not None:
        database["writerIdentifier"] = endpoints.writer_identifier
    pulumi.export("database", database)
    pulumi.export("cache", {"endpoint": endpoints.cache})
    pulumi.export(
        "streaming",
        {
            "bootstrapBrokers": endpoints.brokers,
            "topics": [t.model_dump(by_alias=True) for t in settings.streaming.topics],
        },
    )
    pulumi.export("edge", {"distributionId": endpoints.distribution_id})


def export_gateway(cluster: KubernetesSettings, installed: bool) -> None:
    """Export where the services' routes attach (the `gateway` key of the module doc)."""
    pulumi.export(
        "gateway",
        {
            "name": cluster.gateway_name,
            "namespace": cluster.gateway_namespace,
            "installed": installed,
            "addressCommand": address_command(cluster),
        },
    )


def export_platform(platform: PlatformOutputs) -> None:
    """Export the aws-only outputs listed in this module's docstring."""
    pulumi.export(
        "cluster",
        {
            "name": platform.cluster_name,
            "created": platform.cluster_created,
            "provider": "explicit",
            "defaultProviders": "disabled",
        },
    )
    pulumi.export("identity", {"roleArns": platform.role_arns})
    pulumi.export(
        "secrets",
        {
            "delivery": "external-secrets",
            "databaseSecretArn": platform.database_secret_arn,
            "secretNames": platform.secret_names,
        },
    )
