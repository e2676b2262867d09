"""Rules of the network and keys: security groups, default security groups, flow logs, KMS,
and IMDSv2 on instances and launch templates.

A permission reaches AWS three ways, all read here: inline `ingress`/`egress` of a
SecurityGroup, an `ec2.SecurityGroupRule` of that type, and a
`vpc.SecurityGroupIngressRule`/`SecurityGroupEgressRule`.
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
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
KMS_KEY = "aws:kms/key:Key"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ANYWHERE = {"0.0.0.0/0", "::/0"}
ALL_PROTOCOLS = {"-1", "all"}
# The ports AWS Security Hub's EC2.19 calls high-risk.
HIGH_RISK_PORTS = (20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389,
                   4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300)  # fmt: skip


@dataclass(frozen=True)
class Ingress:
    """One permission open to the whole internet: its protocol, port range and direction."""

    protocol: str
    low: int
    high: int
    direction: str = "ingress"

    def covers(self, port: int) -> bool:
        return self.protocol in ALL_PROTOCOLS or self.low <= port <= self.high

    def __str__(self) -> str:
        ports = "all ports" if self.protocol in ALL_PROTOCOLS else f"{self.low}-{self.high}"
        whence = "to" if self.direction == "egress" else "from"
        return f"{self.direction} {self.protocol} {ports} {whence} anywhere"


def _open(rule: Mapping[str, Any], cidrs: set[str], key: str, direction: str) -> list[Ingress]:
    if not cidrs & ANYWHERE:
        return []
    protocol = str(rule.get(key) or "-1")
    low, high = int(rule.get("fromPort") or 0), int(rule.get("toPort") or 65535)
    return [Ingress(protocol, low, high, direction)]


def open_rules(resource_type: str, props: Props, direction: str = "ingress") -> list[Ingress]:
    """Every permission of `direction` (ingress, egress) of this resource that admits
    0.0.0.0/0 or ::/0."""
    v6 = "ipv6CidrBlocks"
    if resource_type == SECURITY_GROUP:
        return [
            found
            for rule in items(props.get(direction))
            for found in _open(rule, _cidrs(rule, "cidrBlocks", v6), "protocol", direction)
        ]
    if resource_type == SG_RULE and props.get("type") == direction:
        return _open(props, _cidrs(props, "cidrBlocks", v6), "protocol", direction)
    if resource_type == {"ingress": SG_INGRESS, "egress": SG_EGRESS}[direction]:
        cidrs = {str(props.get(k)) for k in ("cidrIpv4", "cidrIpv6") if props.get(k)}
        return _open(props, cidrs, "ipProtocol", direction)
    return []


def _cidrs(rule: Mapping[str, Any], *keys: str) -> set[str]:
    return {str(c) for key in keys for c in rule.get(key) or []}


def authorized_ports(resource_type: str, props: Props, config: Config) -> list[str]:
    """EC2.18: ingress from anywhere only on authorizedPorts (TCP)."""
    allowed = set(config["authorizedPorts"])
    return [
        f"{found} (authorizedPorts: {sorted(allowed)})"
        for found in open_rules(resource_type, props)
        if found.protocol in ALL_PROTOCOLS or not set(range(found.low, found.high + 1)) <= allowed
    ]


def high_risk_ports(resource_type: str, props: Props, _c: Config) -> list[str]:
    """EC2.19: no ingress from anywhere to a high-risk port."""
    problems = []
    for found in open_rules(resource_type, props):
        risky = [p for p in HIGH_RISK_PORTS if found.covers(p)]
        if risky:
            problems.append(f"{found} opens high-risk ports {risky}")
    return problems


def egress_limited(resource_type: str, props: Props, _c: Config) -> list[str]:
    """No egress of every protocol and port to the whole internet (name the ports needed)."""
    return [
        f"{found}: limit egress to the protocols and ports needed"
        for found in open_rules(resource_type, props, "egress")
        if found.protocol in ALL_PROTOCOLS or (found.low, found.high) == (0, 65535)
    ]


def key_rotation(resource_type: str, props: Props, _c: Config) -> list[str]:
    """KMS.4: yearly rotation of symmetric customer-managed keys."""
    if resource_type != KMS_KEY:
        return []
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT" or props.get("enableKeyRotation") is True:
        return []
    return ["enableKeyRotation must be true"]


def imdsv2_required(resource_type: str, props: Props, _c: Config) -> list[str]:
    """EC2.8 (instances) and EC2.170 (launch templates): metadataOptions.httpTokens is
    "required", or the metadata service is disabled. Absent means AWS's default, which still
    answers IMDSv1."""
    if resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return []
    options = props.get("metadataOptions") or {}
    tokens = options.get("httpTokens")
    if tokens == "required" or options.get("httpEndpoint") == "disabled":
        return []
    return [f"metadataOptions.httpTokens is {tokens!r}; it must be 'required' (IMDSv2 only)"]


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
    Rule("ec2-egress-limited", "No unrestricted egress to the internet", M,
         "Replace protocol -1 to 0.0.0.0/0 with the ports needed (443 to AWS endpoints, the "
         "data tier's ports to the VPC).", egress_limited),
    Rule("kms-key-rotation", "KMS keys rotate yearly", M, "Set enableKeyRotation=True.",
         key_rotation, "KMS.4"),
    Rule("ec2-imdsv2-required", "Instances and launch templates require IMDSv2", H,
         "Set metadata_options with http_tokens='required' (and http_put_response_hop_limit=1 "
         "on nodes, so pods cannot reach the node's role).", imdsv2_required, "EC2.8"),
)  # fmt: skip

STACK_RULES: tuple[StackRule, ...] = (
    StackRule("ec2-default-sg-closed", "Every VPC's default security group is closed", H,
              "Declare aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) with no ingress and no "
              "egress for every VPC.", default_sg_closed, "EC2.2"),
    StackRule("ec2-vpc-flow-logs", "Every VPC has flow logs", M,
              "Declare aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL') to CloudWatch Logs "
              "or S3 for every VPC.", flow_logs, "EC2.6"),
)  # fmt: skip
