"""Names the API server refuses though the OpenAPI schema accepts them (negative controls)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.gates.kubenames import name_problems


def deployment(
    name: str = "api",
    labels: dict[str, str] | None = None,
    port: str = "http",
    container: str = "api",
) -> dict[str, Any]:
    pod = {
        "containers": [
            {"name": container, "image": "a:1", "ports": [{"name": port, "containerPort": 8080}]}
        ]
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": "api"}},
        "spec": {"template": {"metadata": {"labels": labels or {"app": "api"}}, "spec": pod}},
    }


def test_a_valid_deployment_has_no_problems() -> None:
    assert name_problems(deployment()) == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (deployment(name="Trading_API"), "metadata.name"),
        (deployment(port="http-metrics-port"), "spec.template.spec.containers[0].ports[0].name"),
        (deployment(port="8080"), "spec.template.spec.containers[0].ports[0].name"),
        (deployment(container="api.v1"), "spec.template.spec.containers[0].name"),
        (deployment(labels={"version": "1.3.2+build/7"}), "metadata.labels.version"),
        (deployment(labels={"-app": "x"}), "metadata.labels"),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1api"}}, "metadata.name"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}, "metadata.name"),
    ],
)
def test_names_the_api_server_refuses_are_found(body: dict[str, Any], where: str) -> None:
    problems = name_problems(body)
    assert problems and problems[0].startswith(where)
