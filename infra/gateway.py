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

Who may reach that load balancer. It is internet-facing (CloudFront fetches from the
internet), so without a restriction a client calling ingressHost directly bypasses
CloudFront and its WAF. On an aws stack (`OriginFirewall`) the program creates a security
group admitting TCP 443 only from AWS's managed prefix list of CloudFront's origin-facing
addresses (`CLOUDFRONT_ORIGIN_FACING`), and an EnvoyProxy (referenced by the Gateway's
`infrastructure.parametersRef`) puts it on the proxies' Service with
`service.beta.kubernetes.io/aws-load-balancer-security-groups`: EKS's built-in service
controller (no AWS Load Balancer Controller is installed) then uses that group *instead* of
an open one on the Classic ELB and admits the group's traffic on the nodes. Egress: TCP to
the node ports of the nodes' security group (listeners and health checks). What remains:
- the prefix list holds every CloudFront distribution's addresses, not only ours: a client
  with a distribution of their own can still reach the origin without our WAF. Closing that
  needs an origin secret (a custom header CloudFront adds and the Gateway requires), not
  done;
- the annotation's behaviour is the built-in controller's (Classic ELB); check after the
  first `up` that the ELB carries only this group (`aws elb describe-load-balancers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
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
ENVOY_PROXY_API = "gateway.envoyproxy.io/v1alpha1"
ORIGIN_PROXY = "origin-proxy"  # the EnvoyProxy in gatewayNamespace (OriginFirewall)
# AWS's managed prefix list of the addresses CloudFront connects to origins from.
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
LB_SECURITY_GROUPS = "service.beta.kubernetes.io/aws-load-balancer-security-groups"
NODE_PORTS = (30000, 32767)  # Kubernetes' default NodePort range: the ELB's targets


@dataclass(frozen=True)
class OriginFirewall:
    """Where the Gateway's load balancer lives on an aws stack (module doc): the cluster's
    VPC, the security group its nodes carry (ClusterInfo.services_sg_id) and the region's
    provider."""

    vpc_id: pulumi.Input[str]
    nodes_sg_id: pulumi.Input[str]
    provider: pulumi.ProviderResource


def origin_security_group(
    name: str, firewall: OriginFirewall, parent: pulumi.Resource | None = None
) -> aws.ec2.SecurityGroup:
    """The load balancer's group: 443 from CloudFront's origin-facing prefix list only;
    egress TCP to the nodes' node ports."""
    invoke = pulumi.InvokeOptions(provider=firewall.provider)
    cloudfront = aws.ec2.get_managed_prefix_list_output(name=CLOUDFRONT_ORIGIN_FACING, opts=invoke)
    low, high = NODE_PORTS
    return aws.ec2.SecurityGroup(
        name,
        description="The Gateway load balancer: HTTPS from CloudFront origin-facing addresses only",
        vpc_id=firewall.vpc_id,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                description="HTTPS from CloudFront (origin-facing managed prefix list)",
                protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                prefix_list_ids=[cloudfront.id],
            )
        ],
        egress=[
            aws.ec2.SecurityGroupEgressArgs(
                description="To the node ports of the cluster (listeners and health checks)",
                protocol="tcp",
                from_port=low,
                to_port=high,
                security_groups=[firewall.nodes_sg_id],
            )
        ],
        opts=pulumi.ResourceOptions(provider=firewall.provider, parent=parent),
    )


def origin_proxy_spec(security_group_id: pulumi.Input[str]) -> dict[str, object]:
    """The EnvoyProxy that puts `security_group_id` on the proxies' load balancer."""
    return {
        "provider": {
            "type": "Kubernetes",
            "kubernetes": {
                "envoyService": {"annotations": {LB_SECURITY_GROUPS: security_group_id}}
            },
        }
    }


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


def gateway_spec(cluster: KubernetesSettings, origin_proxy: bool = False) -> dict[str, object]:
    """The Gateway: HTTPS for ingressHost, TLS from the settings' Secret, routes from the
    services' namespace only; with `origin_proxy`, its proxies use the EnvoyProxy
    ORIGIN_PROXY (the restricted load balancer, module doc)."""
    tls_secret = cluster.gateway.tls_secret_name
    if tls_secret is None:  # the settings model refuses this when the stack installs it
        raise ValueError("kubernetes.gateway.tlsSecretName is required to declare the Gateway")
    infrastructure = (
        {
            "infrastructure": {
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": ORIGIN_PROXY,
                }
            }
        }
        if origin_proxy
        else {}
    )
    return {
        **infrastructure,
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
    Gateway's Namespace and the Gateway (module doc). `gateway` is what routes wait for.
    With `firewall` (aws stacks), the load balancer's security group and the EnvoyProxy
    that applies it (module doc)."""

    def __init__(
        self,
        name: str,
        cluster: KubernetesSettings,
        opts: pulumi.ResourceOptions | None = None,
        firewall: OriginFirewall | None = None,
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
        before: list[pulumi.Resource] = [self.controller, self.namespace, self.gateway_class]
        self.origin_sg: aws.ec2.SecurityGroup | None = None
        if firewall is not None:
            self.origin_sg = origin_security_group(f"{name}-origin", firewall, parent=self)
            before.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-origin-proxy",
                    api_version=ENVOY_PROXY_API,
                    kind="EnvoyProxy",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=ORIGIN_PROXY, namespace=cluster.gateway_namespace
                    ),
                    spec=origin_proxy_spec(self.origin_sg.id),
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[self.controller, self.namespace]
                    ),
                )
            )
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cluster.gateway_name, namespace=cluster.gateway_namespace
            ),
            spec=gateway_spec(cluster, origin_proxy=firewall is not None),
            opts=pulumi.ResourceOptions(parent=self, depends_on=before),
        )
        self.register_outputs(
            {"name": cluster.gateway_name, "namespace": cluster.gateway_namespace}
        )
