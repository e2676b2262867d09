"""One IAM role per service for IRSA (IAM Roles for Service Accounts).

Each role trusts only the cluster's OIDC provider, for exactly one ServiceAccount:
`system:serviceaccount:<namespace>:<service>` with audience `sts.amazonaws.com`. What it may
do:
- MSK with IAM auth (when `streaming.auth` is `iam`): connect to and describe the stack's
  cluster; read and describe the topics the service `consumes` and describe and join
  consumer groups whose names start with the service's name; write, idempotently, to the
  topics it `produces` (only those: a service that produces nothing writes nowhere);
- Secrets Manager: GetSecretValue on its own secrets only (the ARNs handed to it), and
  kms:Decrypt on the key those secrets are encrypted with, only through Secrets Manager.

`ServiceRoles.role_arns[service]` is what the service's ServiceAccount carries as its
`eks.amazonaws.com/role-arn` annotation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from stackspec.model import Service, Streaming

STS_AUDIENCE = "sts.amazonaws.com"
KAFKA_CLUSTER_ACTIONS = ("kafka-cluster:Connect", "kafka-cluster:DescribeCluster")
KAFKA_READ_ACTIONS = ("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData")
KAFKA_WRITE_ACTIONS = ("kafka-cluster:DescribeTopic", "kafka-cluster:WriteData")
KAFKA_GROUP_ACTIONS = ("kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup")
KAFKA_IDEMPOTENT_ACTION = "kafka-cluster:WriteDataIdempotently"


def service_subject(namespace: str, service: str) -> str:
    """The `sub` claim of the projected token of `service`'s ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{service}"


def trust_policy(provider_arn: str, issuer: str, namespace: str, service: str) -> str:
    """The role's trust policy: web identity from `issuer`, for one ServiceAccount only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": service_subject(namespace, service),
                            f"{issuer}:aud": STS_AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


def msk_arn(cluster_arn: str, kind: str, name: str) -> str:
    """The ARN of a topic or group of the MSK cluster `cluster_arn`.

    arn:aws:kafka:<region>:<acct>:cluster/<name>/<uuid> -> ...:<kind>/<name>/<uuid>/<name>
    """
    prefix, _, rest = cluster_arn.partition(":cluster/")
    return f"{prefix}:{kind}/{rest}/{name}"


def kafka_statements(cluster_arn: str, service: Service) -> list[dict[str, Any]]:
    """MSK IAM statements for `service` on the cluster `cluster_arn`: read what it
    `consumes`, write what it `produces`."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": list(KAFKA_CLUSTER_ACTIONS), "Resource": cluster_arn}
    ]
    if service.consumes:
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(KAFKA_READ_ACTIONS),
                "Resource": [msk_arn(cluster_arn, "topic", t) for t in service.consumes],
            }
        )
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(KAFKA_GROUP_ACTIONS),
                "Resource": msk_arn(cluster_arn, "group", f"{service.name}*"),
            }
        )
    if service.produces:
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(KAFKA_WRITE_ACTIONS),
                "Resource": [msk_arn(cluster_arn, "topic", t) for t in service.produces],
            }
        )
        # Producers are idempotent by default (Kafka >= 3.0); with WriteData on some topics
        # only, MSK checks this cluster-level action for them (see the MSK IAM docs).
        statements.append(
            {"Effect": "Allow", "Action": KAFKA_IDEMPOTENT_ACTION, "Resource": cluster_arn}
        )
    return statements


def secret_statements(
    secret_arns: Sequence[str], key_arns: Sequence[str], region: str
) -> list[dict[str, Any]]:
    """Read of exactly `secret_arns`, and decrypt with `key_arns` only via Secrets Manager."""
    statements: list[dict[str, Any]] = []
    if secret_arns:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": sorted(secret_arns),
            }
        )
    if key_arns:
        statements.append(
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": sorted(key_arns),
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    return statements


def _trust_of(namespace: str, service: str) -> Callable[[list[str]], str]:
    def render(args: list[str]) -> str:
        provider_arn, issuer = args
        return trust_policy(provider_arn, issuer, namespace, service)

    return render


class ServiceRoles(pulumi.ComponentResource):
    """One IRSA role per service, with its MSK and Secrets Manager permissions."""

    def __init__(
        self,
        name: str,
        services: Sequence[Service],
        namespace: str,
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer: pulumi.Input[str],
        access: ServiceAccess,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:ServiceRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role_arns: dict[str, pulumi.Output[str]] = {}
        for svc in services:
            trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
                _trust_of(namespace, svc.name)
            )
            role = aws.iam.Role(
                f"{name}-{svc.name}",
                description=f"IRSA role of the {svc.name} service ({namespace})",
                assume_role_policy=trust,
                opts=child,
            )
            if access.grants_anything(svc):
                aws.iam.RolePolicy(
                    f"{name}-{svc.name}", role=role.id, policy=access.policy(svc), opts=child
                )
            self.role_arns[svc.name] = role.arn
        self.register_outputs({"roleArns": self.role_arns})


class ServiceAccess:
    """What each service may reach: the MSK cluster (IAM auth) and its secrets."""

    def __init__(
        self,
        region: str,
        streaming: Streaming,
        kafka_cluster_arn: pulumi.Input[str] | None,
        secret_arns: Mapping[str, Sequence[pulumi.Input[str]]],
        key_arns: Sequence[pulumi.Input[str]],
    ) -> None:
        self._region = region
        self._kafka = kafka_cluster_arn if streaming.auth == "iam" else None
        self._secrets = secret_arns
        self._keys = key_arns

    def grants_anything(self, svc: Service) -> bool:
        """Whether `svc` gets any permission (IAM refuses a policy without statements)."""
        return self._kafka is not None or bool(self._secrets.get(svc.name))

    def policy(self, svc: Service) -> pulumi.Output[str]:
        """The inline policy document of `svc`'s role."""
        secrets = list(self._secrets.get(svc.name, ()))
        keys = list(self._keys) if secrets else []

        def render(args: list[Any]) -> str:
            kafka, *rest = args
            own, used_keys = rest[: len(secrets)], rest[len(secrets) :]
            statements = kafka_statements(kafka, svc) if kafka else []
            statements += secret_statements(own, used_keys, self._region)
            return json.dumps({"Version": "2012-10-17", "Statement": statements})

        return pulumi.Output.all(self._kafka, *secrets, *keys).apply(render)
