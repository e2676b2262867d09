"""Rules of the network and keys: security groups, default security groups, flow logs, KMS.

Ingress reaches AWS three ways, all read here: inline `ingress` of a SecurityGroup, an
`ec2.SecurityGroupRule` of type ingress, and a `vpc.SecurityGroupIngressRule`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from infra.policies.base import Config, Props, Rule, Setting, StackResource, StackRule, items

VPC = "aws:ec2/vpc:Vpc"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
KMS_KEY = "aws:kms/key:Key"
ANYWHERE = {"0.0.0.0/0", "::/0"}
ALL_PROTOCOLS = {"-1", "all"}
# The ports AWS Security Hub's EC2.19 calls high-risk.
HIGH_RISK_PORTS = (20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389,
                   4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300)  # fmt: skip


@dataclass(frozen=True)
class Ingress:
    """One ingress permission open to the whole internet: its protocol and port range."""

    protocol: str
    low: int
    high: int

    def covers(self, port: int) -> bool:
        return self.protocol in ALL_PROTOCOLS or self.low <= port <= self.high

    def __str__(self) -> str:
        ports = "all ports" if self.protocol in ALL_PROTOCOLS else f"{self.low}-{self.high}"
        return f"{self.protocol} {ports} from anywhere"


def _open(rule: Mapping[str, Any], cidrs: set[str], protocol_key: str) -> list[Ingress]:
    if not cidrs & ANYWHERE:
        return []
    protocol = str(rule.get(protocol_key) or "-1")
    low, high = int(rule.get("fromPort") or 0), int(rule.get("toPort") or 65535)
    return [Ingress(protocol, low, high)]


def open_ingress(resource_type: str, props: Props) -> list[Ingress]:
    """Every ingress of this resource that admits 0.0.0.0/0 or ::/0."""
    if resource_type == SECURITY_GROUP:
        return [
            found
            for rule in items(props.get("ingress"))
            for found in _open(rule, _cidrs(rule, "cidrBlocks", "ipv6CidrBlocks"), "protocol")
        ]
    if resource_type == SG_RULE and props.get("type") == "ingress":
        return _open(props, _cidrs(props, "cidrBlocks", "ipv6CidrBlocks"), "protocol")
    if resource_type == SG_INGRESS:
        cidrs = {str(props.get(k)) for k in ("cidrIpv4", "cidrIpv6") if props.get(k)}
        return _open(props, cidrs, "ipProtocol")
    return []


def _cidrs(rule: Mapping[str, Any], *keys: str) -> set[str]:
    return {str(c) for key in keys for c in rule.get(key) or []}


def authorized_ports(resource_type: str, props: Props, config: Config) -> list[str]:
    """EC2.18: ingress from anywhere only on authorizedPorts (TCP)."""
    allowed = set(config["authorizedPorts"])
    return [
        f"{found} (authorizedPorts: {sorted(allowed)})"
        for found in open_ingress(resource_type, props)
        if found.protocol in ALL_PROTOCOLS or not set(range(found.low, found.high + 1)) <= allowed
    ]


def high_risk_ports(resource_type: str, props: Props, _c: Config) -> list[str]:
    """EC2.19: no ingress from anywhere to a high-risk port."""
    problems = []
    for found in open_ingress(resource_type, props):
        risky = [p for p in HIGH_RISK_PORTS if found.covers(p)]
        if risky:
            problems.append(f"{found} opens high-risk ports {risky}")
    return problems


def key_rotation(resource_type: str, props: Props, _c: Config) -> list[str]:
    """KMS.4: yearly rotation of symmetric customer-managed keys."""
    if resource_type != KMS_KEY:
        return []
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT" or props.get("enableKeyRotation") is True:
        return []
    return ["enableKeyRotation must be true"]


def default_sg_closed(resources: Sequence[StackResource], _c: Config) -> list[str]:
    """EC2.2: every VPC's default security group is adopted and has no rules."""
    adopted = [r for r in resources if r.type == DEFAULT_SG]
    problems = [
        f"VPC {vpc.name} has no DefaultSecurityGroup adopting (and closing) its default group"
        for vpc in resources
        if vpc.type == VPC and not any(sg.points_at("vpcId", vpc) for sg in adopted)
    ]
    problems += [
        f"DefaultSecurityGroup {sg.name} must have no {key}"
        for sg in adopted
        for key in ("ingress", "egress")
        if sg.props.get(key)
    ]
    return problems


def flow_logs(resources: Sequence[StackResource], _c: Config) -> list[str]:
    """EC2.6: every VPC has a flow log capturing at least rejected traffic."""
    logs = [r for r in resources if r.type == FLOW_LOG and r.props.get("trafficType") in
            ("ALL", "REJECT")]  # fmt: skip
    return [
        f"VPC {vpc.name} has no flow log (trafficType ALL or REJECT)"
        for vpc in resources
        if vpc.type == VPC and not any(log.points_at("vpcId", vpc) for log in logs)
    ]


H, M, C = Severity.HIGH, Severity.MEDIUM, Severity.CRITICAL
PORTS = Setting(
    "authorizedPorts",
    {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535}},
    [80, 443],
)

RULES: tuple[Rule, ...] = (
    Rule("ec2-authorized-ports-only", "Ingress from anywhere only on authorized ports", H,
         "Admit the internet only on authorizedPorts; reference security groups or "
         "private CIDRs otherwise.", authorized_ports, "EC2.18", (PORTS,)),
    Rule("ec2-no-high-risk-ports", "No ingress from anywhere to high-risk ports", C,
         "Remove 0.0.0.0/0 and ::/0 from rules on ports such as 22, 3389, 5432; use SSM "
         "Session Manager or security group references.", high_risk_ports, "EC2.19"),
    Rule("kms-key-rotation", "KMS keys rotate yearly", M, "Set enableKeyRotation=True.",
         key_rotation, "KMS.4"),
)  # fmt: skip

STACK_RULES: tuple[StackRule, ...] = (
    StackRule("ec2-default-sg-closed", "Every VPC's default security group is closed", H,
              "Declare aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) with no ingress and no "
              "egress for every VPC.", default_sg_closed, "EC2.2"),
    StackRule("ec2-vpc-flow-logs", "Every VPC has flow logs", M,
              "Declare aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL') to CloudWatch Logs "
              "or S3 for every VPC.", flow_logs, "EC2.6"),
)  # fmt: skip
