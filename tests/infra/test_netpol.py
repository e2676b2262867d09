"""The namespace's isolation per real stack file: Pod Security labels, default-deny, DNS,
and the flows the services need. The Pulumi engine is mocked with set_mocks (`plans` runs
the program under mocks); `msk_port` is pure and needs no engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.netpol import msk_port
from stackspec.model import Streaming
from stackspec.stackfile import load_stack
from tests.infra.conftest import Plan, of_type, only

KUBERNETES_STACKS = ("dev", "staging", "production")
NAMESPACE = "kubernetes:core/v1:Namespace"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
NAME = "kubernetes.io/metadata.name"


def _ns(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAME: name}}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"port": p, "protocol": "TCP"} for p in ports]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_namespace_enforces_restricted(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: enforce, audit and warn `restricted`, version pinned."""
    labels = only(plans(stack), NAMESPACE, "namespace").props["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"].startswith("v1.")


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_default_deny_and_dns(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: every pod denied both ways, then DNS to kube-dns only."""
    plan = plans(stack)
    deny = only(plan, POLICY, "netpol-default-deny").props["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert not deny.get("ingress") and not deny.get("egress")
    dns = only(plan, POLICY, "netpol-allow-dns").props["spec"]
    assert dns["podSelector"] == {} and dns["policyTypes"] == ["Egress"]
    assert dns["egress"] == [
        {
            "to": [{**_ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_ingress_only_from_gateway_and_metrics(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: HTTP services admit the gateway's namespace and the
    metrics namespace on their port; consumers admit only the metrics namespace."""
    settings = load_stack(stack)
    assert settings.kubernetes is not None
    gateway, metrics = settings.kubernetes.gateway_namespace, settings.kubernetes.metrics_namespace
    assert metrics is not None
    for svc in settings.services:
        spec = only(plans(stack), POLICY, f"netpol-{svc.name}").props["spec"]
        assert spec["podSelector"] == {"matchLabels": {"app": svc.name}}
        (rule,) = spec["ingress"]
        sources = [_ns(gateway), _ns(metrics)] if svc.kind == "http" else [_ns(metrics)]
        assert rule == {"from": sources, "ports": _tcp(svc.port)}, svc.name


def _egress(plan: Plan, service: str) -> list[dict[str, Any]]:
    spec = only(plan, POLICY, f"netpol-{service}").props["spec"]
    assert "Egress" in spec["policyTypes"]
    return list(spec["egress"])


def test_dev_services_reach_the_in_cluster_data_pods(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: egress to postgres, redis and kafka pods by label and
    port, and those labels are the ones the StatefulSets' pods carry."""
    plan = plans("dev")
    pod_labels = [
        s.props["spec"]["template"]["metadata"]["labels"]
        for s in of_type(plan, "kubernetes:apps/v1:StatefulSet")
    ]
    for svc in load_stack("dev").services:
        rules = _egress(plan, svc.name)
        ports = {r["ports"][0]["port"] for r in rules}
        assert ports == {5432, 6379, 9092}  # consumers reach kafka (and the database)
        for rule in rules:
            (peer,) = rule["to"]
            wanted = peer["podSelector"]["matchLabels"]
            assert any(wanted.items() <= labels.items() for labels in pod_labels), wanted
            assert "ipBlock" not in peer


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_aws_services_reach_the_vpc_and_aws_apis(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: egress to the VPC CIDR on RDS, ElastiCache and MSK IAM
    ports, and HTTPS (STS for IRSA, Secrets Manager) anywhere but the metadata service."""
    settings = load_stack(stack)
    assert settings.aws is not None
    cidr = settings.aws.network.vpc_cidr
    for svc in settings.services:
        rules = _egress(plans(stack), svc.name)
        to_vpc = [r for r in rules if r["to"] == [{"ipBlock": {"cidr": cidr}}]]
        assert sorted(r["ports"][0]["port"] for r in to_vpc) == [5432, 6379, 9098]
        (https,) = [r for r in rules if r not in to_vpc]
        assert https["ports"] == _tcp(443)
        assert https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_every_workload_has_its_own_policy(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: each pod template is selected by a policy beyond the
    namespace-wide ones (what checkov's CKV2_K8S_6 asks)."""
    plan = plans(stack)
    selectors = [
        p.props["spec"]["podSelector"].get("matchLabels", {})
        for p in of_type(plan, POLICY)
        if p.props["spec"]["podSelector"]
    ]
    for workload in (w for t in WORKLOADS for w in of_type(plan, t)):
        labels = workload.props["spec"]["template"]["metadata"]["labels"]
        assert any(s.items() <= labels.items() for s in selectors), workload.name


@pytest.mark.parametrize(
    ("auth", "tls", "port"),
    [("iam", True, 9098), ("sasl-scram", True, 9096), ("none", True, 9094), ("none", False, 9092)],
)
def test_msk_port_follows_client_authentication(auth: str, tls: bool, port: int) -> None:
    """No engine needed (a pure function): the MSK bootstrap port per auth and TLS."""
    streaming = Streaming.model_validate({"auth": auth, "tls": tls}, strict=False)
    assert msk_port(streaming) == port
