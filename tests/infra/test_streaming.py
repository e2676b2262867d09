"""The MSK cluster of aws stacks (infra/streaming.py). Resources are planned with the Pulumi
engine mocked by set_mocks (infra.offline.plan_stack); settings validated directly."""

from __future__ import annotations

from collections.abc import Callable

from infra.streaming import server_properties
from stackspec.model import MSK_KAFKA_VERSIONS
from tests.infra.conftest import Plan, only
from tests.infra.settings_helpers import refused, validate

MSK = "aws:msk/cluster:Cluster"
CONFIG = "aws:msk/configuration:Configuration"


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_cluster_is_iam_only_tls_cmk_logged_and_monitored(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: IAM auth and no unauthenticated access, TLS everywhere, CMK at
    rest, broker logs to an expiring group (MSK.6-style), per-topic monitoring."""
    plan = plans("production")
    kafka = only(plan, MSK, "streaming-kafka").props
    auth = kafka["clientAuthentication"]
    assert auth["sasl"]["iam"] is True and auth["unauthenticated"] is False
    assert kafka["encryptionInfo"]["encryptionInTransit"] == {
        "clientBroker": "TLS",
        "inCluster": True,
    }
    assert kafka["encryptionInfo"]["encryptionAtRestKmsKeyArn"].endswith("/streaming-key")
    logs = kafka["loggingInfo"]["brokerLogs"]["cloudwatchLogs"]
    assert logs == {"enabled": True, "logGroup": "streaming-broker-logs"}
    group = only(plan, "aws:cloudwatch/logGroup:LogGroup", "streaming-broker-logs")
    assert group.props["retentionInDays"] == 365
    assert kafka["enhancedMonitoring"] == "PER_TOPIC_PER_BROKER"
    assert kafka["kafkaVersion"] in MSK_KAFKA_VERSIONS
    assert only(plan, "aws:kms/key:Key", "streaming-key").props["enableKeyRotation"] is True


def test_cluster_runs_its_own_configuration(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: no auto-created topics, RF 3, min ISR 2, no unclean leaders; the
    cluster points at the configuration's latest revision, for its Kafka version."""
    plan = plans("production")
    config = only(plan, CONFIG, "streaming-config").props
    props = _properties(config["serverProperties"])
    assert props["auto.create.topics.enable"] == "false"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert config["kafkaVersions"] == ["3.9.x"]
    assert config["name"] == "production-streaming-3-9-x"
    kafka = only(plan, MSK, "streaming-kafka").props
    assert kafka["configurationInfo"] == {
        "arn": "arn:aws:kafka:us-east-1:000000000000:configuration/streaming-config/mock-uuid-2",
        "revision": 1,
    }


def test_replication_never_exceeds_the_brokers() -> None:
    assert _properties(server_properties(1))["default.replication.factor"] == "1"
    assert _properties(server_properties(1))["min.insync.replicas"] == "1"
    assert _properties(server_properties(6))["default.replication.factor"] == "3"


def test_kafka_versions_must_exist_where_they_run() -> None:
    """3.6.0 is past MSK's end of support; 3.9.x is an MSK version but no image tag."""
    text = refused("production", "streaming", kafkaVersion="3.6.0")
    assert "trading-platform:streaming.kafkaVersion" in text and "3.9.x" in text
    assert "apache/kafka image tag" in refused("dev", "streaming", kafkaVersion="3.9.x")
    assert validate("dev", "streaming").streaming.kafka_version == "3.9.1"


def test_aws_stacks_need_iam_and_tls() -> None:
    text = refused("production", "streaming", auth="none")
    assert "trading-platform:streaming.auth" in text and "MSK IAM" in text
    assert "streaming.auth" in refused("production", "streaming", tls=False)


def test_brokers_divide_evenly_over_the_zones() -> None:
    """MSK spreads brokers evenly over its (at most 3) zones: 4 brokers in 3 zones is refused."""
    text = refused("production", "streaming", brokers=4)
    assert "trading-platform:streaming.brokers" in text and "multiple of 3" in text
    assert validate("production", "streaming", brokers=6).streaming.brokers == 6


def test_brokers_use_at_most_three_subnets(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the cluster's client subnets are the data tier's, at most three."""
    kafka = only(plans("production"), MSK, "streaming-kafka").props
    subnets = kafka["brokerNodeGroupInfo"]["clientSubnets"]
    assert 2 <= len(subnets) <= 3 and len(set(subnets)) == len(subnets)
