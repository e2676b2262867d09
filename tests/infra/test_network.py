"""The created VPC, the data tier's network, zones per region and AWS's description charset.

Resource tests run the program with the Pulumi engine mocked by pulumi.runtime.set_mocks
(the real stack files as engine config); settings tests need no engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.network import SG_DESCRIPTION, sg_description, subnet_cidrs
from stackspec.model import Aws
from stackspec.stackfile import PROJECT, StackFileError, load_stack_file, stack_path
from tests.infra.conftest import Plan, of_type, only

SG = "aws:ec2/securityGroup:SecurityGroup"


def _stack_with_aws(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    document = yaml.safe_load(stack_path("production").read_text(encoding="utf-8"))
    edit(document["config"][f"{PROJECT}:aws"])
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_zones_outside_the_region_are_refused(tmp_path: Path) -> None:
    """Settings only: a zone of another region is refused, naming file, key and region."""

    def edit(aws: dict[str, Any]) -> None:
        aws["region"] = "eu-west-1"  # zones stay us-east-1a..c

    path = _stack_with_aws(tmp_path, edit)
    with pytest.raises(StackFileError) as err:
        load_stack_file(path)
    message = str(err.value)
    assert str(path) in message
    assert f"{PROJECT}:aws.network.zones" in message
    assert "not in region 'eu-west-1'" in message and "us-east-1a" in message


@pytest.mark.parametrize(
    ("cidr", "why"),
    [
        ("10.0.0.0/8", "/16 to /24"),  # larger than AWS's /16
        ("10.40.0.0/26", "/16 to /24"),  # its /30 subnets are smaller than AWS's /28
        ("300.1.1.1/16", "IPv4 network"),  # once a ValueError traceback, exit 1
        ("10.40.1.0/16", "IPv4 network"),  # host bits set
    ],
)
def test_vpc_blocks_aws_refuses_are_refused(tmp_path: Path, cidr: str, why: str) -> None:
    """Settings only: a VPC block AWS (or the subnet carving) refuses is a settings error
    naming file and key, before anything is planned."""

    def edit(aws: dict[str, Any]) -> None:
        aws["network"]["vpcCidr"] = cidr

    path = _stack_with_aws(tmp_path, edit)
    with pytest.raises(StackFileError) as err:
        load_stack_file(path)
    message = str(err.value)
    assert str(path) in message and f"{PROJECT}:aws.network.vpcCidr" in message
    assert why in message


def test_default_zones_come_from_the_region(tmp_path: Path) -> None:
    """Settings only: without `zones`, the region's a, b and c (never us-east-1's)."""

    def edit(aws: dict[str, Any]) -> None:
        aws["region"] = "eu-west-1"
        del aws["network"]["zones"]

    settings = load_stack_file(_stack_with_aws(tmp_path, edit))
    assert settings.aws is not None
    assert settings.aws.zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def test_region_is_required() -> None:
    """Settings only: an aws section without a region is refused (no silent default)."""
    with pytest.raises(ValueError, match="region"):
        Aws.model_validate({"cluster": {"created": {}}})


def test_created_vpc_has_private_subnets_per_zone_behind_their_own_nat(
    plans: Callable[[str], Plan],
) -> None:
    """Engine mocked with set_mocks: per zone a private and a public subnet, a NAT gateway
    and a private route table whose default route is that zone's NAT; no public IPs."""
    plan = plans("production")
    subnets = of_type(plan, "aws:ec2/subnet:Subnet")
    private = sorted(s.props["availabilityZone"] for s in subnets if "-private-" in s.name)
    assert private == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s.props["mapPublicIpOnLaunch"] is False for s in subnets)
    assert {s.props["cidrBlock"] for s in subnets} == set(subnet_cidrs("10.42.0.0/16", 6))
    assert len(of_type(plan, "aws:ec2/natGateway:NatGateway")) == 3
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        table = only(plan, "aws:ec2/routeTable:RouteTable", f"network-private-{zone}")
        assert table.props["routes"] == [
            {"cidrBlock": "0.0.0.0/0", "natGatewayId": f"network-nat-{zone}-id"}
        ]
    endpoint = only(plan, "aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").props
    assert endpoint["serviceName"] == "com.amazonaws.us-east-1.s3"


