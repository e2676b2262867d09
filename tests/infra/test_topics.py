"""The declared topics are created where the brokers run, with the stack file's sizes.

Resource tests run the program with the Pulumi engine mocked by pulumi.runtime.set_mocks
(the real stack files as engine config), so they show what `pulumi up` would declare, not
what MSK or a broker did with it. Settings tests validate one changed key of a real stack
file the way `pulumi up` and the runbooks do.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable
from typing import Any

import pytest

from infra.gates.render import unrendered
from infra.topics import create_script, encoded_configs, topic_properties
from stackspec.model import Streaming, Topic
from stackspec.stackfile import StackFileError, load_stack, settings_from_config
from tests.infra.conftest import Plan, of_type, only
from tests.infra.settings_helpers import refused, section, validate

MSK_TOPIC = "aws-native:msk:Topic"
JOB = "kubernetes:batch/v1:Job"


def _decoded(configs: str) -> dict[str, str]:
    text = base64.b64decode(configs).decode()
    return dict(line.split("=", 1) for line in text.splitlines())


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_each_declared_topic_is_created_on_the_msk_cluster(
    plans: Callable[[str], Plan], stack: str
) -> None:
    """Engine mocked with set_mocks: one MSK topic per declared topic, on the stack's own
    cluster, with its partitions, replication 3 of 3 brokers, retention and min ISR 2."""
    plan = plans(stack)
    settings = load_stack(stack)
    created = {r.props["topicName"]: r.props for r in of_type(plan, MSK_TOPIC)}
    assert set(created) == {t.name for t in settings.streaming.topics}
    for topic in settings.streaming.topics:
        props = created[topic.name]
        assert ":cluster/streaming-kafka/" in props["clusterArn"]
        assert props["partitionCount"] == topic.partitions
        assert props["replicationFactor"] == 3
        assert _decoded(props["configs"]) == {
            "retention.ms": str(topic.retention_hours * 3_600_000),
            "min.insync.replicas": "2",
            "cleanup.policy": "delete",
        }


def test_msk_topics_use_a_provider_pinned_to_the_stack_region(
    plans: Callable[[str], Plan],
) -> None:
    """Engine mocked with set_mocks: the topics' aws-native provider names the region of
    the stack file (default providers are disabled for aws-native too)."""
    provider = only(plans("production"), "pulumi:providers:aws-native", "topics-aws-native")
    assert provider.props["region"] == "us-east-1"


def test_dev_creates_its_topics_with_a_job(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: dev has no MSK topic but a Job that runs
    kafka-topics.sh --create --if-not-exists for each topic against the in-cluster broker."""
    plan = plans("dev")
    assert of_type(plan, MSK_TOPIC) == []
    job = only(plan, JOB, "streaming-topics").props
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "apache/kafka:3.9.1"
    script = container["command"][-1]
    for topic in load_stack("dev").streaming.topics:
        assert f"--topic {topic.name} --partitions {topic.partitions}" in script
    assert script.count("--if-not-exists") == 2
    assert "streaming.trading-dev.svc.cluster.local:9092" in script
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_dev_topic_job_may_reach_only_the_broker(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: the Job's pod egress is the broker's pods on 9092, and
    it carries the services' tier label the broker's own policy admits."""
    plan = plans("dev")
    policy = only(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "streaming-topics-egress")
    [rule] = policy.props["spec"]["egress"]
    assert rule["to"] == [{"podSelector": {"matchLabels": {"app": "streaming"}}}]
    assert rule["ports"] == [{"port": 9092, "protocol": "TCP"}]
    assert "ingress" not in policy.props["spec"]
    job = only(plan, JOB, "streaming-topics").props
    assert job["spec"]["template"]["metadata"]["labels"]["trading/tier"] == "service"


def test_aws_stacks_run_no_topic_job(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: on aws the topics are MSK resources, not a Job."""
    assert of_type(plans("production"), JOB) == []


def test_create_script_quotes_and_sizes_each_topic() -> None:
    """Pure function: one kafka-topics.sh call per topic, its arguments shell-safe."""
    streaming = Streaming(brokers=3, topics=(Topic(name="a.b", partitions=6, retention_hours=2),))
    [_, line] = create_script(streaming, "k:9092").splitlines()
    args = shlex.split(line)
    assert args[args.index("--partitions") + 1] == "6"
    assert args[args.index("--replication-factor") + 1] == "3"
    assert "retention.ms=7200000" in args
    assert "min.insync.replicas=2" in args


def test_configs_are_base64_java_properties() -> None:
    """Pure function: MSK's topic API takes `key=value` lines, Base64-encoded."""
    encoded = encoded_configs({"retention.ms": "1000", "min.insync.replicas": "2"})
    assert base64.b64decode(encoded) == b"retention.ms=1000\nmin.insync.replicas=2\n"


def test_explicit_replication_and_min_insync_are_used() -> None:
    """Settings: explicit values override the defaults derived from the broker count."""
    settings = validate(
        "production",
        "streaming",
        topics=[
            {"name": "order-events", "replicationFactor": 3, "minInsyncReplicas": 1},
            {"name": "market-ticks"},
        ],
    )
    topic = settings.streaming.topics[0]
    assert topic_properties(topic, 3)["min.insync.replicas"] == "1"
    assert topic.replication(3) == 3


def _topics(stack: str, **first: Any) -> list[dict[str, Any]]:
    topics = list(section(stack)["streaming"]["topics"])
    topics[0] = {**topics[0], **first}
    return topics


@pytest.mark.parametrize(
    ("stack", "change", "key", "allowed"),
    [
        ("production", {"replicationFactor": 4}, "replicationFactor", "allowed: 1 to 3"),
        ("production", {"minInsyncReplicas": 3}, "minInsyncReplicas", "allowed: 1 to 2"),
        ("production", {"replicationFactor": 1}, "replicationFactor", "allowed: 2 to 3"),
        ("dev", {"replicationFactor": 2}, "replicationFactor", "allowed: 1 to 1"),
        ("dev", {"minInsyncReplicas": 2}, "minInsyncReplicas", "allowed: 1 to 1"),
    ],
)
def test_bad_replication_is_refused_naming_the_key(
    stack: str, change: dict[str, int], key: str, allowed: str
) -> None:
    """Settings: a replication factor above the brokers, a min ISR that stops writes while
    MSK patches a broker, or an unreplicated MSK topic: refused, with key and range."""
    text = refused(stack, "streaming", topics=_topics(stack, **change))
    assert f"streaming.topics[0].{key}" in text
    assert allowed in text


def test_unknown_produced_topic_is_refused() -> None:
    """Settings: `produces` names only declared topics, like `consumes`."""
    config = section("production")
    config["services"][0] = {**config["services"][0], "produces": ["orders-typo"]}
    with pytest.raises(StackFileError) as caught:
        settings_from_config(config, path="stacks/Pulumi.production.yaml")
    message = str(caught.value)
    assert "services[0].produces" in message
    assert "orders-typo" in message
    assert "order-events" in message


def test_offline_gates_report_msk_topics_as_unchecked(plans: Callable[[str], Plan]) -> None:
    """Engine mocked with set_mocks: checkov renders aws and kubernetes resources only; the
    aws-native topics are listed as unchecked with the reason, not passed over in silence,
    and the project's components and the providers are not listed."""
    listed = unrendered(plans("production"))
    assert sorted(listed) == [
        f"aws-native:msk:Topic topics-{name}: no offline checker for the aws-native provider"
        for name in ("market-ticks", "order-events")
    ]
    assert unrendered(plans("dev")) == []
