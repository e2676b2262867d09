"""The blue-green services on Kubernetes, per real stack file and as a component. The Pulumi
engine is mocked with set_mocks throughout (`plans` runs the program under mocks; the
component tests run one BlueGreenService in a mocked engine of their own)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from infra.bluegreen import CREDENTIALS_MOUNT, ROLE_ANNOTATION, BlueGreenService
from infra.secrets import credentials_secret_name
from stackspec.model import Kubernetes, Service
from stackspec.stackfile import PROJECT, load_stack
from tests.infra.conftest import Plan, of_type, only
from tests.infra.test_incluster import restricted_violations

KUBERNETES_STACKS = ("dev", "staging", "production")
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
ZONE, HOST = "topology.kubernetes.io/zone", "kubernetes.io/hostname"


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_service_pod_is_hardened(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: restricted securityContext, limits, probes, pinned tag."""
    deployments = of_type(plans(stack), DEPLOYMENT)
    assert deployments
    for d in deployments:
        assert restricted_violations(d.props["spec"]["template"]["spec"]) == [], d.name


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_probes_start_ready_and_live(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: startup and readiness on the health path; liveness only
    on the port, so a dependency outage never restarts every pod."""
    for svc in load_stack(stack).services:
        for color in ("blue", "green"):
            deployment = only(plans(stack), DEPLOYMENT, f"{svc.name}-{color}")
            (c,) = deployment.props["spec"]["template"]["spec"]["containers"]
            health = {"path": svc.health_path, "port": svc.port}
            assert c["startupProbe"]["httpGet"] == health
            assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 60
            assert c["readinessProbe"]["httpGet"] == health
            assert c["livenessProbe"]["tcpSocket"] == {"port": svc.port}
            assert "httpGet" not in c["livenessProbe"]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_each_color_spreads_over_zones_and_nodes(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: spread by zone (hard on aws) and by node (soft)."""
    required = stack != "dev"  # dev sets kubernetes.zoneSpread: preferred
    for d in of_type(plans(stack), DEPLOYMENT):
        spread = {
            c["topologyKey"]: c
            for c in d.props["spec"]["template"]["spec"]["topologySpreadConstraints"]
        }
        assert spread.keys() == {ZONE, HOST}, d.name
        zone_rule = "DoNotSchedule" if required else "ScheduleAnyway"
        assert spread[ZONE]["whenUnsatisfiable"] == zone_rule
        assert spread[HOST]["whenUnsatisfiable"] == "ScheduleAnyway"
        selector = d.props["spec"]["selector"]
        assert all(c["labelSelector"] == selector and c["maxSkew"] == 1 for c in spread.values())


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_one_service_account_per_service(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: an account per service, no token, used by both colors."""
    plan = plans(stack)
    services = {s.name for s in load_stack(stack).services}
    accounts = {a.props["metadata"]["name"]: a.props for a in of_type(plan, ACCOUNT)}
    assert services <= accounts.keys()
    for name in services:
        assert accounts[name]["automountServiceAccountToken"] is False
        for color in ("blue", "green"):
            pod = only(plan, DEPLOYMENT, f"{name}-{color}").props["spec"]["template"]["spec"]
            assert pod["serviceAccountName"] == name


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_disruption_budgets_let_a_node_drain(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: no budget demands every pod; a single replica has none."""
    plan = plans(stack)
    budgets = {b.props["metadata"]["name"]: b.props["spec"] for b in of_type(plan, PDB)}
    for svc in load_stack(stack).services:
        for color in ("blue", "green"):
            name = f"{svc.name}-{color}"
            if svc.replicas == 1 and svc.autoscaling is None:
                assert name not in budgets
                continue
            assert "minAvailable" not in budgets[name]
            assert budgets[name]["maxUnavailable"] == 1
            assert budgets[name]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_dev_has_no_budget_that_blocks_a_drain(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: dev runs one replica per color, so it has no budget."""
    assert of_type(plans("dev"), PDB) == []


class _ProviderMocks(Mocks):
    """Records each resource's type, name, inputs and the provider reference it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any], str]] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.seen.append((args.typ, args.name, args.inputs, args.provider or ""))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


def _declare(role_arn: str | None) -> _ProviderMocks:
    """One BlueGreenService under a mocked engine, given an explicit kubernetes provider."""
    mocks = _ProviderMocks()
    service = Service.model_validate(
        {
            "name": "orders",
            "image": "registry.example.com/orders",
            "port": 8080,
            "replicas": 3,
            "versions": {"blue": "1.0.0", "green": "1.0.1"},
        }
    )

    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        opts = pulumi.ResourceOptions(providers=[provider])
        BlueGreenService("orders", service, Kubernetes(), opts=opts, role_arn=role_arn)

    def go() -> None:
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="staging", preview=False)
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]

    contextvars.Context().run(go)
    return mocks


def test_role_arn_becomes_the_irsa_annotation() -> None:
    """Engine mocked with set_mocks: role_arn annotates the service's account for IRSA."""
    arn = "arn:aws:iam::123456789012:role/orders"
    accounts = [i for t, _, i, _ in _declare(arn).seen if t == ACCOUNT]
    assert [a["metadata"]["annotations"] for a in accounts] == [{ROLE_ANNOTATION: arn}]
    assert accounts[0]["automountServiceAccountToken"] is False
    plain = [i for t, _, i, _ in _declare(None).seen if t == ACCOUNT]
    assert "annotations" not in plain[0]["metadata"]


def test_explicit_provider_reaches_every_child() -> None:
    """Engine mocked with set_mocks: each Kubernetes child of the component uses the
    provider given to the component, never the default provider."""
    seen = _declare(None).seen
    children = [(t, n, p) for t, n, _, p in seen if t.startswith("kubernetes:") and n != "cluster"]
    assert len(children) >= 8  # 2 Deployments, 4 Services, 2 PDBs, the account, the route
    assert all("::cluster::" in p for _, _, p in children), children


def _containers(plan: Plan, service: str) -> list[dict[str, Any]]:
    return [
        c
        for color in ("blue", "green")
        for c in only(plan, DEPLOYMENT, f"{service}-{color}").props["spec"]["template"]["spec"][
            "containers"
        ]
    ]


def test_production_pods_read_delivered_credentials_and_msk(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: each production pod mounts its service's ESO-synced
    Secret as read-only files (required; files follow RDS's rotation, env would not), never
    as env, and its containers get the MSK IAM brokers, security and region."""
    plan = plans("production")
    settings = load_stack("production")
    assert settings.aws is not None
    for svc in settings.services:
        for color in ("blue", "green"):
            pod = only(plan, DEPLOYMENT, f"{svc.name}-{color}").props["spec"]["template"]["spec"]
            secrets = [v["secret"] for v in pod["volumes"] if "secret" in v]
            assert secrets == [
                {
                    "secretName": credentials_secret_name(svc.name),
                    "optional": False,
                    "defaultMode": 0o440,
                }
            ]
        for c in _containers(plan, svc.name):
            assert "envFrom" not in c
            mounts = {m["name"]: m for m in c["volumeMounts"]}
            assert mounts["credentials"]["mountPath"] == CREDENTIALS_MOUNT
            assert mounts["credentials"]["readOnly"] is True
            env = {e["name"]: e["value"] for e in c["env"]}
            assert env["TRADING_KAFKA_SECURITY"] == "msk-iam"
            assert env["AWS_REGION"] == settings.aws.region
            assert env["TRADING_BOOTSTRAP_SERVERS"].endswith(":9098")  # MSK's IAM listener


def test_dev_pods_reference_no_external_secret(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: dev has no ESO, so no container names its Secret or
    MSK's settings."""
    plan = plans("dev")
    for svc in load_stack("dev").services:
        for c in _containers(plan, svc.name):
            assert "envFrom" not in c
            names = {e["name"] for e in c["env"]}
            assert names.isdisjoint({"TRADING_KAFKA_SECURITY", "AWS_REGION"})
            assert credentials_secret_name(svc.name) not in str(c)
