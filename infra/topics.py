"""The stack's Kafka topics (`streaming.topics`), created where its brokers run.

Both brokers refuse to create topics on first use (`auto.create.topics.enable=false`, see
infra/streaming.py), so every declared topic is created here, after its cluster, with the
partitions, replication factor, retention and `min.insync.replicas` of the stack file.

aws: `ManagedTopics`, one `aws-native:msk:Topic` per topic. That is CloudFormation's
AWS::MSK::Topic driven through Cloud Control, i.e. MSK's own topic API (CreateTopic,
UpdateTopic, DeleteTopic; provisioned clusters on Kafka >= 3.6, which every version in
MSK_KAFKA_VERSIONS is). Why this and not the other ways:
- the API is a control-plane call signed with the deployer's AWS credentials: the deploy
  needs no network path to the brokers (the data security group admits only the services'
  group, infra/network.py) and no Kafka client or SASL/IAM setup of its own;
- the pulumi-kafka provider speaks the Kafka admin protocol to port 9098: it would need the
  deployer admitted to the data tier and the brokers reachable during every preview;
- a Kubernetes Job with confluent-kafka's AdminClient works from inside the cluster, but
  needs an image carrying the client, an IRSA role and a NetworkPolicy of its own, and its
  outcome is not a resource Pulumi tracks (a partition change means re-running a Job);
- pulumi-aws's `aws.msk.Topic` (v7.25+) wraps the same API; the project is on pulumi-aws 6.
  Moving to it when the project moves to v7 is a rename of the resource type.
The deployer needs kafka-cluster:Connect/CreateTopic/DescribeTopic/AlterTopic/DeleteTopic
(and the DynamicConfiguration actions) on the cluster and its topics; the services' roles
get none of these (infra/identity.py). Topics are stateful: protected in production like
the cluster (a changed replication factor replaces the topic, i.e. deletes its records).
Partitions can only grow: Kafka refuses to shrink a topic, and so does the update.

kubernetes (dev): `InClusterTopics`, a Job in the namespace that runs the broker image's own
`kafka-topics.sh --create --if-not-exists` for each topic; Pulumi waits for it to complete.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping

import pulumi
import pulumi_aws_native as aws_native
import pulumi_kubernetes as k8s

from infra.incluster import (
    SERVICE_TIER,
    TIER_LABEL,
    container_security,
    pinned_image,
    pod_security,
)
from infra.protection import stateful_opts
from infra.streaming import KAFKA_PORT
from stackspec.model import Streaming, Topic

HOUR_MS = 3_600_000


def topic_properties(topic: Topic, brokers: int) -> dict[str, str]:
    """The topic-level Kafka configuration of `topic` on a cluster of `brokers` brokers."""
    return {
        "retention.ms": str(topic.retention_hours * HOUR_MS),
        "min.insync.replicas": str(topic.min_insync(brokers)),
        "cleanup.policy": "delete",
    }


def encoded_configs(properties: Mapping[str, str]) -> str:
    """`properties` as MSK's topic API takes them: Java properties text, Base64-encoded."""
    text = "".join(f"{key}={value}\n" for key, value in properties.items())
    return base64.b64encode(text.encode()).decode()


