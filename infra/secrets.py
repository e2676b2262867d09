"""Delivering the data tier's credentials to the pods on aws stacks.

What is delivered: the RDS master credentials (the secret RDS manages itself with
`manage_master_user_password`) and the Redis AUTH token (a Secrets Manager secret the
cache component stores), each under its component's customer-managed KMS key.

How: External Secrets Operator (ESO). Each service gets a namespaced `SecretStore` that
authenticates as the service's own ServiceAccount (its IRSA role, see infra.identity) and
one `ExternalSecret` that fetches DATABASE_USERNAME, DATABASE_PASSWORD and REDIS_AUTH_TOKEN
and syncs `<service>-data-credentials` from them (below). Why not Kubernetes Secrets built
from Pulumi secret outputs: RDS rotates its managed secret by itself (every 7 days by
default), and a copy taken at `pulumi up` would hold a dead password until the next
deploy; ESO re-reads Secrets Manager every `REFRESH_INTERVAL`, so rotations reach the
pods without a deploy, and the plaintext never passes through Pulumi state for the
database password. A store
per service (not one ClusterSecretStore) keeps a service from reading another's secrets.

What the pods get: complete connection strings, not the raw credentials. The ExternalSecret's
`target.template` (engine v2, Go templates) renders, inside the cluster, two keys the pods
mount as files (infra.bluegreen.DataWiring) and the services read with
`--postgres-dsn-file` / `--redis-url-file` (samples.options):
- `postgres-dsn`: postgresql://<user>:<password>@<RDS writer host:port>/<database>?sslmode=require
- `redis-url`: rediss://:<token>@<ElastiCache primary host:port>/0 (TLS: the group has
  transit encryption; the ElastiCache certificate chains to Amazon's public CAs, which the
  image's system trust store holds, so redis-py 6 verifies chain and hostname by default)
User, password and token go through `urlquery`, so any character survives the URL. From
Pulumi the templates take only endpoints and the database name (not secret); ESO fetches
the password and token and renders them in the cluster, so no input, output or plan line
of this component carries either. With mergePolicy `Replace` the Secret holds only the
rendered keys: nothing reads the raw ones, so they are not mounted.

Why `sslmode=require` and not `verify-full`: verify-full checks the server certificate
against the RDS CA (rds-ca-rsa2048-g1 and friends), which is not in public trust stores;
the service image does not ship Amazon's RDS bundle, so verify-full would refuse every
connection. `require` encrypts (the parameter group sets rds.force_ssl=1, so plaintext is
refused anyway) but does not authenticate the server; the traffic stays inside the VPC,
between security groups that admit only the services. Moving to verify-full means adding
the bundle to the image and `&sslrootcert=<path>` to `postgres_dsn_template`. No reader DSN
is rendered: the sample services use the writer only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster import HELM_TIMEOUT_SECONDS

ESO_CHART = "external-secrets"
# A current release (v2.9.0, August 2026) that serves external-secrets.io/v1.
ESO_VERSION = "2.9.0"
ESO_REPOSITORY = "https://charts.external-secrets.io"
ESO_NAMESPACE = "external-secrets"
ESO_API = "external-secrets.io/v1"
WAIT_FOR = "pulumi.com/waitFor"
REFRESH_INTERVAL = "15m"
# The keys ESO fetches (template variables) and the rendered keys (file names in the pod).
USERNAME_KEY, PASSWORD_KEY, TOKEN_KEY = "DATABASE_USERNAME", "DATABASE_PASSWORD", "REDIS_AUTH_TOKEN"
POSTGRES_DSN_KEY, REDIS_URL_KEY = "postgres-dsn", "redis-url"
# The variables samples.options reads, naming the file each rendered key is mounted as.
FILE_ENV = {POSTGRES_DSN_KEY: "TRADING_POSTGRES_DSN_FILE", REDIS_URL_KEY: "TRADING_REDIS_URL_FILE"}
POSTGRES_SSLMODE = "require"  # why not verify-full: module doc
REDIS_DB = 0


def credentials_secret_name(service: str) -> str:
    """The Kubernetes Secret ESO keeps in sync for `service` (pods mount it as files)."""
    return f"{service}-data-credentials"


def store_name(service: str) -> str:
    """The SecretStore of `service`, authenticated as its ServiceAccount."""
    return f"{service}-aws"


@dataclass(frozen=True)
class DataEndpoints:
    """Where the rendered connection strings point; none of it is secret.

    `database`: the RDS writer as `host:port` (aws.rds.Instance.endpoint); `database_name`:
    the writer's database; `cache`: the ElastiCache primary as `host:port`, None without a
    cache secret (then no `redis-url` is rendered).
    """

    database: pulumi.Input[str]
    database_name: pulumi.Input[str]
    cache: pulumi.Input[str] | None


def _escaped(key: str) -> str:
    """The Go-template action that inserts fetched `key`, escaped for a URL."""
    return "{{ ." + key + " | urlquery }}"


def postgres_dsn_template(endpoints: DataEndpoints) -> pulumi.Output[str]:
    """The ESO (engine v2) template of `postgres-dsn`: credentials filled in by ESO."""
    user, password = _escaped(USERNAME_KEY), _escaped(PASSWORD_KEY)
    return pulumi.Output.concat(
        f"postgresql://{user}:{password}@",
        endpoints.database,
        "/",
        endpoints.database_name,
        f"?sslmode={POSTGRES_SSLMODE}",
    )


def redis_url_template(cache: pulumi.Input[str]) -> pulumi.Output[str]:
    """The ESO (engine v2) template of `redis-url`: the AUTH token filled in by ESO."""
    return pulumi.Output.concat(f"rediss://:{_escaped(TOKEN_KEY)}@", cache, f"/{REDIS_DB}")


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
        endpoints: DataEndpoints,
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
            timeout=HELM_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.operator])
        self.secret_names: dict[str, str] = {}
        # Per service: its ExternalSecret, awaited until ESO reports it Ready (the Secret
        # exists): the service's Deployments depend on it (infra.program).
        self.external_secrets: dict[str, k8s.apiextensions.CustomResource] = {}
        # Per service: the variable samples.options reads -> the rendered key (file) it names.
        self.files: dict[str, dict[str, str]] = {}
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
            self.external_secrets[service] = k8s.apiextensions.CustomResource(
                f"{name}-{service}-credentials",
                api_version=ESO_API,
                kind="ExternalSecret",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=credentials_secret_name(service),
                    namespace=namespace,
                    # pulumi-kubernetes' generic await: done once ESO has written the Secret.
                    annotations={WAIT_FOR: "condition=Ready"},
                ),
                spec=external_secret_spec(service, secrets, endpoints),
                opts=after,
            )
            self.secret_names[service] = credentials_secret_name(service)
            self.files[service] = {
                FILE_ENV[key]: key for key in rendered_keys(secrets.redis_secret_arn is not None)
            }
        self.register_outputs({"secretNames": self.secret_names})


def rendered_keys(with_redis: bool) -> tuple[str, ...]:
    """The keys of the synced Secret (the files in the pod)."""
    return (POSTGRES_DSN_KEY, REDIS_URL_KEY) if with_redis else (POSTGRES_DSN_KEY,)


def external_secret_spec(
    service: str, secrets: DataSecrets, endpoints: DataEndpoints
) -> dict[str, object]:
    """The ExternalSecret of `service`: fetch the credentials, render the connection strings.

    The spec holds ARNs, endpoints and templates only; the values are fetched by ESO.
    """
    data: list[dict[str, object]] = [
        {"secretKey": key, "remoteRef": {"key": secrets.database_secret_arn, "property": prop}}
        for key, prop in ((USERNAME_KEY, "username"), (PASSWORD_KEY, "password"))
    ]
    rendered: dict[str, pulumi.Input[str]] = {POSTGRES_DSN_KEY: postgres_dsn_template(endpoints)}
    if secrets.redis_secret_arn is not None:
        if endpoints.cache is None:
            raise ValueError(f"{service}: a Redis secret without a cache endpoint to render")
        data.append({"secretKey": TOKEN_KEY, "remoteRef": {"key": secrets.redis_secret_arn}})
        rendered[REDIS_URL_KEY] = redis_url_template(endpoints.cache)
    return {
        "refreshInterval": REFRESH_INTERVAL,
        "secretStoreRef": {"name": store_name(service), "kind": "SecretStore"},
        "target": {
            "name": credentials_secret_name(service),
            "creationPolicy": "Owner",
            "template": {
                "engineVersion": "v2",
                "mergePolicy": "Replace",
                "type": "Opaque",
                "data": rendered,
            },
        },
        "data": data,
    }
