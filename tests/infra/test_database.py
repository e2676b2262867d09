"""The RDS database of aws stacks (infra/database.py). Resources are planned with the Pulumi
engine mocked by set_mocks (infra.offline.plan_stack); settings are validated directly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from infra.database import LOG_EXPORTS, final_snapshot_name, instance_identifier
from infra.offline import plan_stack
from stackspec.stackfile import stack_path
from tests.infra.conftest import Plan, of_type, only
from tests.infra.settings_helpers import refused

RDS = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
RANDOM_ID = "random:index/randomId:RandomId"


def _instances(plan: Plan) -> list[dict[str, object]]:
    return [r.props for r in of_type(plan, RDS) if r.name.startswith("database-")]


def test_writer_and_replicas_are_hardened_alike(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: PI with the CMK, log exports, IAM auth, Enhanced Monitoring, TLS CA,
    minor upgrades, tags to snapshots, encryption with the CMK, private, on the writer and
    on both production replicas (RDS.9/10/13/17 and friends)."""
    plan = plans("production")
    key_arn = "arn:aws:kms:us-east-1:000000000000:key/database-key"
    instances = _instances(plan)
    assert len(instances) == 3
    for props in instances:
        assert props["performanceInsightsEnabled"] is True
        assert props["performanceInsightsKmsKeyId"] == key_arn
        assert props["enabledCloudwatchLogsExports"] == list(LOG_EXPORTS)
        assert props["iamDatabaseAuthenticationEnabled"] is True
        assert props["monitoringInterval"] == 60
        assert props["monitoringRoleArn"] == "arn:aws:iam::000000000000:role/database-monitoring"
        assert props["autoMinorVersionUpgrade"] is True
        assert props["copyTagsToSnapshot"] is True
        assert props["storageEncrypted"] is True and props["kmsKeyId"] == key_arn
        assert props["publiclyAccessible"] is False
        assert props["caCertIdentifier"] == "rds-ca-rsa2048-g1"
        assert props["deletionProtection"] is True