class ManagedTopics(pulumi.ComponentResource):
    """Every declared topic on the MSK cluster `cluster_arn`, through MSK's topic API.

    `region`: where the cluster is; the component's own aws-native provider is pinned to it
    (the stack files disable default providers: nothing acts on an ambient region).
    `topic_arns[name]` is each topic's ARN.
    """

    def __init__(
        self,
        name: str,
        settings: Streaming,
        cluster_arn: pulumi.Input[str],
        region: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Topics", name, None, opts)
        provider = aws_native.Provider(
            f"{name}-aws-native", region=region, opts=pulumi.ResourceOptions(parent=self)
        )
        on_msk = stateful_opts(self, pulumi.ResourceOptions(provider=provider))
        self.topic_arns: dict[str, pulumi.Output[str]] = {}
        for topic in settings.topics:
            created = aws_native.msk.Topic(
                f"{name}-{topic.name}",
                cluster_arn=cluster_arn,
                topic_name=topic.name,
                partition_count=topic.partitions,
                replication_factor=topic.replication(settings.brokers),
                configs=encoded_configs(topic_properties(topic, settings.brokers)),
                opts=on_msk,
            )
            self.topic_arns[topic.name] = created.topic_arn
        self.register_outputs({"topicArns": self.topic_arns})


def create_script(settings: Streaming, bootstrap: str) -> str:
    """The shell script the dev Job runs: create each topic unless it exists (idempotent,
    so a re-run after a change of the stack file is harmless)."""
    lines = ["set -eu"]
    for topic in settings.topics:
        args = [
            "/opt/kafka/bin/kafka-topics.sh",
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--if-not-exists",
            "--topic",
            topic.name,
            "--partitions",
            str(topic.partitions),
            "--replication-factor",
            str(topic.replication(settings.brokers)),
        ]
        for key, value in topic_properties(topic, settings.brokers).items():
            args += ["--config", f"{key}={value}"]
        lines.append(shlex.join(args))
    return "\n".join(lines) + "\n"


class InClusterTopics(pulumi.ComponentResource):
    """A Job that creates every declared topic on the in-cluster broker `broker` (dev).

    The pod carries the services' tier label, which the broker admits (infra/incluster.py),
    and a NetworkPolicy of its own lets it reach the broker's port and nothing else (DNS
    comes from the namespace's allow-dns). Pulumi waits for the Job to complete; a change
    of the topics replaces it (a Job's pod template is immutable), and the script is
    idempotent. Pass `depends_on` the broker so the Job starts once the broker is ready.
    """

    def __init__(
        self,
        name: str,
        settings: Streaming,
        namespace: str,
        broker: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Topics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The broker is an InClusterServer named `broker`: its Service and its pods' label.
        bootstrap = f"{broker}.{namespace}.svc.cluster.local:{KAFKA_PORT}"
        broker_labels = {"app": broker}
        labels = {"app": name}
        meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels)
        account = k8s.core.v1.ServiceAccount(
            name, metadata=meta, automount_service_account_token=False, opts=child
        )
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-egress", namespace=namespace, labels=labels
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                policy_types=["Ingress", "Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=broker_labels
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=KAFKA_PORT, protocol="TCP")
                        ],
                    )
                ],
            ),
            opts=child,
        )
        self.job = k8s.batch.v1.Job(
            name,
            metadata=meta,
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6,
                template=_job_pod(name, settings, bootstrap, labels),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, self.network_policy]),
        )
        self.register_outputs({})


def _job_pod(
    name: str, settings: Streaming, bootstrap: str, labels: Mapping[str, str]
) -> k8s.core.v1.PodTemplateSpecArgs:
    # kafka-run-class.sh writes its logs under /opt/kafka/logs; the JVM uses /tmp.
    scratch = {"/tmp": "scratch-0", "/opt/kafka/logs": "scratch-1"}
    container = k8s.core.v1.ContainerArgs(
        name=name,
        image=pinned_image(f"apache/kafka:{settings.kafka_version}"),
        image_pull_policy="IfNotPresent",
        command=["/bin/sh", "-c", create_script(settings, bootstrap)],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "256Mi"},
            limits={"cpu": "500m", "memory": "512Mi"},
        ),
        security_context=container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=volume, mount_path=path)
            for path, volume in scratch.items()
        ],
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, TIER_LABEL: SERVICE_TIER}),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=name,
            automount_service_account_token=False,
            restart_policy="OnFailure",
            security_context=pod_security(),
            containers=[container],
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name=volume, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                )
                for volume in scratch.values()
            ],
        ),
    )
