"""PostgreSQL: RDS with read replicas (aws) or a StatefulSet in-cluster (kubernetes)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.incluster import InClusterServer, ServerSpec
from infra.network import Network
from infra.settings import Database as DatabaseSettings

ADMIN_USER = "trading_admin"


class ManagedDatabase(pulumi.ComponentResource):
    """An encrypted, private RDS PostgreSQL writer that forces TLS, plus its read replicas."""

    def __init__(
        self,
        name: str,
        settings: DatabaseSettings,
        network: Network,
        keep_final_snapshot: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._data_sg_id = network.data_sg.id
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: PostgreSQL storage encryption",
            enable_key_rotation=True,
            opts=child,
        )
        major = settings.postgres_version.split(".")[0]
        self.parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(
                    name="rds.force_ssl", value="1", apply_method="pending-reboot"
                )
            ],
            opts=child,
        )
        self.writer = aws.rds.Instance(
            f"{name}-writer",
            engine="postgres",
            engine_version=settings.postgres_version,
            instance_class=settings.instance_class,
            allocated_storage=settings.storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            db_name=settings.name.replace("-", "_"),
            username=ADMIN_USER,
            manage_master_user_password=True,
            multi_az=settings.multi_az,
            backup_retention_period=settings.backup_retention_days,
            deletion_protection=settings.deletion_protection,
            publicly_accessible=False,
            db_subnet_group_name=network.db_subnet_group.name,
            vpc_security_group_ids=[network.data_sg.id],
            parameter_group_name=self.parameters.name,
            skip_final_snapshot=not keep_final_snapshot,
            final_snapshot_identifier=f"{name}-final" if keep_final_snapshot else None,
            copy_tags_to_snapshot=True,
            opts=child,
        )
        self.replicas = [self._replica(name, i, settings) for i in range(settings.read_replicas)]
        self.writer_endpoint: pulumi.Output[str] = self.writer.endpoint
        self.reader_endpoints: pulumi.Output[list[str]] = pulumi.Output.all(
            *[r.endpoint for r in self.replicas] or [self.writer.endpoint]
        )
        self.register_outputs(
            {"writerEndpoint": self.writer_endpoint, "readerEndpoints": self.reader_endpoints}
        )

    def _replica(self, name: str, index: int, settings: DatabaseSettings) -> aws.rds.Instance:
        return aws.rds.Instance(
            f"{name}-replica-{index + 1}",
            replicate_source_db=self.writer.identifier,
            instance_class=settings.instance_class,
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            publicly_accessible=False,
            deletion_protection=settings.deletion_protection,
            vpc_security_group_ids=[self._data_sg_id],
            parameter_group_name=self.parameters.name,
            skip_final_snapshot=True,
            opts=pulumi.ResourceOptions(parent=self),
        )


class InClusterDatabase(pulumi.ComponentResource):
    """PostgreSQL as a single StatefulSet with a PVC, its password in a Secret (dev)."""

    def __init__(
        self,
        name: str,
        settings: DatabaseSettings,
        namespace: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-credentials", namespace=namespace),
            string_data={"password": password.result},
            opts=child,
        )
        spec = ServerSpec(
            image=f"postgres:{settings.postgres_version}",
            port=5432,
            data_path="/var/lib/postgresql/data",
            storage_gb=settings.storage_gb,
            env={"POSTGRES_DB": settings.name, "PGDATA": "/var/lib/postgresql/data/pgdata"},
            secret_env={"POSTGRES_PASSWORD": "password"},
        )
        self.server = InClusterServer(
            "trading:infra:InClusterServer",
            name,
            spec,
            namespace,
            secret_name=secret.metadata.name,
            opts=child,
        )
        self.writer_endpoint: pulumi.Output[str] = self.server.endpoint
        self.reader_endpoints: pulumi.Output[list[str]] = pulumi.Output.all(self.server.endpoint)
        self.register_outputs(
            {"writerEndpoint": self.writer_endpoint, "readerEndpoints": self.reader_endpoints}
        )
