"""The kubeschema gate on Gateway API kinds: the GatewayClass and Gateway infra.gateway
declares pass the vendored v1.6.1 schemas, and broken ones are stopped (negative controls).
The stacks' plans are computed under set_mocks (the engine's stand-in)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra.gates.kubeschema import kubeschema_gate
from infra.gateway import CONTROLLER_NAME, gateway_spec
from infra.offline import PlannedResource
from stackspec.model import Gateway as GatewaySettings
from stackspec.model import Kubernetes
from tests.gates.conftest import resource

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
GATEWAY_CLASS = "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"
CLUSTER = Kubernetes(gateway=GatewaySettings(tls_secret_name="origin-tls"))


def gateway(spec: dict[str, Any]) -> PlannedResource:
    body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway"}
    meta = {"name": "trading-gateway", "namespace": "gateway"}
    return resource(GATEWAY, "gw", **body, metadata=meta, spec=spec)


def gateway_class(spec: dict[str, Any]) -> PlannedResource:
    body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass"}
    return resource(GATEWAY_CLASS, "gc", **body, metadata={"name": "envoy-gateway"}, spec=spec)


def listener_changed(**change: Any) -> dict[str, Any]:
    """The module's Gateway spec with its listener's keys replaced by `change`."""
    spec = copy.deepcopy(gateway_spec(CLUSTER))
    listeners: list[dict[str, Any]] = spec["listeners"]  # type: ignore[assignment]
    listeners[0].update(change)
    return spec


def test_the_declared_gateway_and_class_pass() -> None:
    result = kubeschema_gate(
        "t", [gateway(gateway_spec(CLUSTER)), gateway_class({"controllerName": CONTROLLER_NAME})]
    )
    assert (result.passed, result.checked, result.unchecked) == (True, 2, [])


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (listener_changed(prot="HTTPS"), "prot"),
        (listener_changed(port=70000.0), "port"),
        (listener_changed(tls={"mode": "Terminat"}), "mode"),
        ({"listeners": gateway_spec(CLUSTER)["listeners"]}, "gatewayClassName"),
    ],
)
def test_a_broken_gateway_is_rejected(spec: dict[str, Any], where: str) -> None:
    result = kubeschema_gate("t", [gateway(spec)])
    assert not result.passed
    assert where in " ".join(f.message for f in result.failures)


def test_a_gateway_class_without_a_controller_is_rejected() -> None:
    result = kubeschema_gate("t", [gateway_class({"controller": CONTROLLER_NAME})])
    messages = " ".join(f.message for f in result.failures)
    assert "controllerName" in messages and "controller'" in messages


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_stacks_gateway_manifests_are_checked_not_skipped(
    stack: str, plans: Callable[[str], list[PlannedResource]]
) -> None:
    plan = plans(stack)
    mine = [r for r in plan if r.type in (GATEWAY, GATEWAY_CLASS)]
    assert sorted(r.type for r in mine) == [GATEWAY, GATEWAY_CLASS]
    result = kubeschema_gate(stack, mine)
    assert (result.passed, result.checked, result.unchecked) == (True, 2, [])
