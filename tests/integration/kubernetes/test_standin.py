"""The Kubernetes API stand-in itself (no API server can run here, so the router and the
deployer are tested against it): every object and Status it answers validates against the
Kubernetes OpenAPI schema (the Gateway API CRD schema for HTTPRoutes), its answers have the
shape of the recorded API server answers, and it keeps the API server's write rules."""

from __future__ import annotations

import http.client
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes import client
from referencing import Registry, Resource

from infra.gates.kubeschema import KUBERNETES_VERSION, validate_manifest
from runbooks.standins import kube_objects
from runbooks.standins.kube_api import JSON_PATCH, MERGE, STRATEGIC, KubeApiStandIn
from tests.integration.kubernetes.conftest import IMAGE, NAMESPACE, ROUTES, SERVICE

pytestmark = pytest.mark.integration

RECORDED = json.loads(
    (Path(__file__).parents[1] / "adapters" / "recorded" / "kubernetes_api.json").read_text()
)
ROUTE_PATH = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NAMESPACE}/httproutes/{SERVICE}"
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{SERVICE}-green"
SERVICE_PATH = f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}"
SERVER_FILLED = ("uid", "resourceVersion", "creationTimestamp", "generation")


def status_errors(body: dict[str, Any]) -> list[str]:
    """Schema errors of a `Status` (kubernetes_validate has the schema, but looks kinds up
    by apiVersion and Status's file is filed under meta/v1)."""
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    folder = root / f"v{KUBERNETES_VERSION.rsplit('.', 1)[0]}.0-local-strict"
    schema = json.loads((folder / "status-meta-v1.json").read_text())
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [e.message for e in validator.iter_errors(body)]