def test_default_security_group_is_closed_and_flows_logged(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the VPC's default SG is adopted with no rules (EC2.2)
    and every flow (accepted and rejected) goes to an encrypted CloudWatch log group."""
    plan = plans("production")
    default = only(plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "network-default-sg")
    assert "ingress" not in default.props or default.props["ingress"] == []
    assert "egress" not in default.props or default.props["egress"] == []
    flow = only(plan, "aws:ec2/flowLog:FlowLog", "network-flow-logs").props
    assert flow["trafficType"] == "ALL"
    assert flow["logDestinationType"] == "cloud-watch-logs"
    group = only(plan, "aws:cloudwatch/logGroup:LogGroup", "network-flow-logs").props
    assert group["kmsKeyId"].endswith("key/logs-key")
    assert group["retentionInDays"] >= 365


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_every_security_group_description_is_one_aws_accepts(
    plans: Callable[[str], Plan], stack: str
) -> None:
    """Engine mocked with set_mocks: every SG and rule description in the plan passes AWS's
    charset (moto and preview accept an apostrophe; CreateSecurityGroup does not)."""
    groups = of_type(plans(stack), SG)
    assert groups
    for group in groups:
        texts = [group.props["description"]]
        texts += [r.get("description", "") for r in group.props.get("ingress", [])]
        texts += [r.get("description", "") for r in group.props.get("egress", [])]
        for text in texts:
            assert SG_DESCRIPTION.match(text), f"{group.name}: {text!r}"


def test_an_apostrophe_is_refused_before_aws_sees_it() -> None:
    """Pure function: the description check names the characters AWS refuses."""
    with pytest.raises(ValueError, match=r"characters \[\"'\"\]"):
        sg_description("The services' security group")
    assert sg_description("The data tier: from the services (pods)") == (
        "The data tier: from the services (pods)"
    )


def test_logs_key_serves_only_this_accounts_log_groups(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the logs key's policy lets the account administer it
    and CloudWatch Logs of the stack's region use it for this account's log groups only."""
    key = only(plans("production"), "aws:kms/key:Key", "logs-key").props
    assert key["enableKeyRotation"] is True
    account, logs = json.loads(key["policy"])["Statement"]
    assert account["Principal"] == {"AWS": "arn:aws:iam::000000000000:root"}
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"] == {
        "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:000000000000:*"
    }


OPERATOR_SG = "sg-0123456789abcdef0"


def _data_ingress(plan: Plan) -> list[dict[str, Any]]:
    data = only(plan, SG, "network-data").props
    assert data["egress"] == []
    rules: list[dict[str, Any]] = data["ingress"]
    return rules


def test_data_tier_opens_only_the_msk_port_of_its_auth(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: streaming.auth is iam on aws stacks, so MSK's IAM port
    9098 is the only broker port open (not TLS 9094 or SCRAM 9096); no operator rule unset."""
    for stack in ("staging", "production"):
        rules = _data_ingress(plans(stack))
        assert sorted(r["fromPort"] for r in rules) == [5432, 6379, 9098]
        assert {g for r in rules for g in r["securityGroups"]} == {"sg-mock-cluster-eks"}


def test_operator_security_group_reaches_database_and_brokers_only(tmp_path: Path) -> None:
    """Engine mocked with set_mocks: aws.network.operatorSecurityGroupId (the deploy runner,
    for db-migration and the Kafka canary) is admitted on 5432 and 9098, never on Redis."""
    from infra.offline import plan_stack

    def edit(aws: dict[str, Any]) -> None:
        aws["network"]["operatorSecurityGroupId"] = OPERATOR_SG

    _stack_with_aws(tmp_path, edit)
    rules = _data_ingress(plan_stack("production", tmp_path))
    runner = [r for r in rules if r["securityGroups"] == [OPERATOR_SG]]
    assert sorted(r["fromPort"] for r in runner) == [5432, 9098]
    assert all(r["toPort"] == r["fromPort"] and r["protocol"] == "tcp" for r in runner)
    assert all("deploy runner" in r["description"] for r in runner)
    services = [r for r in rules if r["securityGroups"] == ["sg-mock-cluster-eks"]]
    assert sorted(r["fromPort"] for r in services) == [5432, 6379, 9098]


def test_operator_security_group_must_be_an_sg_id(tmp_path: Path) -> None:
    """Settings only: anything but sg-<hex> is refused, naming file and key."""

    def edit(aws: dict[str, Any]) -> None:
        aws["network"]["operatorSecurityGroupId"] = "deploy-runner"

    path = _stack_with_aws(tmp_path, edit)
    with pytest.raises(StackFileError) as err:
        load_stack_file(path)
    message = str(err.value)
    assert str(path) in message
    assert f"{PROJECT}:aws.network.operatorSecurityGroupId" in message
