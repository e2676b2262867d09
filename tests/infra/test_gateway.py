"""The Gateway the services' routes attach to (infra.gateway), and its settings.

Plans run the program under pulumi.runtime.set_mocks (the engine's stand-in): every test
that looks at resources says so. Settings tests validate stack files without the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from infra.gates.kubeschema import SCHEMAS
from infra.gateway import (
    CONTROLLER_NAME,
    EG_CHART,
    EG_VERSION,
    GATEWAY_API_VERSION,
    address_command,
)
from infra.netpol import pod_security_labels
from infra.offline import PlannedResource, plan_stack
from stackspec.model import Kubernetes
from stackspec.stackfile import stack_path
from tests.infra.conftest import of_type, only
from tests.infra.settings_helpers import refused, validate

Plan = list[PlannedResource]
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
GATEWAY_CLASS = "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def with_gateway(tmp_path: Path, stack: str, gateway: dict[str, Any]) -> Path:
    """A copy of `stack`'s file in `tmp_path` with kubernetes.gateway set to `gateway`."""
    path = stack_path(stack)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["config"]["trading-platform:kubernetes"]["gateway"] = gateway
    (tmp_path / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    return tmp_path


def test_the_chart_is_pinned_and_ships_the_gates_gateway_api(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: Envoy Gateway from its OCI chart at one exact version, proxies in
    the Gateway's namespace; the Gateway API it ships is the one the gate's schemas are."""
    release = only(plans("production"), RELEASE, "gateway-controller").props
    assert (release["chart"], release["version"]) == (EG_CHART, EG_VERSION)
    assert re.fullmatch(r"v\d+\.\d+\.\d+", release["version"])
    deploy = release["values"]["config"]["envoyGateway"]["provider"]["kubernetes"]["deploy"]
    assert deploy == {"type": "GatewayNamespace"}
    assert (SCHEMAS / f"gateway-api-{GATEWAY_API_VERSION}").is_dir()


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_gateway_serves_https_for_the_ingress_host_to_the_services_namespace(
    stack: str, plans: Callable[[str], Plan]
) -> None:
    """Under set_mocks: one HTTPS listener on 443 for ingressHost (CloudFront's https-only
    origin), TLS from the settings' Secret, routes from the services' namespace only."""
    plan = plans(stack)
    settings = validate(stack, "kubernetes")
    cluster = settings.kubernetes
    assert cluster is not None
    gateway = only(plan, GATEWAY, "gateway-gateway").props
    assert gateway["metadata"] == {"name": cluster.gateway_name, "namespace": "gateway"}
    assert gateway["spec"]["gatewayClassName"] == cluster.gateway.class_name
    [listener] = gateway["spec"]["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert listener["hostname"] == cluster.ingress_host
    assert listener["tls"]["mode"] == "Terminate"
    assert listener["tls"]["certificateRefs"] == [
        {"kind": "Secret", "group": "", "name": "trading-origin-tls"}
    ]
    namespaces = listener["allowedRoutes"]["namespaces"]
    assert namespaces == {
        "from": "Selector",
        "selector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}},
    }
    gateway_class = only(plan, GATEWAY_CLASS, "gateway-class").props
    assert gateway_class["metadata"]["name"] == cluster.gateway.class_name
    assert gateway_class["spec"] == {"controllerName": CONTROLLER_NAME}
    namespace = only(plan, NAMESPACE, "gateway-namespace").props["metadata"]
    assert namespace == {"name": cluster.gateway_namespace, "labels": pod_security_labels()}


def test_every_route_attaches_to_the_declared_gateway(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the HTTPRoutes' parentRef is the Gateway the stack declares."""
    plan = plans("production")
    gateway = only(plan, GATEWAY, "gateway-gateway").props["metadata"]
    routes = of_type(plan, ROUTE)
    assert routes
    for route in routes:
        assert route.props["spec"]["parentRefs"] == [gateway]


def recording_custom_resources(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, pulumi.Resource], dict[str, pulumi.ResourceOptions | None]]:
    """Every CustomResource the program creates, and the options it was given, by name."""
    created: dict[str, pulumi.Resource] = {}
    options: dict[str, pulumi.ResourceOptions | None] = {}
    original = k8s.apiextensions.CustomResource

    class Recording(original):  # type: ignore[misc, valid-type]
        def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
            options[resource_name] = kwargs.get("opts")
            super().__init__(resource_name, *args, **kwargs)
            created[resource_name] = self

    monkeypatch.setattr(k8s.apiextensions, "CustomResource", Recording)
    return created, options


def test_routes_wait_for_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: each HTTPRoute depends on the Gateway (and so on its CRDs)."""
    created, options = recording_custom_resources(monkeypatch)
    plan_stack("staging")
    routes = [name for name in options if name.endswith("-route")]
    assert routes
    for name in routes:
        opts = options[name]
        assert opts is not None and isinstance(opts.depends_on, list)
        assert created["gateway-gateway"] in opts.depends_on


def test_install_false_declares_no_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: a cluster that already has its Gateway (install: false) gets no
    chart, class, Gateway or namespace; the routes still name the configured Gateway."""
    created, options = recording_custom_resources(monkeypatch)
    plan = plan_stack("staging", with_gateway(tmp_path, "staging", {"install": False}))
    assert [r.name for r in plan if r.name.startswith("gateway")] == []
    assert [r.name for r in of_type(plan, RELEASE)] == ["secret-delivery-operator"]
    assert of_type(plan, GATEWAY) == [] and of_type(plan, GATEWAY_CLASS) == []
    for route in of_type(plan, ROUTE):
        assert route.props["spec"]["parentRefs"] == [
            {"name": "trading-gateway", "namespace": "gateway"}
        ]
        opts = options[route.name]
        assert opts is not None and not opts.depends_on
    assert "gateway-gateway" not in created


def test_dev_has_no_gateway_unless_it_asks(plans: Callable[[str], Plan], tmp_path: Path) -> None:
    """Under set_mocks: the kubernetes substrate installs nothing by default; install: true
    with a Secret name installs the same component."""
    assert of_type(plans("dev"), GATEWAY) == []
    gateway = {"install": True, "tlsSecretName": "dev-origin-tls"}
    plan = plan_stack("dev", with_gateway(tmp_path, "dev", gateway))
    listener = only(plan, GATEWAY, "gateway-gateway").props["spec"]["listeners"][0]
    assert listener["tls"]["certificateRefs"][0]["name"] == "dev-origin-tls"
    selector = listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": "trading-dev"}


def test_a_missing_certificate_secret_is_a_clear_error() -> None:
    """No engine: installing the Gateway without tlsSecretName names the key and the way
    out; a cluster that does not install it needs none."""
    text = refused("staging", "kubernetes", gateway={})
    assert "kubernetes.gateway.tlsSecretName" in text
    assert "install: false" in text and "trading.staging.example.com" in text
    adopted = validate("staging", "kubernetes", gateway={"install": False})
    assert adopted.installs_gateway is False


def test_the_gateway_namespace_must_not_be_the_services() -> None:
    """No engine: the proxies must not run under the services' default-deny policies."""
    text = refused(
        "production",
        "kubernetes",
        gatewayNamespace="trading",
        gateway={"tlsSecretName": "origin-tls"},
    )
    assert "kubernetes.gatewayNamespace" in text and "'trading'" in text


@pytest.mark.parametrize(
    ("gateway", "key"),
    [
        ({"tlsSecretName": "Origin_TLS"}, "tlsSecretName"),
        ({"tlsSecretName": "t", "className": "Envoy Gateway"}, "className"),
        ({"tlsSecretName": "t", "install": "yes"}, "install"),
        ({"tlsSecretName": "t", "instal": True}, "instal"),
    ],
)
def test_bad_gateway_values_name_their_key(gateway: dict[str, Any], key: str) -> None:
    """No engine: malformed values and unknown keys are refused with the key's path."""
    text = refused("production", "kubernetes", gateway=gateway)
    assert f"kubernetes.gateway.{key}" in text


def test_the_address_command_reads_the_gateways_status() -> None:
    """Pure: the output the operator runs to find where ingressHost's DNS points."""
    cluster = Kubernetes(gateway_name="edge", gateway_namespace="ingress")
    command = address_command(cluster)
    assert command.startswith("kubectl -n ingress get gateway edge ")
    assert "{.status.addresses[0].value}" in command


SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
ENVOY_PROXY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_origin_admits_cloudfront_only(stack: str, plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the Gateway's load balancer carries a group admitting 443 from
    CloudFront's origin-facing prefix list only (no CIDR), put on the proxies' Service by an
    EnvoyProxy the Gateway references; clients cannot skip CloudFront's WAF by calling
    ingressHost directly."""
    plan = plans(stack)
    group = only(plan, SECURITY_GROUP, "gateway-origin").props
    [rule] = group["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["prefixListIds"] == ["pl-3b927c52"]  # the mock's id of the managed list
    assert "cidrBlocks" not in rule
    [egress] = group["egress"]
    assert (egress["fromPort"], egress["toPort"]) == (30000, 32767)
    assert egress["securityGroups"] == ["sg-mock-cluster-eks"]  # the nodes' group only
    proxy = only(plan, ENVOY_PROXY, "gateway-origin-proxy").props
    assert proxy["metadata"] == {"name": "origin-proxy", "namespace": "gateway"}
    service = proxy["spec"]["provider"]["kubernetes"]["envoyService"]
    assert service["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-security-groups": "gateway-origin-id"
    }
    gateway = only(plan, GATEWAY, "gateway-gateway").props
    assert gateway["spec"]["infrastructure"] == {
        "parametersRef": {
            "group": "gateway.envoyproxy.io",
            "kind": "EnvoyProxy",
            "name": "origin-proxy",
        }
    }


def test_the_prefix_list_is_cloudfronts_origin_facing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: the list looked up is AWS's managed CloudFront origin-facing one."""
    import pulumi_aws as aws

    names: list[object] = []
    original = aws.ec2.get_managed_prefix_list_output

    def recording(*args: Any, **kwargs: Any) -> Any:
        names.append(kwargs.get("name"))
        return original(*args, **kwargs)

    monkeypatch.setattr(aws.ec2, "get_managed_prefix_list_output", recording)
    plan_stack("production")
    assert names == ["com.amazonaws.global.cloudfront.origin-facing"]


def test_a_gateway_off_aws_gets_no_origin_firewall(tmp_path: Path) -> None:
    """Under set_mocks: dev's Gateway (kubernetes substrate) has no AWS group or EnvoyProxy."""
    gateway = {"install": True, "tlsSecretName": "dev-origin-tls"}
    plan = plan_stack("dev", with_gateway(tmp_path, "dev", gateway))
    assert of_type(plan, SECURITY_GROUP) == [] and of_type(plan, ENVOY_PROXY) == []
    assert "infrastructure" not in only(plan, GATEWAY, "gateway-gateway").props["spec"]
