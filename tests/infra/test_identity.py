"""IRSA roles per service and the delivery of the data tier's secrets to the pods.

Resource tests run the program with the Pulumi engine mocked by pulumi.runtime.set_mocks
(the real stack files as engine config); the policy builders are pure functions.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra.identity import kafka_statements, msk_arn, service_subject
from infra.offline import RecordingMocks, engine_config
from infra.program import run
from stackspec.model import Service
from stackspec.stackfile import PROJECT
from tests.infra.conftest import Plan, of_type, only

CLUSTER_ARN = "arn:aws:kafka:us-east-1:000000000000:cluster/streaming-kafka/mock-uuid-1"
SERVICES = ("trading-api", "market-data")


def _policy(plan: Plan, service: str) -> list[dict[str, Any]]:
    doc = json.loads(only(plan, "aws:iam/rolePolicy:RolePolicy", f"irsa-{service}").props["policy"])
    statements: list[dict[str, Any]] = doc["Statement"]
    return statements


def _allowed(statements: list[dict[str, Any]], action: str) -> set[str]:
    found: set[str] = set()
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if action in actions:
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            found.update(resources)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_each_role_trusts_only_its_service_account(
    plans: Callable[[str], Plan], service: str
) -> None:
    """Engine mocked with set_mocks: the role trusts the cluster's OIDC provider, for the
    service's own ServiceAccount (sub) and the STS audience only."""
    role = only(plans("production"), "aws:iam/role:Role", f"irsa-{service}").props
    [statement] = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::000000000000:oidc-")
    conditions = statement["Condition"]["StringEquals"]
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/MOCKcluster-eks"
    assert conditions == {
        f"{issuer}:sub": f"system:serviceaccount:trading:{service}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }


def test_consumer_reads_only_its_topics_and_groups(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: market-data may read the topics it consumes and use its
    own consumer groups; trading-api, which consumes nothing, may read nothing."""
    plan = plans("production")
    reads = _allowed(_policy(plan, "market-data"), "kafka-cluster:ReadData")
    assert reads == {msk_arn(CLUSTER_ARN, "topic", "order-events")}
    groups = _allowed(_policy(plan, "market-data"), "kafka-cluster:AlterGroup")
    assert groups == {msk_arn(CLUSTER_ARN, "group", "market-data*")}
    assert _allowed(_policy(plan, "trading-api"), "kafka-cluster:ReadData") == set()
    assert _allowed(_policy(plan, "trading-api"), "kafka-cluster:Connect") == {CLUSTER_ARN}


@pytest.mark.parametrize("service", SERVICES)
def test_each_role_reads_only_the_data_tier_secrets(
    plans: Callable[[str], Plan], service: str
) -> None:
    """Engine mocked with set_mocks: GetSecretValue on the RDS managed secret and the Redis
    token's secret, nothing else; kms:Decrypt only through Secrets Manager."""
    statements = _policy(plans("production"), service)
    secrets = _allowed(statements, "secretsmanager:GetSecretValue")
    assert len(secrets) == 2 and not any("*" in arn for arn in secrets)
    assert any(":secret:rds!" in arn for arn in secrets)
    [decrypt] = [s for s in statements if s["Action"] == "kms:Decrypt"]
    via = decrypt["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == "secretsmanager.us-east-1.amazonaws.com"


@pytest.mark.parametrize("service", SERVICES)
def test_service_account_carries_its_role(plans: Callable[[str], Plan], service: str) -> None:
    """Engine mocked with set_mocks: the service's ServiceAccount is annotated with the ARN of
    the role whose trust names it."""
    plan = plans("production")
    [account] = [
        r
        for r in of_type(plan, "kubernetes:core/v1:ServiceAccount")
        if r.props["metadata"]["name"] == service
    ]
    annotations = account.props["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == (
        f"arn:aws:iam::000000000000:role/irsa-{service}"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_secrets_reach_the_namespace_through_the_service_identity(
    plans: Callable[[str], Plan], service: str
) -> None:
    """Engine mocked with set_mocks: a SecretStore per service authenticates as its
    ServiceAccount (IRSA), and an ExternalSecret syncs the database and Redis credentials
    into `<service>-data-credentials`, refreshed so RDS rotations reach the pods."""
    plan = plans("production")
    store = only(
        plan, "kubernetes:external-secrets.io/v1:SecretStore", f"secret-delivery-{service}-store"
    ).props
    aws = store["spec"]["provider"]["aws"]
    assert (aws["service"], aws["region"]) == ("SecretsManager", "us-east-1")
    assert aws["auth"] == {"jwt": {"serviceAccountRef": {"name": service}}}
    external = only(
        plan,
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        f"secret-delivery-{service}-credentials",
    ).props
    spec = external["spec"]
    assert spec["secretStoreRef"] == {"name": f"{service}-aws", "kind": "SecretStore"}
    assert spec["target"]["name"] == f"{service}-data-credentials"
    refs = [entry["remoteRef"] for entry in spec["data"]]
    assert [r.get("property") for r in refs] == ["username", "password", None]
    assert ":secret:rds!" in refs[0]["key"]
    assert spec["refreshInterval"] == "15m"


def test_eso_is_installed_pinned(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the operator comes from its chart at a pinned version."""
    release = only(plans("production"), "kubernetes:helm.sh/v3:Release", "secret-delivery-operator")
    assert release.props["chart"] == "external-secrets"
    assert release.props["version"].count(".") == 2


def test_dev_has_no_aws_identity(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the kubernetes substrate declares no IAM or ESO."""
    plan = plans("dev")
    assert of_type(plan, "aws:iam/role:Role") == []
    assert of_type(plan, "kubernetes:external-secrets.io/v1:ExternalSecret") == []


def test_msk_arns_follow_the_cluster_arn() -> None:
    """Pure function: topic and group ARNs share the cluster's name and uuid."""
    assert msk_arn(CLUSTER_ARN, "topic", "orders") == (
        "arn:aws:kafka:us-east-1:000000000000:topic/streaming-kafka/mock-uuid-1/orders"
    )
    assert service_subject("trading", "api") == "system:serviceaccount:trading:api"


def _service(**extra: Any) -> Service:
    base = {"name": "api", "image": "x", "port": 80, "versions": {"blue": "1", "green": "1"}}
    return Service.model_validate(base | extra)


def test_producers_write_only_what_they_produce() -> None:
    """Pure function: a service that produces gets WriteData on those topics only, and
    WriteDataIdempotently on the cluster; it reads nothing it does not consume."""
    statements = kafka_statements(CLUSTER_ARN, _service(produces=("orders",)))
    assert _allowed(statements, "kafka-cluster:WriteDataIdempotently") == {CLUSTER_ARN}
    assert _allowed(statements, "kafka-cluster:WriteData") == {
        msk_arn(CLUSTER_ARN, "topic", "orders")
    }
    assert _allowed(statements, "kafka-cluster:ReadData") == set()


def test_a_service_that_produces_nothing_writes_nowhere() -> None:
    """Pure function: consumes only -> ReadData and groups, no WriteData of any kind."""
    statements = kafka_statements(CLUSTER_ARN, _service(consumes=("orders",)))
    assert _allowed(statements, "kafka-cluster:WriteData") == set()
    assert _allowed(statements, "kafka-cluster:WriteDataIdempotently") == set()
    assert _allowed(statements, "kafka-cluster:ReadData") == {
        msk_arn(CLUSTER_ARN, "topic", "orders")
    }


def test_stack_grants_writes_to_the_producer_only(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: on production trading-api may write order-events
    (what samples/trading_api.py produces) and market-data, a pure consumer, nothing."""
    plan = plans("production")
    writes = _allowed(_policy(plan, "trading-api"), "kafka-cluster:WriteData")
    assert writes == {msk_arn(CLUSTER_ARN, "topic", "order-events")}
    assert _allowed(_policy(plan, "market-data"), "kafka-cluster:WriteData") == set()


def test_stack_outputs_name_roles_and_delivered_secrets() -> None:
    """Engine mocked with set_mocks: production exports its cluster, each service's IRSA
    role and the Secret ESO keeps for it (what operators and the runbooks look up)."""
    seen: dict[str, Any] = {}

    def body() -> pulumi.Output[None]:
        run()
        stack = pulumi.runtime.get_root_resource()
        assert stack is not None
        outputs = stack.outputs  # type: ignore[attr-defined]
        return pulumi.Output.from_input(outputs).apply(seen.update)

    def go() -> None:
        pulumi.runtime.set_mocks(RecordingMocks(), project=PROJECT, stack="production")
        pulumi.runtime.set_all_config(engine_config("production"))
        pulumi.runtime.test(body)()  # type: ignore[no-untyped-call]

    contextvars.Context().run(go)
    assert seen["cluster"] == {
        "name": "trading-production",
        "created": True,
        "provider": "explicit",
        "defaultProviders": "disabled",
    }
    assert seen["identity"]["roleArns"] == {
        s: f"arn:aws:iam::000000000000:role/irsa-{s}" for s in SERVICES
    }
    assert seen["secrets"]["delivery"] == "external-secrets"
    assert seen["secrets"]["secretNames"] == {s: f"{s}-data-credentials" for s in SERVICES}
    assert ":secret:rds!" in seen["secrets"]["databaseSecretArn"]
