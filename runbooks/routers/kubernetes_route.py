"""Traffic router for Kubernetes via the Gateway API: a weighted HTTPRoute per service.

Service `x` in `namespace` has HTTPRoute `x` whose rules' backendRefs `x-blue` and
`x-green` carry the weights, and a stable Service `x` (for in-cluster callers that bypass
the gateway) whose selector `color` is flipped when one color reaches 100. The route is
patched whole-rules with its resourceVersion (a concurrent edit fails instead of being
overwritten), and read back to verify. Kubernetes keeps serving in-flight requests of a
0-weight backend: the Gateway only stops choosing it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from runbooks.core.model import Color, Weights
from stackspec.errors import BadInput, RouterError

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"


class KubernetesRouter:
    """Sets and verifies HTTPRoute weights through the kubernetes client.

    `custom_api` (CustomObjectsApi) and `core_api` (CoreV1Api) are built from the local
    kubeconfig or the in-cluster config unless given.
    """

    def __init__(
        self,
        namespace: str = "trading",
        custom_api: Any = None,
        core_api: Any = None,
    ) -> None:
        if custom_api is None or core_api is None:
            custom_api, core_api = _default_apis(custom_api, core_api)
        self._namespace = namespace
        self._custom = custom_api
        self._core = core_api

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> KubernetesRouter:
        """The router of the stack's namespace, on the cluster of its kubeconfig context."""
        if settings.kubernetes is None:
            raise BadInput(
                "the kubernetes router needs the stack's `kubernetes` section",
                hint="set kubernetes.namespace (or choose rollout.router: haproxy on local)",
            )
        custom, core = _default_apis(None, None, settings.kubernetes.context)
        return cls(settings.kubernetes.namespace, custom, core)

    def set_weights(self, service: str, weights: Weights) -> None:
        """Patch the route's weights (and the Service selector at 100), then verify."""
        route = self._read_route(service)
        body = {
            "metadata": {"resourceVersion": route["metadata"]["resourceVersion"]},
            "spec": {"rules": weighted_rules(route, service, weights)},
        }
        self._call(
            f"patch HTTPRoute {service}",
            self._custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self._namespace,
            PLURAL,
            service,
            body,
        )
        for color in Color:
            if weights.of(color) == 100:
                selector = {"spec": {"selector": {"color": color.value}}}
                self._call(
                    f"patch Service {service}",
                    self._core.patch_namespaced_service,
                    service,
                    self._namespace,
                    selector,
                )
        live = route_weights(self._read_route(service), service)
        if live != weights:
            raise RouterError(
                f"HTTPRoute {self._namespace}/{service} is at {live}, asked {weights}"
            )

    def get_weights(self, service: str) -> Weights:
        """The split in the live HTTPRoute; RouterError for one that is not an HTTPRoute."""
        route = self._read_route(service)
        try:
            return route_weights(route, service)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RouterError(f"HTTPRoute {service} is malformed: {exc!r}"[:300]) from None

    def _read_route(self, service: str) -> dict[str, Any]:
        route: dict[str, Any] = self._call(
            f"read HTTPRoute {service}",
            self._custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self._namespace,
            PLURAL,
            service,
        )
        return route

    def _call(self, what: str, method: Any, *args: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args)
        except (ApiException, HTTPError) as exc:
            why = f"{getattr(exc, 'status', '')} {getattr(exc, 'reason', None) or exc}".strip()
            raise RouterError(
                f"cannot {what} in namespace {self._namespace}: {why}",
                hint="check the kube context, the namespace, and RBAC for httproutes/services",
            ) from exc


def _default_apis(custom_api: Any, core_api: Any, context: str | None = None) -> tuple[Any, Any]:
    from kubernetes import client

    from runbooks.kube_config import load_kube_config

    load_kube_config(context, RouterError)
    return custom_api or client.CustomObjectsApi(), core_api or client.CoreV1Api()


def _color_refs(rule: dict[str, Any], service: str) -> dict[Color, dict[str, Any]]:
    refs = {ref.get("name"): ref for ref in rule.get("backendRefs", [])}
    return {c: refs[f"{service}-{c.value}"] for c in Color if f"{service}-{c.value}" in refs}


def weighted_rules(route: dict[str, Any], service: str, weights: Weights) -> list[Any]:
    """The route's rules with both colors' backendRef weights set; RouterError if no rule
    references both `<service>-blue` and `<service>-green`."""
    rules: list[Any] = copy.deepcopy(route.get("spec", {}).get("rules", []))
    touched = 0
    for rule in rules:
        refs = _color_refs(rule, service)
        if len(refs) == len(Color):
            for color, ref in refs.items():
                ref["weight"] = weights.of(color)
            touched += 1
    if not touched:
        raise RouterError(
            f"HTTPRoute {service} has no rule with backendRefs {service}-blue and {service}-green",
            hint="the blue-green service component creates both refs; check the route",
        )
    return rules


def route_weights(route: dict[str, Any], service: str) -> Weights:
    """The split of the first rule that references both colors (backendRef weight
    defaults to 1, as in the Gateway API)."""
    for rule in route.get("spec", {}).get("rules", []):
        refs = _color_refs(rule, service)
        if len(refs) == len(Color):
            blue, green = (int(refs[c].get("weight", 1)) for c in Color)
            if blue + green == 0:
                break
            blue_percent = round(100 * blue / (blue + green))
            return Weights(blue=blue_percent, green=100 - blue_percent)
    raise RouterError(f"HTTPRoute {service} sends traffic to neither {service}-blue nor -green")