def test_master_password_is_managed_by_rds_with_the_cmk(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: no password in the program; RDS keeps it in Secrets Manager."""
    writer = only(plans("production"), RDS, "database-writer").props
    assert writer["manageMasterUserPassword"] is True
    assert "password" not in writer
    assert writer["masterUserSecretKmsKeyId"]  # the CMK (masked: the key name says secret)
    assert writer["backupRetentionPeriod"] == 14


def test_key_rotates_and_monitoring_role_is_rds_only(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the CMK rotates; the monitoring role trusts only RDS monitoring."""
    plan = plans("production")
    assert only(plan, KEY, "database-key").props["enableKeyRotation"] is True
    role = only(plan, "aws:iam/role:Role", "database-monitoring").props
    assert "monitoring.rds.amazonaws.com" in role["assumeRolePolicy"]
    attached = only(
        plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "database-monitoring"
    )
    assert attached.props["policyArn"].endswith("/AmazonRDSEnhancedMonitoringRole")


def test_exported_logs_land_in_groups_that_expire(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: one group per instance and log, named as RDS names it, with retention."""
    plan = plans("production")
    groups = {r.props.get("name"): r.props for r in of_type(plan, LOG_GROUP)}
    for role in ("writer", "replica-1", "replica-2"):
        for log in LOG_EXPORTS:
            group = groups[f"/aws/rds/instance/production-trading-{role}/{log}"]
            assert group["retentionInDays"] == 365


def test_final_snapshot_name_is_unique_per_writer(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the final snapshot carries the RandomId made with the writer (not the
    fixed `database-final` that collided on the second delete), and that RandomId is renewed
    by every input that replaces the writer."""
    plan = plans("production")
    writer = only(plan, RDS, "database-writer").props
    suffix = only(plan, RANDOM_ID, "database-final-snapshot").props
    assert writer["skipFinalSnapshot"] is False
    assert writer["finalSnapshotIdentifier"] == "production-trading-writer-final-0a1b2c3d"
    assert writer["finalSnapshotIdentifier"] != "database-final"
    assert set(suffix["keepers"]) == {"identifier", "dbName", "username", "kmsKeyId"}
    assert suffix["keepers"]["identifier"] == writer["identifier"]
    assert final_snapshot_name("w", "00000001") != final_snapshot_name("w", "00000002")


def test_staging_and_production_never_share_an_identifier(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: identifiers carry the stack (one account may hold both stacks)."""
    names = {
        stack: {p["identifier"] for p in _instances(plans(stack))}
        for stack in ("staging", "production")
    }
    assert names["staging"] and not names["staging"] & names["production"]


def test_identifiers_follow_aws_rules() -> None:
    assert instance_identifier("production", "trading", "replica-5") == (
        "production-trading-replica-5"
    )
    with pytest.raises(ValueError, match="at most 63"):
        instance_identifier("production", "t" * 60, "writer")


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"monitoringIntervalSeconds": 45}, "database.monitoringIntervalSeconds"),
        ({"performanceInsightsDays": 30}, "database.performanceInsightsDays"),
        ({"logRetentionDays": 31}, "database.logRetentionDays"),
    ],
)
def test_bad_monitoring_settings_name_the_key(changes: dict[str, int], key: str) -> None:
    text = refused("production", "database", **changes)
    assert f"trading-platform:{key}" in text


def test_keys_have_explicit_account_policies(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: each data-tier key declares its policy (the account, through IAM)."""
    plan = plans("production")
    for name in ("database-key", "cache-key", "streaming-key"):
        key = only(plan, KEY, name).props
        statements = json.loads(key["policy"])["Statement"]
        assert [s["Principal"] for s in statements] == [{"AWS": "arn:aws:iam::000000000000:root"}]
        assert key["enableKeyRotation"] is True


def test_ddl_and_slow_statements_are_logged(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the parameter group every instance uses logs DDL and statements
    over a second, not every statement (orders' values stay out of the logs)."""
    plan = plans("production")
    group = only(plan, "aws:rds/parameterGroup:ParameterGroup", "database-params")
    params = {p["name"]: p["value"] for p in group.props["parameters"]}
    assert params["log_statement"] == "ddl"
    assert params["log_min_duration_statement"] == "1000"
    assert all(p["parameterGroupName"] == "database-params-id" for p in _instances(plan))


def test_production_replicas_are_multi_az_too(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: with database.multiAz every replica is Multi-AZ as well."""
    assert all(p["multiAz"] is True for p in _instances(plans("production")))


def test_production_is_deletion_protected_whatever_the_file_says(tmp_path: Path) -> None:
    """Under set_mocks: production with deletionProtection false still protects every
    instance (RDS refuses DeleteDBInstance)."""
    path = stack_path("production")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["config"]["trading-platform:database"]["deletionProtection"] = False
    (tmp_path / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    instances = _instances(plan_stack("production", tmp_path))
    assert instances and all(p["deletionProtection"] is True for p in instances)


def test_instances_wait_for_the_monitoring_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: the writer and replicas depend on the monitoring role's policy
    attachment (RDS checks the role's rights when the instance is created)."""
    import pulumi_aws as aws

    attachments: dict[str, object] = {}
    instance_opts: dict[str, object] = {}
    attachment_class, instance_class = aws.iam.RolePolicyAttachment, aws.rds.Instance

    class Attachment(attachment_class):  # type: ignore[misc, valid-type]
        def __init__(self, resource_name: str, *args: object, **kwargs: object) -> None:
            super().__init__(resource_name, *args, **kwargs)
            attachments[resource_name] = self

    class Instance(instance_class):  # type: ignore[misc, valid-type]
        def __init__(self, resource_name: str, *args: object, **kwargs: object) -> None:
            instance_opts[resource_name] = kwargs.get("opts")
            super().__init__(resource_name, *args, **kwargs)

    monkeypatch.setattr(aws.iam, "RolePolicyAttachment", Attachment)
    monkeypatch.setattr(aws.rds, "Instance", Instance)
    plan_stack("production")
    monitoring = attachments["database-monitoring"]
    assert instance_opts
    for name, opts in instance_opts.items():
        depends = getattr(opts, "depends_on", None) or []
        assert monitoring in depends, name
