"""The ElastiCache group of aws stacks (infra/cache.py). Resources are planned with the
Pulumi engine mocked by set_mocks (infra.offline.plan_stack); settings validated directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from infra.cache import LOG_TYPES
from infra.offline import plan_stack
from stackspec.stackfile import SECRET_MASK, stack_path
from tests.infra.conftest import Plan, only
from tests.infra.settings_helpers import refused, validate

REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/cache-key"


def test_group_is_encrypted_with_the_cmk_and_fails_over(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: CMK at rest (ElastiCache.1/2 and KMS), TLS, AUTH, failover, multi-AZ,
    snapshots kept, minor upgrades, an engine version ElastiCache has."""
    plan = plans("production")
    redis = only(plan, REDIS, "cache-redis").props
    assert redis["atRestEncryptionEnabled"] is True and redis["kmsKeyId"] == KEY_ARN
    assert redis["transitEncryptionEnabled"] is True
    assert redis["authToken"] == SECRET_MASK
    assert redis["automaticFailoverEnabled"] is True and redis["multiAzEnabled"] is True
    assert redis["snapshotRetentionLimit"] == 7
    assert redis["autoMinorVersionUpgrade"] is True
    assert redis["engineVersion"] == "7.1"
    assert only(plan, "aws:kms/key:Key", "cache-key").props["enableKeyRotation"] is True


def test_slow_and_engine_logs_go_to_groups_that_expire(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: both ElastiCache log types delivered to CloudWatch as JSON."""
    plan = plans("production")
    delivered = only(plan, REDIS, "cache-redis").props["logDeliveryConfigurations"]
    assert sorted(d["logType"] for d in delivered) == sorted(LOG_TYPES)
    for entry in delivered:
        assert entry["destinationType"] == "cloudwatch-logs" and entry["logFormat"] == "json"
        group = only(plan, "aws:cloudwatch/logGroup:LogGroup", f"cache-{entry['logType']}")
        assert entry["destination"] == f"cache-{entry['logType']}"  # the group's name
        assert group.props["retentionInDays"] == 365


def test_auth_token_is_stored_in_secrets_manager_with_the_cmk(
    plans: Callable[[str], Plan],
) -> None:
    """Under set_mocks: the generated token goes into a secret encrypted with the cache's
    CMK; its value never shows in the plan."""
    plan = plans("production")
    secret = only(plan, "aws:secretsmanager/secret:Secret", "cache-auth-token").props
    assert secret["kmsKeyId"] == KEY_ARN
    version = only(plan, "aws:secretsmanager/secretVersion:SecretVersion", "cache-auth-token")
    assert version.props["secretString"] == SECRET_MASK
    token = only(plan, "random:index/randomPassword:RandomPassword", "cache-auth-token").props
    assert token["length"] >= 16 and token["special"] is False


def test_without_replicas_there_is_no_failover(tmp_path: Path) -> None:
    """Under set_mocks: a group of one node cannot fail over (ElastiCache refuses the flag)."""
    path = stack_path("staging")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["config"]["trading-platform:cache"]["replicas"] = 0
    (tmp_path / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    redis = only(plan_stack("staging", tmp_path), REDIS, "cache-redis").props
    assert redis["numCacheClusters"] == 1
    assert redis["automaticFailoverEnabled"] is False and redis["multiAzEnabled"] is False


def test_redis_versions_must_exist_where_they_run() -> None:
    """7.2 is a redis image but no ElastiCache Redis OSS version; 7.1 is the reverse."""
    text = refused("production", "cache", redisVersion="7.2")
    assert "trading-platform:cache.redisVersion" in text and "7.1" in text
    text = refused("dev", "cache", redisVersion="7.1")
    assert "a redis image tag" in text and "7.0" in text
    assert validate("dev", "cache").cache.redis_version == "7.0"  # the default exists


def test_bad_log_retention_names_the_key() -> None:
    assert "trading-platform:cache.logRetentionDays" in refused(
        "production", "cache", logRetentionDays=10
    )


def test_aws_stacks_need_tls_for_the_cache() -> None:
    assert "trading-platform:cache.tls" in refused("production", "cache", tls=False)


def test_dev_runs_images_that_exist(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: dev's in-cluster Redis and Kafka use published image tags (redis:7.1
    and apache/kafka:3.6.0 never existed)."""
    images = {
        c["image"]
        for r in plans("dev")
        if r.type == "kubernetes:apps/v1:StatefulSet"
        for c in r.props["spec"]["template"]["spec"]["containers"]
    }
    redis = next(i for i in images if i.startswith("redis:"))
    kafka = next(i for i in images if i.startswith("apache/kafka:"))
    assert redis.startswith("redis:7.0")  # pinned to a 7.0 release by infra.incluster
    assert kafka == "apache/kafka:3.9.1"
    assert not {"redis:7.1", "apache/kafka:3.6.0"} & images
