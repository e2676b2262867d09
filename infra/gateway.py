"""The Gateway the services' HTTPRoutes attach to: implementation, CRDs, class and Gateway.

Which implementation: Envoy Gateway, chart `gateway-helm` (oci://docker.io/envoyproxy),
pinned to `EG_VERSION` v1.9.1 (August 2026, a supported minor). That release line builds
against Gateway API v1.6.1 (envoyproxy/gateway#9515 bumped it in July 2026, before the v1.9
branch; upstream's v1.6.2 changed no CRD), and its chart ships the standard-channel Gateway
API CRDs of that version: the same v1.6.1 schemas the kubeschema gate validates against
(infra/gates/schemas/gateway-api-v1.6.1). Why it: one chart brings the controller and
the CRDs, the release notes name the Gateway API version each release builds, and it needs
nothing from AWS (the AWS Load Balancer Controller's Gateway API support needs an IRSA
role, subnet tags and the CRDs installed apart). Helm installs a chart's CRDs on the first
install only: a chart bump to a newer Gateway API must apply its CRDs first (Envoy
Gateway's `gateway-crds-helm` chart of the same version), then bump `EG_VERSION`.
Envoy Gateway runs in Gateway Namespace Mode (`deploy.type: GatewayNamespace`): the Envoy
proxies of the Gateway run in kubernetes.gatewayNamespace, so that namespace is the only
one whose pods reach the services. Its Namespace enforces the `restricted` Pod Security
Standard: Envoy Gateway's proxy and shutdown-manager containers run non-root, with no
privilege escalation, ALL capabilities dropped and seccomp RuntimeDefault by default
(envoyproxy/gateway#3940).

The Gateway has one listener, HTTPS on 443 for kubernetes.ingressHost, because CloudFront
reaches it https-only (infra.edge): TLS terminates at the Gateway with the certificate in
the kubernetes.io/tls Secret kubernetes.gateway.tlsSecretName in gatewayNamespace.
CloudFront accepts an origin certificate only from a publicly trusted CA that covers the
origin's name (ingressHost): a self-signed one fails with 502. The operator puts it there
(`kubectl -n <gatewayNamespace> create secret tls <name> --cert --key`, or cert-manager);
until then the listener reports ResolvedRefs=False and serves nothing. The listener admits
HTTPRoutes from the services' namespace only.

After `pulumi up` the Gateway's address (the load balancer the proxies' Service gets) is in
its status: the `gateway` stack output gives the command that reads it; point
ingressHost's DNS (a CNAME) at that address, so that CloudFront's origin resolves.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster import HELM_TIMEOUT_SECONDS
from infra.netpol import NAME_LABEL, pod_security_labels
from stackspec.model import Kubernetes as KubernetesSettings

EG_CHART = "oci://docker.io/envoyproxy/gateway-helm"
EG_VERSION = "v1.9.1"
EG_RELEASE = "envoy-gateway"
EG_NAMESPACE = "envoy-gateway-system"
# The controller name the chart configures by default (config.envoyGateway.gateway).
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_API = "gateway.networking.k8s.io/v1"
# The Gateway API version the pinned chart's CRDs are, and the gate's schemas are.
GATEWAY_API_VERSION = "v1.6.1"
HTTPS_PORT = 443
LISTENER = "https"


def controller_values() -> dict[str, object]:
    """The chart values: proxies in the Gateway's namespace (module doc)."""
    return {
        "config": {
            "envoyGateway": {
                "provider": {
                    "type": "Kubernetes",
                    "kubernetes": {"deploy": {"type": "GatewayNamespace"}},
                }
            }
        }
    }


def gateway_spec(cluster: KubernetesSettings) -> dict[str, object]:
    """The Gateway: HTTPS for ingressHost, TLS from the settings' Secret, routes from the
    services' namespace only."""
    tls_secret = cluster.gateway.tls_secret_name
    if tls_secret is None:  # the settings model refuses this when the stack installs it
        raise ValueError("kubernetes.gateway.tlsSecretName is required to declare the Gateway")
    return {
        "gatewayClassName": cluster.gateway.class_name,
        "listeners": [
            {
                "name": LISTENER,
                "hostname": cluster.ingress_host,
                "port": HTTPS_PORT,
                "protocol": "HTTPS",
                "tls": {
                    "mode": "Terminate",
                    "certificateRefs": [{"kind": "Secret", "group": "", "name": tls_secret}],
                },
                "allowedRoutes": {
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchLabels": {NAME_LABEL: cluster.namespace}},
                    },
                    "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                },
            }
        ],
    }


def address_command(cluster: KubernetesSettings) -> str:
    """The command that prints the Gateway's address once its load balancer exists."""
    return (
        f"kubectl -n {cluster.gateway_namespace} get gateway {cluster.gateway_name} "
        "-o jsonpath='{.status.addresses[0].value}'"
    )


class PlatformGateway(pulumi.ComponentResource):
    """Envoy Gateway (pinned chart, with the Gateway API CRDs), the GatewayClass, the
    Gateway's Namespace and the Gateway (module doc). `gateway` is what routes wait for."""

    def __init__(
        self,
        name: str,
        cluster: KubernetesSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:PlatformGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.controller = k8s.helm.v3.Release(
            f"{name}-controller",
            name=EG_RELEASE,
            chart=EG_CHART,
            version=EG_VERSION,
            namespace=EG_NAMESPACE,
            create_namespace=True,
            values=controller_values(),
            timeout=HELM_TIMEOUT_SECONDS,
            opts=child,
        )
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cluster.gateway_namespace, labels=pod_security_labels()
            ),
            opts=child,
        )
        # The CRDs come with the chart: the class and the Gateway wait for it.
        self.gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version=GATEWAY_API,
            kind="GatewayClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cluster.gateway.class_name),
            spec={"controllerName": CONTROLLER_NAME},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.controller]),
        )
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cluster.gateway_name, namespace=cluster.gateway_namespace
            ),
            spec=gateway_spec(cluster),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.controller, self.namespace, self.gateway_class]
            ),
        )
        self.register_outputs(
            {"name": cluster.gateway_name, "namespace": cluster.gateway_namespace}
        )
