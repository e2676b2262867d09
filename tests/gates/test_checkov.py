"""The checkov gate: the skip list, the renderings checkov reads, a negative control run on
hand-made resources, then every stack's plan (computed under set_mocks, the engine's
stand-in). checkov runs offline (`--skip-download`) from `.tools/checkov` (scripts/setup)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.gates.checkov import checkov_gate, judge, load_skips, run_checkov, write_inputs
from infra.gates.render import terraform_plan
from infra.gates.result import GateResult
from infra.gates.run import STACKS, region
from infra.offline import PlannedResource
from tests.gates.conftest import resource

RDS = "aws:rds/instance:Instance"


def test_every_skip_says_why(tmp_path: Path) -> None:
    assert all(len(skip.reason) > 40 for skip in load_skips().values())
    bad = tmp_path / "skips.yaml"
    bad.write_text("CKV_K8S_1:\n  check: x\n")
    with pytest.raises(ValueError, match=r"skips.yaml: CKV_K8S_1: every skip needs a `reason`"):
        load_skips(bad)


def test_aws_resources_render_as_a_terraform_plan_with_references() -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "net", cidrBlock="10.0.0.0/16", tags={"costCenter": "x"})
    log = resource("aws:ec2/flowLog:FlowLog", "net-flow", vpcId="net-id", trafficType="ALL")
    cdn = resource(
        "aws:cloudfront/distribution:Distribution",
        "cdn",
        origins=[{"originId": "api", "customOriginConfig": {"httpsPort": 443.0}}],
    )
    document, unmapped = terraform_plan([vpc, log, cdn], "eu-west-1")
    planned = {
        r["address"]: r["values"] for r in document["planned_values"]["root_module"]["resources"]
    }
    assert planned["aws_vpc.net"] == {"cidr_block": "10.0.0.0/16", "tags": {"costCenter": "x"}}
    assert planned["aws_flow_log.net-flow"] == {"traffic_type": "ALL"}  # id: unknown at plan
    assert planned["aws_cloudfront_distribution.cdn"]["origin"] == [
        {"origin_id": "api", "custom_origin_config": [{"https_port": 443}]}
    ]
    config = {
        r["address"]: r["expressions"]
        for r in document["configuration"]["root_module"]["resources"]
    }
    assert config["aws_flow_log.net-flow"]["vpc_id"]["references"] == [
        "aws_vpc.net.id",
        "aws_vpc.net",
    ]
    assert unmapped == []


def test_an_arn_refers_to_the_resource_of_its_service_when_two_share_a_name() -> None:
    group = resource("aws:cloudwatch/logGroup:LogGroup", "waf-logs", name="aws-waf-logs-x")
    logging = resource(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        "waf-logs",
        logDestinationConfigs=["arn:aws:logs:us-east-1:0:log-group:waf-logs"],
    )
    document, _ = terraform_plan([group, logging], "us-east-1")
    config = document["configuration"]["root_module"]["resources"][1]["expressions"]
    assert (
        config["log_destination_configs"]["references"][-1] == "aws_cloudwatch_log_group.waf-logs"
    )


def test_an_aws_token_without_a_terraform_type_is_reported_not_dropped() -> None:
    _, unmapped = terraform_plan([resource("aws:foo/bar:Bar", "b")], "us-east-1")
    assert unmapped == ["aws:foo/bar:Bar b: no Terraform type known for this token"]


@pytest.fixture(scope="module")
def negative_control() -> GateResult:
    """One checkov run on an unencrypted public RDS instance and a privileged Deployment."""
    rds = resource(
        RDS,
        "db",
        engine="postgres",
        storageEncrypted=False,
        publiclyAccessible=True,
        instanceClass="db.t3.micro",
    )
    pod = {"containers": [{"name": "a", "image": "a:1", "securityContext": {"privileged": True}}]}
    deployment = resource(
        "kubernetes:apps/v1:Deployment",
        "app",
        metadata={"name": "app", "namespace": "t"},
        spec={
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": pod},
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), "t", [rds, deployment], "us-east-1")
        return judge("t", run_checkov(Path(tmp)), load_skips())


def test_an_unencrypted_rds_instance_is_rejected(negative_control: GateResult) -> None:
    failed = {(f.resource, f.rule) for f in negative_control.failures}
    assert ("terraform_plan aws_db_instance.db", "CKV_AWS_16") in failed  # storage encryption
    assert ("terraform_plan aws_db_instance.db", "CKV_AWS_17") in failed  # publicly accessible


def test_a_privileged_container_is_rejected(negative_control: GateResult) -> None:
    failed = {f.rule for f in negative_control.failures if f.resource.startswith("kubernetes")}
    assert "CKV_K8S_16" in failed  # privileged containers


def test_skipped_checks_are_listed_with_their_reason(negative_control: GateResult) -> None:
    assert any(s.startswith("CKV_K8S_43 ") and "registry" in s for s in negative_control.skipped)
    assert all(f.rule not in load_skips() for f in negative_control.failures)


@pytest.fixture(scope="module")
def stack_results(plans: Callable[[str], list[PlannedResource]]) -> dict[str, GateResult]:
    results = checkov_gate({s: plans(s) for s in STACKS}, {s: region(s) for s in STACKS})
    return {r.stack: r for r in results}


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing_in_the_stack(
    stack: str, stack_results: dict[str, GateResult]
) -> None:
    result = stack_results[stack]
    assert result.checked > 0
    assert [str(f) for f in result.failures] == []
    # What checkov cannot see (a Helm chart) is reported by `make validate`, not failed.
    assert not [u for u in result.unchecked if "no Terraform type" in u]


def test_a_skip_naming_resources_applies_to_those_only() -> None:
    """The load balancer's group may be unattached in the plan; any other group may not."""
    skip = load_skips()["CKV2_AWS_5"]
    assert skip.applies("production", "aws_security_group.gateway-origin")
    assert not skip.applies("production", "aws_security_group.network-data")
    assert not skip.applies("dev", "aws_security_group.gateway-origin")
    failed = {"check_id": "CKV2_AWS_5", "check_name": "attached", "resource": ""}
    report = {
        "check_type": "terraform_plan",
        "summary": {"passed": 0, "failed": 2},
        "results": {
            "failed_checks": [
                {**failed, "resource": "aws_security_group.gateway-origin"},
                {**failed, "resource": "aws_security_group.stray"},
            ]
        },
    }
    result = judge("production", [report], load_skips())
    assert [f.resource for f in result.failures] == ["terraform_plan aws_security_group.stray"]
    assert len(result.skipped) == 1
