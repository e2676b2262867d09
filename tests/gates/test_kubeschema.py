"""The Kubernetes schema gate: negative controls on hand-made manifests, then every stack's
plan (computed under set_mocks, the engine's stand-in) against the strict schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.gates.kubeschema import kubeschema_gate, strict, validate_manifest
from infra.gates.run import STACKS
from infra.offline import PlannedResource
from tests.gates.conftest import resource

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def deployment(**container: Any) -> PlannedResource:
    spec = {
        "selector": {"matchLabels": {"app": "a"}},
        "replicas": 2.0,  # numbers reach the mocks as floats
        "template": {
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "a", "image": "a:1.0", **container}]},
        },
    }
    return resource(DEPLOYMENT, "a", metadata={"name": "a", "namespace": "t"}, spec=spec)


def route(**backend: Any) -> PlannedResource:
    ref = {"name": "a-blue", "port": 8080.0, "weight": 100.0, **backend}
    spec = {
        "parentRefs": [{"name": "gw", "namespace": "gateway"}],
        "rules": [{"backendRefs": [ref]}],
    }
    return resource(ROUTE, "r", metadata={"name": "r", "namespace": "t"}, spec=spec)


def test_a_valid_deployment_and_route_pass() -> None:
    result = kubeschema_gate("t", [deployment(), route()])
    assert (result.passed, result.checked, result.unchecked) == (True, 2, [])


def test_a_deployment_with_an_unknown_field_is_rejected() -> None:
    result = kubeschema_gate("t", [deployment(imagePullPolicyy="Always")])
    assert not result.passed
    assert "imagePullPolicyy" in result.failures[0].message


def test_a_deployment_with_a_wrong_type_is_rejected() -> None:
    result = kubeschema_gate("t", [deployment(ports=[{"containerPort": "http"}])])
    assert [f.resource for f in result.failures] == [f"{DEPLOYMENT} a"]


def test_an_httproute_with_an_unknown_field_is_rejected() -> None:
    result = kubeschema_gate("t", [route(wieght=1.0)])
    assert not result.passed
    assert "wieght" in result.failures[0].message


def test_an_httproute_with_an_out_of_range_weight_is_rejected() -> None:
    result = kubeschema_gate("t", [route(weight=-1.0)])
    assert "spec.rules.0.backendRefs.0.weight" in result.failures[0].message


def test_a_kind_without_any_schema_is_unchecked_not_passed() -> None:
    crd = resource("kubernetes:example.com/v1:Widget", "w", metadata={"name": "w"}, spec={})
    result = kubeschema_gate("t", [crd])
    assert result.checked == 0
    assert "no schema for example.com/v1 Widget" in result.unchecked[0]


def test_strict_closes_objects_unless_they_preserve_unknown_fields() -> None:
    schema = {"properties": {"a": {"properties": {}, "x-kubernetes-preserve-unknown-fields": True}}}
    assert strict(schema) == {
        "properties": {"a": {"properties": {}, "x-kubernetes-preserve-unknown-fields": True}},
        "additionalProperties": False,
    }


def test_external_secrets_are_validated_against_their_vendored_crd() -> None:
    body = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "x"},
        "spec": {"refreshIntervall": "1h"},
    }
    errors = validate_manifest(body)
    assert errors and "refreshIntervall" in errors[0]


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_of_the_stack_matches_its_schema(
    stack: str, plans: Callable[[str], list[PlannedResource]]
) -> None:
    result = kubeschema_gate(stack, plans(stack))
    assert result.checked > 0
    assert result.failures == []


def test_manifests_are_checked_against_the_release_of_the_stacks_eks_cluster() -> None:
    eks = resource("aws:eks/cluster:Cluster", "cluster", version="1.34")
    result = kubeschema_gate("t", [eks, deployment()])
    assert result.note == "Kubernetes 1.34"
    assert kubeschema_gate("t", [deployment()]).note == "Kubernetes 1.33"


HELM = "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize(
    ("values", "passed"), [({"installCRDs": True}, True), ({"installCRD": True}, False)]
)
def test_helm_values_are_checked_against_the_charts_vendored_schema(
    values: dict[str, Any], passed: bool
) -> None:
    release = resource(HELM, "eso", chart="external-secrets", version="2.9.0", values=values)
    result = kubeschema_gate("t", [release])
    assert (result.checked, result.passed, result.unchecked) == (1, passed, [])


def test_a_chart_version_without_a_vendored_schema_is_unchecked() -> None:
    release = resource(HELM, "eso", chart="external-secrets", version="0.1.0", values={})
    result = kubeschema_gate("t", [release])
    assert result.checked == 0
    assert "Helm chart" in result.unchecked[0]
