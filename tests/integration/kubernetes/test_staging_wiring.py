"""The deployer and the router on the objects the staging stack declares (no API server can
run here: the Kubernetes API stand-in is seeded with the Deployments, Services and HTTPRoutes
of `plan_stack("staging")`, the program run under set_mocks), so a drift between the names
and labels infra/bluegreen.py declares and those the runbooks address fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from infra.gates.render import kubernetes_manifests
from infra.offline import plan_stack
from runbooks.core.model import Color, Weights
from runbooks.deploy.kubernetes import KubernetesDeployer
from runbooks.routers.kubernetes_route import KubernetesRouter
from runbooks.standins.kube_api import KINDS, KubeApiStandIn

pytestmark = pytest.mark.integration

SERVED = {(kind.api_version, kind.kind) for kind in KINDS.values()}


@pytest.fixture(scope="module")
def staging_objects() -> list[dict[str, Any]]:
    """Staging's manifests of the kinds the stand-in serves (the engine mocked by set_mocks)."""
    manifests, _ = kubernetes_manifests(plan_stack("staging"))
    return [m.body for m in manifests if (m.body["apiVersion"], m.body["kind"]) in SERVED]


@pytest.fixture
def staging(staging_objects: list[dict[str, Any]]) -> Iterator[tuple[KubeApiStandIn, Any]]:
    with KubeApiStandIn() as kube, client.ApiClient(kube.configuration()) as api:
        for body in staging_objects:
            kube.seed(body)
        yield kube, api


def deployments(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}


def test_a_deploy_reaches_each_declared_deployment(
    staging_objects: list[dict[str, Any]], staging: tuple[KubeApiStandIn, Any]
) -> None:
    kube, api = staging
    declared = deployments(staging_objects)
    services = sorted({o["metadata"]["labels"]["app"] for o in declared.values()})
    assert services, "staging declares no Deployment"
    deployer = KubernetesDeployer(
        staging_objects[0]["metadata"]["namespace"], client.AppsV1Api(api), 10, 0.02
    )
    for service in services:
        for color in Color:
            name = f"{service}-{color.value}"
            assert name in declared, f"no Deployment {name} in staging's plan"
            image = declared[name]["spec"]["template"]["spec"]["containers"][0]["image"]
            repository = image.rpartition(":")[0]

            deployer.deploy(service, color, "9.9.9", repository)

            live = kube.get("apps/v1", declared[name]["metadata"]["namespace"], "deployments", name)
            template = live["spec"]["template"]
            assert f"{repository}:9.9.9" in [c["image"] for c in template["spec"]["containers"]]
            assert live["metadata"]["labels"]["version"] == "9.9.9"
            assert template["metadata"]["labels"]["version"] == "9.9.9"
            assert live["spec"]["selector"] == declared[name]["spec"]["selector"]


def test_the_router_moves_each_declared_route(
    staging_objects: list[dict[str, Any]], staging: tuple[KubeApiStandIn, Any]
) -> None:
    kube, api = staging
    routes = [o for o in staging_objects if o["kind"] == "HTTPRoute"]
    assert routes, "staging declares no HTTPRoute"
    for route in routes:
        namespace, service = route["metadata"]["namespace"], route["metadata"]["name"]
        router = KubernetesRouter(namespace, client.CustomObjectsApi(api), client.CoreV1Api(api))

        router.set_weights(service, Weights(blue=90, green=10))
        assert router.get_weights(service) == Weights(blue=90, green=10)
        router.set_weights(service, Weights(blue=0, green=100))

        stable = kube.get("v1", namespace, "services", service)
        assert stable["spec"]["selector"]["color"] == "green"
        assert router.get_weights(service) == Weights(blue=0, green=100)
