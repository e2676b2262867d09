"""Rules of the Gateway API: a Gateway admits routes from the namespaces it names only.

A listener whose `allowedRoutes.namespaces.from` is `All`, or `Selector` with an empty
selector (it matches every namespace), lets any namespace's HTTPRoute take its host names
and paths: a team that can create a route anywhere can then capture the platform's
traffic. Omitting `allowedRoutes` is safe (the Gateway API default is `Same`).
Inputs are the manifests as pulumi-kubernetes passes them (camelCase, as in YAML).
"""

from __future__ import annotations

from pulumi_policy import Severity

from infra.policies.base import Config, Props, Rule, get, items, only

GATEWAYS = (
    "kubernetes:gateway.networking.k8s.io/v1:Gateway",
    "kubernetes:gateway.networking.k8s.io/v1beta1:Gateway",
)


@only(*GATEWAYS)
def routes_scoped(resource_type: str, props: Props, config: Config) -> list[str]:
    """No listener admits routes from every namespace."""
    problems = []
    for listener in items(get(props, "spec", "listeners")):
        name = listener.get("name")
        namespaces = get(listener, "allowedRoutes", "namespaces") or {}
        origin = namespaces.get("from")
        if origin == "All":
            problems.append(f"listener {name}: allowedRoutes.namespaces.from must not be All")
        if origin == "Selector" and not _selects(namespaces.get("selector")):
            problems.append(
                f"listener {name}: allowedRoutes.namespaces.selector must not be empty "
                "(it matches every namespace)"
            )
    return problems


def _selects(selector: object) -> bool:
    return bool(get(selector, "matchLabels")) or bool(items(get(selector, "matchExpressions")))


RULES: tuple[Rule, ...] = (
    Rule(
        "k8s-gateway-routes-scoped",
        "Gateways admit routes from named namespaces only",
        Severity.HIGH,
        "Set each listener's allowedRoutes.namespaces to from: Same, or from: Selector with "
        "a selector naming the services' namespace (kubernetes.io/metadata.name).",
        routes_scoped,
    ),
)
