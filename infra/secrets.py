"""Delivering the data tier's credentials to the pods on aws stacks.

What is delivered: the RDS master credentials (the secret RDS manages itself with
`manage_master_user_password`) and the Redis AUTH token (a Secrets Manager secret the
cache component stores), each under its component's customer-managed KMS key.

How: External Secrets Operator (ESO). Each service gets a namespaced `SecretStore` that
authenticates as the service's own ServiceAccount (its IRSA role, see infra.identity) and
one `ExternalSecret` that syncs `<service>-data-credentials` with keys DATABASE_USERNAME,
DATABASE_PASSWORD and REDIS_AUTH_TOKEN. Why not Kubernetes Secrets built from Pulumi
secret outputs: RDS rotates its managed secret by itself (every 7 days by default), and a
copy taken at `pulumi up` would hold a dead password until the next deploy; ESO re-reads
Secrets Manager every `REFRESH_INTERVAL`, so rotations reach the pods without a deploy,
and the plaintext never passes through Pulumi state for the database password. A store
per service (not one ClusterSecretStore) keeps a service from reading another's secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

ESO_CHART = "external-secrets"
# A current release (v2.9.0, August 2026) that serves external-secrets.io/v1.
ESO_VERSION = "2.9.0"
ESO_REPOSITORY = "https://charts.external-secrets.io"
ESO_NAMESPACE = "external-secrets"
ESO_API = "external-secrets.io/v1"
REFRESH_INTERVAL = "15m"


def credentials_secret_name(service: str) -> str:
    """The Kubernetes Secret ESO keeps in sync for `service` (pods mount it as files)."""
    return f"{service}-data-credentials"


def store_name(service: str) -> str:
    """The SecretStore of `service`, authenticated as its ServiceAccount."""
    return f"{service}-aws"


@dataclass(frozen=True)
class DataSecrets:
    """The data tier's secrets in Secrets Manager and the KMS keys they are encrypted with.

    The database's is the secret RDS manages (database.master_secret_arn, under the
    database's key); the cache's holds the AUTH token (cache.auth_secret_arn, under the
    cache's key). Both are created by their components; this module only delivers them.
    """

    database_secret_arn: pulumi.Output[str]
    redis_secret_arn: pulumi.Output[str] | None
    key_arns: tuple[pulumi.Output[str], ...]

    @property
    def arns(self) -> list[pulumi.Output[str]]:
        """Every secret a service may read."""
        redis = [self.redis_secret_arn] if self.redis_secret_arn is not None else []
        return [self.database_secret_arn, *redis]


class SecretDelivery(pulumi.ComponentResource):
    """ESO in the cluster, and per service a SecretStore + ExternalSecret (module doc)."""

    def __init__(
        self,
        name: str,
        services: Sequence[str],
        namespace: str,
        region: str,
        secrets: DataSecrets,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:SecretDelivery", name, None, opts)
        self.operator = k8s.helm.v3.Release(
            f"{name}-operator",
            name=ESO_CHART,
            chart=ESO_CHART,
            version=ESO_VERSION,
            namespace=ESO_NAMESPACE,
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=ESO_REPOSITORY),
            values={"installCRDs": True},
            opts=pulumi.ResourceOptions(parent=self),
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.operator])
        self.secret_names: dict[str, str] = {}
        for service in services:
            k8s.apiextensions.CustomResource(
                f"{name}-{service}-store",
                api_version=ESO_API,
                kind="SecretStore",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=store_name(service), namespace=namespace),
                spec={
                    "provider": {
                        "aws": {
                            "service": "SecretsManager",
                            "region": region,
                            "auth": {"jwt": {"serviceAccountRef": {"name": service}}},
                        }
                    }
                },
                opts=after,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-{service}-credentials",
                api_version=ESO_API,
                kind="ExternalSecret",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=credentials_secret_name(service), namespace=namespace
                ),
                spec=self._external_secret_spec(service, secrets),
                opts=after,
            )
            self.secret_names[service] = credentials_secret_name(service)
        self.register_outputs({"secretNames": self.secret_names})

    @staticmethod
    def _external_secret_spec(service: str, secrets: DataSecrets) -> dict[str, object]:
        data: list[dict[str, object]] = [
            {
                "secretKey": env,
                "remoteRef": {"key": secrets.database_secret_arn, "property": prop},
            }
            for env, prop in (("DATABASE_USERNAME", "username"), ("DATABASE_PASSWORD", "password"))
        ]
        if secrets.redis_secret_arn is not None:
            data.append(
                {"secretKey": "REDIS_AUTH_TOKEN", "remoteRef": {"key": secrets.redis_secret_arn}}
            )
        return {
            "refreshInterval": REFRESH_INTERVAL,
            "secretStoreRef": {"name": store_name(service), "kind": "SecretStore"},
            "target": {"name": credentials_secret_name(service), "creationPolicy": "Owner"},
            "data": data,
        }
