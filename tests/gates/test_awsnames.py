"""The AWS names gate: negative controls on hand-made resources, then every stack's plan
(computed under set_mocks, the engine's stand-in) against AWS's naming rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.gates.awsnames import awsnames_gate
from infra.gates.run import STACKS
from infra.offline import PlannedResource
from tests.gates.conftest import resource

SG = "aws:ec2/securityGroup:SecurityGroup"


def test_a_security_group_description_with_an_apostrophe_is_rejected() -> None:
    sg = resource(SG, "data", description="reachable from the services' pods")
    result = awsnames_gate("t", [sg])
    assert [(f.resource, f.rule) for f in result.failures] == [(f"{SG} data", "description")]
    assert "._-:/()#,@[]+=&;{}!$*" in result.failures[0].message


def test_a_rule_description_may_not_hold_the_ampersand_a_group_description_may() -> None:
    sg = resource(SG, "data", description="a & b", ingress=[{"description": "a & b"}])
    result = awsnames_gate("t", [sg])
    assert [f.rule for f in result.failures] == ["ingress[0].description"]


def test_a_clean_security_group_passes() -> None:
    sg = resource(SG, "data", description="Data tier: only from the services (pods)")
    assert awsnames_gate("t", [sg]).passed


def test_an_auto_named_replication_group_longer_than_40_is_rejected() -> None:
    cache = resource("aws:elasticache/replicationGroup:ReplicationGroup", "c" * 33)
    result = awsnames_gate("t", [cache])
    assert [f.rule for f in result.failures] == ["replicationGroupId (auto-name)"]


@pytest.mark.parametrize(
    ("token", "props"),
    [
        ("aws:rds/instance:Instance", {"identifier": "db--writer"}),
        ("aws:rds/instance:Instance", {"identifier": "1db"}),
        ("aws:rds/instance:Instance", {"finalSnapshotIdentifier": "final-"}),
        ("aws:s3/bucketV2:BucketV2", {"bucket": "Trading_Logs"}),
        ("aws:s3/bucketV2:BucketV2", {"bucket": "192.168.1.1"}),
        ("aws:iam/role:Role", {"name": "r" * 65}),
        ("aws:msk/cluster:Cluster", {"clusterName": "kafka_cluster"}),
        ("aws:ec2/vpc:Vpc", {"tags": {"aws:owner": "x"}}),
    ],
)
def test_names_aws_refuses_are_rejected(token: str, props: dict[str, object]) -> None:
    assert not awsnames_gate("t", [resource(token, "x", **props)]).passed


@pytest.mark.parametrize("stack", STACKS)
def test_every_name_the_stack_declares_follows_aws_rules(
    stack: str, plans: Callable[[str], list[PlannedResource]]
) -> None:
    result = awsnames_gate(stack, plans(stack))
    assert result.failures == []


@pytest.mark.parametrize(("name", "passed"), [("aws-waf-logs-edge", True), ("edge-waf", False)])
def test_a_waf_log_group_must_be_named_aws_waf_logs(name: str, passed: bool) -> None:
    group = resource("aws:cloudwatch/logGroup:LogGroup", "waf-logs", name=name)
    logging = resource(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        "waf-logging",
        logDestinationConfigs=["arn:aws:logs:us-east-1:000000000000:log-group:waf-logs"],
    )
    result = awsnames_gate("t", [group, logging])
    assert result.passed is passed
    assert passed or "aws-waf-logs-" in result.failures[0].message