def shape(value: Any) -> Any:
    """The keys (recursively) and scalar types of a JSON value, not its values."""
    if isinstance(value, dict):
        return {key: shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def send(kube: KubeApiStandIn, method: str, path: str, content_type: str, body: Any) -> Any:
    """One raw request (for media types the typed client never sends): (status, body)."""
    port = int(kube.host.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, json.dumps(body), {"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def as_seed(recorded: dict[str, Any], drop_spec: tuple[str, ...] = ()) -> dict[str, Any]:
    """A recorded object without what the API server fills in."""
    body: dict[str, Any] = json.loads(json.dumps(recorded))
    for key in SERVER_FILLED:
        body["metadata"].pop(key, None)
    for key in drop_spec:
        body["spec"].pop(key, None)
    return body


def test_every_answer_validates_against_the_kubernetes_schema(
    kube: KubeApiStandIn, api_client: Any
) -> None:
    # given the three kinds, a Deployment rolling out over several reads
    kube.seed(kube_objects.deployment(SERVICE, "green", "1.0.0", IMAGE))
    kube.seed(kube_objects.service(SERVICE, SERVICE, "blue"))
    kube.seed(kube_objects.httproute(SERVICE, 100, 0))
    kube.set_rollout(NAMESPACE, f"{SERVICE}-green", 3)
    apps, core, custom = (
        client.AppsV1Api(api_client),
        client.CoreV1Api(api_client),
        client.CustomObjectsApi(api_client),
    )
    # when every operation the router and the deployer use is answered, and the errors
    image = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "x:2"}]
    apps.patch_namespaced_deployment(f"{SERVICE}-green", NAMESPACE, image)
    for _ in range(3):
        apps.read_namespaced_deployment(f"{SERVICE}-green", NAMESPACE)
    core.patch_namespaced_service(SERVICE, NAMESPACE, {"spec": {"selector": {"color": "green"}}})
    route = custom.get_namespaced_custom_object(*ROUTES, SERVICE)
    custom.patch_namespaced_custom_object(*ROUTES, SERVICE, {"metadata": {"labels": {"a": "b"}}})
    stale = {"metadata": {"resourceVersion": route["metadata"]["resourceVersion"]}}
    with pytest.raises(client.ApiException):
        custom.patch_namespaced_custom_object(*ROUTES, SERVICE, stale)
    with pytest.raises(client.ApiException):
        apps.read_namespaced_deployment("absent", NAMESPACE)
    # then every answer is valid for its kind, and all kinds and states were seen
    seen = set()
    for request in kube.requests:
        body = request.answer.body
        errors = status_errors(body) if body["kind"] == "Status" else validate_manifest(body)
        assert errors == [], (request.method, request.path, errors)
        seen.add((body["kind"], request.answer.status))
    assert seen == {
        ("Deployment", 200),
        ("Service", 200),
        ("HTTPRoute", 200),
        ("Status", 409),
        ("Status", 404),
    }
    states = [
        r.answer.body["status"]["updatedReplicas"]
        for r in kube.requests
        if r.answer.body["kind"] == "Deployment"
    ]
    assert states == [2, 2, 1, 2]  # patch answer (old status), not observed, rolling, done


def test_answers_have_the_shape_of_the_recorded_ones(kube: KubeApiStandIn, api_client: Any) -> None:
    # given the recorded route and Service, seeded without what the server fills in
    kube.seed(as_seed(RECORDED["route_100_0"]))
    server_defaults = ("clusterIP", "clusterIPs", "type", "sessionAffinity", "ipFamilies")
    service = as_seed(RECORDED["service_on_green"], server_defaults)
    service["spec"]["selector"]["color"] = "blue"
    del service["status"]
    kube.seed(service)
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    # when read and patched as the router does
    route = custom.get_namespaced_custom_object(*ROUTES, SERVICE)
    stale_version = route["metadata"]["resourceVersion"]
    patched_route = custom.patch_namespaced_custom_object(
        *ROUTES,
        SERVICE,
        {"metadata": {"resourceVersion": stale_version}, "spec": RECORDED["route_90_10"]["spec"]},
    )
    selector = {"spec": {"selector": {"color": "green"}}}
    core.patch_namespaced_service(SERVICE, NAMESPACE, selector)
    status, conflict = send(
        kube, "PATCH", ROUTE_PATH, MERGE, {"metadata": {"resourceVersion": stale_version}}
    )
    missing = send(kube, "GET", ROUTE_PATH.replace(SERVICE, "absent"), MERGE, None)[1]
    # then each answer has the recorded keys; the Status bodies are the recorded ones
    answers = [r.answer.body for r in kube.requests]
    assert shape(route) == shape(RECORDED["route_100_0"])
    assert shape(patched_route) == shape(RECORDED["route_90_10"])
    assert patched_route["spec"] == RECORDED["route_90_10"]["spec"]
    assert shape(answers[2]) == shape(RECORDED["service_on_green"])
    assert answers[2]["spec"]["selector"] == RECORDED["service_on_green"]["spec"]["selector"]
    assert (status, conflict) == (409, RECORDED["route_conflict"])
    expected = json.loads(json.dumps(RECORDED["route_not_found"]).replace(SERVICE, "absent"))
    assert missing == expected


def test_writes_bump_resource_version_and_spec_changes_bump_generation(
    kube: KubeApiStandIn,
) -> None:
    seeded = kube.seed(kube_objects.httproute(SERVICE, 100, 0))
    version = int(seeded["metadata"]["resourceVersion"])

    labelled = send(kube, "PATCH", ROUTE_PATH, MERGE, {"metadata": {"labels": {"x": "1"}}})[1]
    same = send(kube, "PATCH", ROUTE_PATH, MERGE, {"metadata": {"labels": {"x": "1"}}})[1]
    weight = [{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 50}]
    reweighted = send(kube, "PATCH", ROUTE_PATH, JSON_PATCH, weight)[1]

    assert int(labelled["metadata"]["resourceVersion"]) > version
    assert labelled["metadata"]["generation"] == 1  # metadata only: same generation
    assert same["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]
    assert int(reweighted["metadata"]["resourceVersion"]) > int(
        labelled["metadata"]["resourceVersion"]
    )
    assert reweighted["metadata"]["generation"] == 2
    assert kube.get("gateway.networking.k8s.io/v1", NAMESPACE, "httproutes", SERVICE) == reweighted


def test_merge_patch_null_deletes_and_lists_are_replaced(kube: KubeApiStandIn) -> None:
    kube.seed(kube_objects.service(SERVICE, SERVICE, "blue"))
    patch = {"metadata": {"labels": {"app": None}}, "spec": {"ports": [{"port": 81}]}}

    status, body = send(kube, "PATCH", SERVICE_PATH, STRATEGIC, patch)

    assert status == 200
    assert "app" not in body["metadata"]["labels"]
    assert body["spec"]["ports"] == [{"port": 81}]  # strategic merge simplified: list replaced


def test_server_fields_and_status_are_not_written_through_the_resource(
    kube: KubeApiStandIn,
) -> None:
    seeded = kube.seed(kube_objects.deployment(SERVICE, "green", "1.0.0", IMAGE))
    forged = {
        "metadata": {"uid": "forged", "generation": 99},
        "status": {"availableReplicas": 0},
    }

    body = send(kube, "PATCH", DEPLOYMENT_PATH, MERGE, forged)[1]

    assert body["metadata"]["uid"] == seeded["metadata"]["uid"]
    assert body["metadata"]["generation"] == 1
    assert body["status"] == seeded["status"]


@pytest.mark.parametrize(
    ("path", "media", "patch", "status", "reason"),
    [
        (
            DEPLOYMENT_PATH,
            JSON_PATCH,
            [{"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "other"}],
            422,
            "Invalid",
        ),
        (DEPLOYMENT_PATH, JSON_PATCH, [{"op": "remove", "path": "/spec/nothing"}], 422, "Invalid"),
        (ROUTE_PATH, STRATEGIC, {"spec": {}}, 415, "UnsupportedMediaType"),
        (DEPLOYMENT_PATH, "application/yaml", {}, 415, "UnsupportedMediaType"),
        (DEPLOYMENT_PATH.replace("deployments", "statefulsets"), MERGE, {}, 404, "NotFound"),
    ],
)
def test_bad_patches_are_refused_with_a_status(
    kube: KubeApiStandIn, path: str, media: str, patch: Any, status: int, reason: str
) -> None:
    kube.seed(kube_objects.deployment(SERVICE, "green", "1.0.0", IMAGE))
    kube.seed(kube_objects.httproute(SERVICE, 100, 0))
    before = kube.get("apps/v1", NAMESPACE, "deployments", f"{SERVICE}-green")

    answer = send(kube, "PATCH", path, media, patch)

    assert (answer[0], answer[1]["kind"], answer[1]["reason"]) == (status, "Status", reason)
    assert kube.get("apps/v1", NAMESPACE, "deployments", f"{SERVICE}-green") == before
