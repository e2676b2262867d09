"""Kafka: an MSK cluster (aws) or a single KRaft broker in-cluster (kubernetes).

Topics are not declared here: the runbooks create them against the broker; the program
exports them so both sides read one list.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.incluster import InClusterServer, ServerSpec
from infra.network import Network
from infra.settings import Streaming as StreamingSettings

BROKER_VOLUME_GB = 100
KAFKA_PORT = 9092


def _client_authentication(auth: str) -> aws.msk.ClusterClientAuthenticationArgs:
    if auth == "none":
        return aws.msk.ClusterClientAuthenticationArgs(unauthenticated=True)
    sasl = aws.msk.ClusterClientAuthenticationSaslArgs(
        iam=auth == "iam", scram=auth == "sasl-scram"
    )
    return aws.msk.ClusterClientAuthenticationArgs(sasl=sasl, unauthenticated=False)


class ManagedStreaming(pulumi.ComponentResource):
    """An MSK cluster across the zones' subnets, TLS in transit, KMS at rest."""

    def __init__(
        self,
        name: str,
        settings: StreamingSettings,
        network: Network,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Streaming", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: Kafka storage encryption",
            enable_key_rotation=True,
            opts=child,
        )
        self.cluster = aws.msk.Cluster(
            f"{name}-kafka",
            kafka_version=settings.kafka_version,
            number_of_broker_nodes=settings.brokers,
            broker_node_group_info=aws.msk.ClusterBrokerNodeGroupInfoArgs(
                instance_type=settings.instance_type,
                client_subnets=network.broker_subnet_ids,
                security_groups=[network.data_sg.id],
                storage_info=aws.msk.ClusterBrokerNodeGroupInfoStorageInfoArgs(
                    ebs_storage_info=aws.msk.ClusterBrokerNodeGroupInfoStorageInfoEbsStorageInfoArgs(
                        volume_size=BROKER_VOLUME_GB
                    )
                ),
            ),
            encryption_info=aws.msk.ClusterEncryptionInfoArgs(
                encryption_at_rest_kms_key_arn=self.key.arn,
                encryption_in_transit=aws.msk.ClusterEncryptionInfoEncryptionInTransitArgs(
                    client_broker="TLS", in_cluster=True
                ),
            ),
            client_authentication=_client_authentication(settings.auth),
            opts=child,
        )
        brokers = {
            "iam": self.cluster.bootstrap_brokers_sasl_iam,
            "sasl-scram": self.cluster.bootstrap_brokers_sasl_scram,
            "none": self.cluster.bootstrap_brokers_tls,
        }
        self.bootstrap_brokers: pulumi.Output[str] = brokers[settings.auth]
        self.register_outputs({"bootstrapBrokers": self.bootstrap_brokers})


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
