"""Objects to seed the Kubernetes API stand-in with, in the shape infra/bluegreen.py declares:
Deployment and Service `<service>-<color>` labelled app/color/version (the selector is
app/color only, so a new version is a rollout, not a new selector), the container named
after the service, the stable Service `<service>`, and the HTTPRoute `<service>` with one
rule whose backendRefs are both colors."""

from __future__ import annotations

from typing import Any

TIER_LABEL, SERVICE_TIER = "trading/tier", "service"  # infra/incluster.py
PORT = 8080


def deployment(
    service: str,
    color: str,
    version: str,
    image: str,
    namespace: str = "trading",
    replicas: int = 2,
) -> dict[str, Any]:
    """Deployment `<service>-<color>` running `<image>:<version>`."""
    selector = {"app": service, "color": color}
    labels = {**selector, "version": version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{service}-{color}", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**labels, TIER_LABEL: SERVICE_TIER}},
                "spec": {
                    "serviceAccountName": service,
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": service,
                            "image": f"{image}:{version}",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": PORT, "name": "http"}],
                            "env": [{"name": "COLOR", "value": color}],
                        }
                    ],
                },
            },
        },
    }


def service(name: str, app: str, color: str, namespace: str = "trading") -> dict[str, Any]:
    """Service `name` selecting `app`'s pods of `color`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {
            "selector": {"app": app, "color": color},
            "ports": [{"name": "http", "port": 80, "targetPort": PORT}],
        },
    }


def httproute(service: str, blue: int, green: int, namespace: str = "trading") -> dict[str, Any]:
    """HTTPRoute `service` splitting `blue`/`green` between the colors' Services."""
    refs = [
        {"group": "", "kind": "Service", "name": f"{service}-{color}", "port": PORT, "weight": w}
        for color, w in (("blue", blue), ("green", green))
    ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": service, "namespace": namespace, "labels": {"app": service}},
        "spec": {
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": "trading-gateway",
                    "namespace": "gateway",
                }
            ],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}
            ],
        },
    }
