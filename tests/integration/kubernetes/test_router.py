"""KubernetesRouter against the Kubernetes API stand-in (no API server can run here): weights
written to the HTTPRoute are read back from what the stand-in stored, a concurrent edit
between the router's read and its patch is refused by resourceVersion, and a color at 100
gets the stable Service's selector. (The recorded-answer tests are in
tests/integration/adapters/test_kubernetes_route.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from runbooks.core.model import Weights
from runbooks.routers.kubernetes_route import KubernetesRouter
from runbooks.standins import kube_objects
from runbooks.standins.kube_api import KubeApiStandIn
from stackspec.errors import RouterError
from tests.integration.kubernetes.conftest import NAMESPACE, ROUTES, SERVICE

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(kube: KubeApiStandIn) -> KubeApiStandIn:
    """A route all on blue and the stable Service selecting blue."""
    kube.seed(kube_objects.httproute(SERVICE, 100, 0))
    kube.seed(kube_objects.service(SERVICE, SERVICE, "blue"))
    return kube


def router(api_client: Any, custom: Any = None) -> KubernetesRouter:
    return KubernetesRouter(
        NAMESPACE, custom or client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    )


def stored_route(kube: KubeApiStandIn) -> dict[str, Any]:
    return kube.get("gateway.networking.k8s.io/v1", NAMESPACE, "httproutes", SERVICE)


def selector(kube: KubeApiStandIn) -> dict[str, str]:
    selected: dict[str, str] = kube.get("v1", NAMESPACE, "services", SERVICE)["spec"]["selector"]
    return selected


def test_weights_are_stored_and_read_back(seeded: KubeApiStandIn, api_client: Any) -> None:
    before = stored_route(seeded)

    router(api_client).set_weights(SERVICE, Weights(blue=90, green=10))

    route = stored_route(seeded)
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [
        (f"{SERVICE}-blue", 90),
        (f"{SERVICE}-green", 10),
    ]
    assert route["spec"]["rules"][0]["matches"] == before["spec"]["rules"][0]["matches"]
    assert route["metadata"]["generation"] == 2
    assert router(api_client).get_weights(SERVICE) == Weights(blue=90, green=10)
    assert selector(seeded)["color"] == "blue"  # not at 100: the stable Service stays


def test_a_color_at_100_gets_the_stable_service(seeded: KubeApiStandIn, api_client: Any) -> None:
    router(api_client).set_weights(SERVICE, Weights(blue=0, green=100))

    assert selector(seeded) == {"app": SERVICE, "color": "green"}
    assert router(api_client).get_weights(SERVICE) == Weights(blue=0, green=100)


def test_an_edit_between_read_and_patch_is_a_conflict(
    seeded: KubeApiStandIn, api_client: Any
) -> None:
    # given another writer labels the route right after the router has read it
    custom = client.CustomObjectsApi(api_client)
    real_get = custom.get_namespaced_custom_object

    def read_then_someone_edits(*args: Any) -> Any:
        found = real_get(*args)
        if not [r for r in seeded.requests if r.method == "PATCH"]:
            edit = {"metadata": {"labels": {"edited-by": "someone-else"}}}
            custom.patch_namespaced_custom_object(*ROUTES, SERVICE, edit)
        return found

    custom.get_namespaced_custom_object = read_then_someone_edits
    # when the router patches with the resourceVersion it read
    with pytest.raises(
        RouterError, match="cannot patch HTTPRoute trading-api in namespace trading: 409 Conflict"
    ):
        router(api_client, custom).set_weights(SERVICE, Weights(blue=50, green=50))
    # then the other edit stands and the weights were not overwritten
    route = stored_route(seeded)
    assert route["metadata"]["labels"]["edited-by"] == "someone-else"
    assert router(api_client).get_weights(SERVICE) == Weights(blue=100, green=0)


def test_a_missing_route_is_a_router_error(kube: KubeApiStandIn, api_client: Any) -> None:
    with pytest.raises(RouterError, match="read HTTPRoute trading-api in namespace trading: 404"):
        router(api_client).get_weights(SERVICE)
