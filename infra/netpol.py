"""The namespace's isolation: Pod Security labels and the NetworkPolicies of the services.

Every pod of the namespace starts from `default-deny` (no ingress, no egress) and
`allow-dns` (egress to kube-dns in kube-system, 53 UDP/TCP). Each service then gets one
policy for both colors:
- ingress on its port from the gateway's namespace (HTTP services only) and from the
  metrics namespace (Prometheus scrapes every service; the release judge reads it);
- egress to the data tier (`DataFlow`): in-cluster, the data pods by label and port; on
  aws, the VPC's CIDR on the RDS, ElastiCache and MSK ports; and on aws, HTTPS for STS
  (IRSA's AssumeRoleWithWebIdentity) and Secrets Manager.
The in-cluster data pods admit only the services (see `infra.incluster`).
Kubelet probes and `kubectl port-forward` do not pass through NetworkPolicies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.incluster import DATA_TIER, TIER_LABEL
from infra.ports import POSTGRES_PORT, REDIS_PORT, msk_port
from infra.streaming import KAFKA_PORT
from stackspec.model import Kubernetes as KubernetesSettings
from stackspec.model import Service, StackSettings, Substrate

# Pinned so a cluster upgrade never tightens the standard under running pods unannounced.
PSS_VERSION = "v1.30"
NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
# The in-cluster components' names in `infra.program` (their pods' `app` label).
IN_CLUSTER = (("database", POSTGRES_PORT), ("cache", REDIS_PORT), ("streaming", KAFKA_PORT))


def pod_security_labels() -> dict[str, str]:
    """Namespace labels enforcing the `restricted` Pod Security Standard (audit and warn
    too, so a violation is also logged and shown to whoever applies it)."""
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = PSS_VERSION
    return labels


@dataclass(frozen=True)
class DataFlow:
    """One destination of the services' egress: pods by label, or a CIDR, on a port."""

    port: int
    pods: dict[str, str] | None = None
    cidr: pulumi.Input[str] | None = None


def data_flows(
    settings: StackSettings, vpc_cidr: pulumi.Input[str] | None = None
) -> list[DataFlow]:
    """Where the services reach the data tier: the in-cluster pods, or `vpc_cidr` on the
    managed services' ports. `vpc_cidr`: the cluster's VPC (an adopted cluster's
    `vpcCidr`); default: the stack's `aws.network.vpcCidr`, the VPC a created cluster gets."""
    if settings.substrate is Substrate.KUBERNETES:
        return [
            DataFlow(port=port, pods={"app": app, TIER_LABEL: DATA_TIER})
            for app, port in IN_CLUSTER
        ]
    assert settings.aws is not None
    cidr = vpc_cidr if vpc_cidr is not None else settings.aws.network.vpc_cidr
    ports = (POSTGRES_PORT, REDIS_PORT, msk_port(settings.streaming))
    return [DataFlow(port=port, cidr=cidr) for port in ports]


class NamespacePolicies(pulumi.ComponentResource):
    """default-deny, allow-dns and one policy per service in `cluster.namespace`.

    `aws_apis`: also allow HTTPS out of the namespace (STS for IRSA, Secrets Manager).
    Every child is parented to this component, so a provider given in `opts` reaches them.
    """

    def __init__(
        self,
        name: str,
        cluster: KubernetesSettings,
        services: Sequence[Service],
        data: Sequence[DataFlow],
        aws_apis: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:NamespacePolicies", name, None, opts)
        self._cluster = cluster
        self._child = pulumi.ResourceOptions(parent=self)
        everything = k8s.meta.v1.LabelSelectorArgs()
        self._policy("default-deny", everything, ingress=[], egress=[])
        dns = _peer(namespace="kube-system", pods={"k8s-app": "kube-dns"})
        dns_ports = [_port(53, "UDP"), _port(53, "TCP")]
        self._policy("allow-dns", everything, egress=[_egress([dns], dns_ports)])
        for svc in services:
            self._service_policy(svc, data, aws_apis)
        self.register_outputs({})

    def _service_policy(self, svc: Service, data: Sequence[DataFlow], aws_apis: bool) -> None:
        sources = []
        if svc.kind == "http":
            sources.append(_peer(namespace=self._cluster.gateway_namespace))
        if self._cluster.metrics_namespace is not None:
            sources.append(_peer(namespace=self._cluster.metrics_namespace))
        ingress = [_ingress(sources, [_port(svc.port)])] if sources else []
        egress = [_egress([_flow_peer(flow)], [_port(flow.port)]) for flow in data]
        if aws_apis:
            # No NetworkPolicy can name a host: STS and Secrets Manager are any address on
            # 443 (narrow to the VPC CIDR once interface endpoints serve them). Never IMDS.
            anywhere = k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(
                    cidr="0.0.0.0/0", except_=["169.254.169.254/32"]
                )
            )
            egress.append(_egress([anywhere], [_port(443)]))
        selector = k8s.meta.v1.LabelSelectorArgs(match_labels={"app": svc.name})
        self._policy(svc.name, selector, ingress=ingress, egress=egress)

    def _policy(
        self,
        name: str,
        selector: k8s.meta.v1.LabelSelectorArgs,
        ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs] | None = None,
        egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None = None,
    ) -> None:
        types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
        k8s.networking.v1.NetworkPolicy(
            f"netpol-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._cluster.namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=selector, policy_types=types, ingress=ingress, egress=egress
            ),
            opts=self._child,
        )


def _peer(
    namespace: str | None = None, pods: dict[str, str] | None = None
) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=(
            k8s.meta.v1.LabelSelectorArgs(match_labels={NAME_LABEL: namespace})
            if namespace is not None
            else None
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pods) if pods else None,
    )


def _flow_peer(flow: DataFlow) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    if flow.pods is not None:
        return _peer(pods=flow.pods)
    assert flow.cidr is not None
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        ip_block=k8s.networking.v1.IPBlockArgs(cidr=flow.cidr)
    )


def _port(port: int, protocol: str = "TCP") -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=protocol)


def _ingress(
    sources: list[k8s.networking.v1.NetworkPolicyPeerArgs],
    ports: list[k8s.networking.v1.NetworkPolicyPortArgs],
) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=sources, ports=ports)


def _egress(
    targets: list[k8s.networking.v1.NetworkPolicyPeerArgs],
    ports: list[k8s.networking.v1.NetworkPolicyPortArgs],
) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=targets, ports=ports)
