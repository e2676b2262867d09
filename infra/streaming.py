"""Kafka: an MSK cluster (aws) or a single KRaft broker in-cluster (kubernetes).

The MSK cluster takes clients over TLS with IAM authentication only (SASL/IAM, port 9098;
the services and runbooks sign with aws-msk-iam-sasl-signer), encrypts at rest with the
component's customer-managed key (rotated yearly), logs its brokers to a CloudWatch log
group that expires, reports per-topic-per-broker metrics, and runs a configuration of its
own: no topic is created by accident, and a write is acknowledged only once two replicas
hold it (a broker can be lost, or patched, without losing an acknowledged record).

Topics are not declared here: infra/topics.py creates the stack file's topics after the
cluster (MSK's topic API on aws, a Job against the broker in dev). `topic_arn_prefix` and
`group_arn_prefix` are what the services' IAM policies (IRSA) append topic and group names
to.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.incluster import InClusterServer, ServerSpec
from infra.keys import data_key
from infra.network import Network
from infra.protection import stateful_opts
from stackspec.model import MSK_MAX_ZONES
from stackspec.model import Streaming as StreamingSettings

BROKER_VOLUME_GB = 100
KAFKA_PORT = 9092


def server_properties(brokers: int) -> str:
    """The broker configuration: explicit topics only, replicated writes, no unclean
    leaders. Replication is capped by the broker count (3 brokers: factor 3, 2 in sync)."""
    replication = min(3, brokers)
    in_sync = max(1, min(2, replication - 1))
    properties = {
        "auto.create.topics.enable": "false",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(in_sync),
        "offsets.topic.replication.factor": str(replication),
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(in_sync),
        "unclean.leader.election.enable": "false",
        "num.partitions": "3",
        "log.retention.hours": "168",
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def configuration_name(stack: str, name: str, kafka_version: str) -> str:
    """`<stack>-<name>-<version>` with dots as hyphens: MSK allows letters, digits and `-`."""
    return f"{stack}-{name}-{kafka_version.replace('.', '-')}"


def _client_authentication(auth: str) -> aws.msk.ClusterClientAuthenticationArgs:
    if auth == "none":
        return aws.msk.ClusterClientAuthenticationArgs(unauthenticated=True)
    sasl = aws.msk.ClusterClientAuthenticationSaslArgs(
        iam=auth == "iam", scram=auth == "sasl-scram"
    )
    return aws.msk.ClusterClientAuthenticationArgs(sasl=sasl, unauthenticated=False)


class ManagedStreaming(pulumi.ComponentResource):
    """An MSK cluster across the zones' subnets: TLS in transit, IAM auth, KMS at rest,
    broker logs, enhanced monitoring and a configuration of its own.

    `logs_key_arn`: a KMS key whose policy lets CloudWatch Logs use it (None: AWS-owned).
    """

    def __init__(
        self,
        name: str,
        settings: StreamingSettings,
        network: Network,
        logs_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Streaming", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # MSK takes two or three client subnets (one per zone); the settings check that the
        # broker count divides evenly over them.
        subnets = network.broker_subnet_ids[:MSK_MAX_ZONES]
        self.key = data_key(f"{name}-key", "Kafka storage encryption", self)
        self.configuration = aws.msk.Configuration(
            f"{name}-config",
            # Named per Kafka version: an upgrade creates the next configuration before the
            # cluster moves to it (one in use cannot be deleted or renamed).
            name=configuration_name(pulumi.get_stack(), name, settings.kafka_version),
            description=f"{name}: explicit topics, replicated writes",
            kafka_versions=[settings.kafka_version],
            server_properties=server_properties(settings.brokers),
            opts=child,
        )
        self.broker_logs = aws.cloudwatch.LogGroup(
            f"{name}-broker-logs",
            retention_in_days=settings.log_retention_days,
            kms_key_id=logs_key_arn,
            opts=child,
        )
        self.cluster = aws.msk.Cluster(
            f"{name}-kafka",
            kafka_version=settings.kafka_version,
            number_of_broker_nodes=settings.brokers,
            broker_node_group_info=aws.msk.ClusterBrokerNodeGroupInfoArgs(
                instance_type=settings.instance_type,
                client_subnets=subnets,
                security_groups=[network.data_sg.id],
                storage_info=aws.msk.ClusterBrokerNodeGroupInfoStorageInfoArgs(
                    ebs_storage_info=aws.msk.ClusterBrokerNodeGroupInfoStorageInfoEbsStorageInfoArgs(
                        volume_size=BROKER_VOLUME_GB
                    )
                ),
            ),
            configuration_info=aws.msk.ClusterConfigurationInfoArgs(
                arn=self.configuration.arn, revision=self.configuration.latest_revision
            ),
            encryption_info=aws.msk.ClusterEncryptionInfoArgs(
                encryption_at_rest_kms_key_arn=self.key.arn,
                encryption_in_transit=aws.msk.ClusterEncryptionInfoEncryptionInTransitArgs(
                    client_broker="TLS", in_cluster=True
                ),
            ),
            client_authentication=_client_authentication(settings.auth),
            enhanced_monitoring="PER_TOPIC_PER_BROKER",
            logging_info=aws.msk.ClusterLoggingInfoArgs(
                broker_logs=aws.msk.ClusterLoggingInfoBrokerLogsArgs(
                    cloudwatch_logs=aws.msk.ClusterLoggingInfoBrokerLogsCloudwatchLogsArgs(
                        enabled=True, log_group=self.broker_logs.name
                    )
                )
            ),
            opts=stateful_opts(self),
        )
        brokers = {
            "iam": self.cluster.bootstrap_brokers_sasl_iam,
            "sasl-scram": self.cluster.bootstrap_brokers_sasl_scram,
            "none": self.cluster.bootstrap_brokers_tls,
        }
        self.bootstrap_brokers: pulumi.Output[str] = brokers[settings.auth]
        self.cluster_arn: pulumi.Output[str] = self.cluster.arn
        # arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> -> topic/<name>/<uuid>
        self.topic_arn_prefix: pulumi.Output[str] = self.cluster.arn.apply(
            lambda arn: (arn or "").replace(":cluster/", ":topic/", 1)
        )
        self.group_arn_prefix: pulumi.Output[str] = self.cluster.arn.apply(
            lambda arn: (arn or "").replace(":cluster/", ":group/", 1)
        )
        self.register_outputs(
            {"bootstrapBrokers": self.bootstrap_brokers, "clusterArn": self.cluster_arn}
        )


class InClusterStreaming(pulumi.ComponentResource):
    """One KRaft Kafka broker as a StatefulSet with a PVC (dev)."""

    def __init__(
        self,
        name: str,
        settings: StreamingSettings,
        namespace: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Streaming", name, None, opts)
        spec = ServerSpec(
            image=f"apache/kafka:{settings.kafka_version}",
            port=KAFKA_PORT,
            data_path="/var/lib/kafka/data",
            storage_gb=10,
            env={
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_ADVERTISED_LISTENERS": (
                    f"PLAINTEXT://{name}.{namespace}.svc.cluster.local:{KAFKA_PORT}"
                ),
                "KAFKA_LISTENERS": f"PLAINTEXT://:{KAFKA_PORT},CONTROLLER://:9093",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
                "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            },
        )
        self.server = InClusterServer(
            "trading:infra:InClusterServer",
            name,
            spec,
            namespace,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bootstrap_brokers: pulumi.Output[str] = self.server.endpoint
        self.register_outputs({"bootstrapBrokers": self.bootstrap_brokers})
