"""PostgreSQL: RDS with read replicas (aws) or a StatefulSet in-cluster (kubernetes).

The RDS writer and every replica are hardened alike: storage and Performance Insights
encrypted with the component's customer-managed key (rotated yearly), TLS forced by the
parameter group, IAM database authentication, Enhanced Monitoring, the `postgresql` and
`upgrade` logs exported to CloudWatch log groups the stack owns (so they expire), automatic
minor upgrades, tags copied to snapshots. The master password is managed by RDS in Secrets
Manager (`master_secret_arn`, for the pods' secret delivery), encrypted with the same key.

The final snapshot of a deleted writer is named `<stack>-<name>-final-<hex>`: the suffix is
a RandomId created with the writer and replaced whenever a change replaces the writer, so no
deletion ever reuses a snapshot name (a fixed name fails the second delete: the first
deletion's snapshot still holds it). Timestamps would change the input on every run.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.incluster import InClusterServer, ServerSpec
from infra.keys import data_key
from infra.network import Network
from infra.protection import is_protected, stateful_opts
from infra.roles import MANAGED_POLICY, role_with
from stackspec.model import Database as DatabaseSettings

ADMIN_USER = "trading_admin"
LOG_EXPORTS = ("postgresql", "upgrade")
MONITORING_POLICY = MANAGED_POLICY + "service-role/AmazonRDSEnhancedMonitoringRole"
# The RSA 2048 CA RDS recommends; the 2019 CA expired in 2024.
CA_CERTIFICATE = "rds-ca-rsa2048-g1"


def instance_identifier(stack: str, database: str, role: str) -> str:
    """The RDS identifier of one instance: `<stack>-<database>-<role>`, which AWS accepts
    (1-63 letters, digits or hyphens, a letter first, no `--`, no trailing hyphen)."""
    ident = f"{stack}-{database}-{role}"
    if len(ident) > 63 or "--" in ident or not ident[0].isalpha():
        raise ValueError(f"RDS identifier {ident!r}: at most 63 characters, a letter first, no --")
    return ident


def final_snapshot_name(identifier: str, suffix: str) -> str:
    """The final snapshot of `identifier`, made unique by `suffix` (hex; AWS allows 255)."""
    return f"{identifier}-final-{suffix}"


class ManagedDatabase(pulumi.ComponentResource):
    """An encrypted, private, monitored RDS PostgreSQL writer that forces TLS, plus its read
    replicas, hardened alike. `master_secret_arn` is the RDS-managed master secret.

    `logs_key_arn`: a KMS key whose policy lets CloudWatch Logs use it (None: AWS-owned).
    """

    def __init__(
        self,
        name: str,
        settings: DatabaseSettings,
        network: Network,
        keep_final_snapshot: bool = True,
        logs_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._settings = settings
        self._network = network
        self._logs_key_arn = logs_key_arn
        self._stack = pulumi.get_stack()
        # Production's database is never deletable by one API call, whatever the file says.
        self._deletion_protection = settings.deletion_protection or is_protected()
        self.key = data_key(
            f"{name}-key", "PostgreSQL storage, Performance Insights, master secret", self
        )
        major = settings.postgres_version.split(".")[0]
        self.parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            description=f"{name}: TLS only; connections, DDL and slow statements logged",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(
                    name="rds.force_ssl", value="1", apply_method="pending-reboot"
                ),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
                # Schema changes and statements over a second: an audit trail and the slow
                # queries, without writing every order's values into the logs.
                aws.rds.ParameterGroupParameterArgs(name="log_statement", value="ddl"),
                aws.rds.ParameterGroupParameterArgs(
                    name="log_min_duration_statement", value="1000"
                ),
            ],
            opts=child,
        )
        self.monitoring_role = self._monitoring_role(name, settings)
        writer_id = instance_identifier(self._stack, settings.name, "writer")
        # New suffix whenever the writer would be replaced (these inputs force replacement).
        self.snapshot_suffix = random.RandomId(
            f"{name}-final-snapshot",
            byte_length=4,
            keepers={
                "identifier": writer_id,
                "dbName": settings.name,
                "username": ADMIN_USER,
                "kmsKeyId": self.key.arn,
            },
            opts=child,
        )
        self.writer = aws.rds.Instance(
            f"{name}-writer",
            identifier=writer_id,
            engine="postgres",
            engine_version=settings.postgres_version,
            instance_class=settings.instance_class,
            allocated_storage=settings.storage_gb,
            storage_type="gp3",
            db_name=settings.name.replace("-", "_"),
            username=ADMIN_USER,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self.key.arn,
            multi_az=settings.multi_az,
            backup_retention_period=settings.backup_retention_days,
            deletion_protection=self._deletion_protection,
            skip_final_snapshot=not keep_final_snapshot,
            final_snapshot_identifier=(
                self.snapshot_suffix.hex.apply(lambda h: final_snapshot_name(writer_id, h))
                if keep_final_snapshot
                else None
            ),
            db_subnet_group_name=network.db_subnet_group.name,
            **self._hardening(self._log_groups(name, "writer", writer_id)),
        )
        self.replicas = [self._replica(name, i) for i in range(settings.read_replicas)]
        self.writer_endpoint: pulumi.Output[str] = self.writer.endpoint
        self.reader_endpoints: pulumi.Output[list[str]] = pulumi.Output.all(
            *[r.endpoint for r in self.replicas] or [self.writer.endpoint]
        )
        self.master_secret_arn: pulumi.Output[str | None] = self.writer.master_user_secrets.apply(
            lambda secrets: secrets[0].secret_arn if secrets else None
        )
        self.register_outputs(
            {
                "writerEndpoint": self.writer_endpoint,
                "readerEndpoints": self.reader_endpoints,
                "masterSecretArn": self.master_secret_arn,
            }
        )

    def _monitoring_role(self, name: str, settings: DatabaseSettings) -> aws.iam.Role | None:
        self._monitoring_attachments: list[aws.iam.RolePolicyAttachment] = []
        if settings.monitoring_interval_seconds == 0:
            return None
        role, self._monitoring_attachments = role_with(
            f"{name}-monitoring",
            "monitoring.rds.amazonaws.com",
            {f"{name}-monitoring": MONITORING_POLICY},
            pulumi.ResourceOptions(parent=self),
            description=f"{name}: RDS Enhanced Monitoring publishes OS metrics",
        )
        return role

    def _log_groups(self, name: str, role: str, identifier: str) -> list[aws.cloudwatch.LogGroup]:
        """The log groups RDS exports `identifier`'s logs to, declared so that they expire
        (RDS would create them itself, keeping logs forever)."""
        return [
            aws.cloudwatch.LogGroup(
                f"{name}-{log}-{role}",
                name=f"/aws/rds/instance/{identifier}/{log}",
                retention_in_days=self._settings.log_retention_days,
                kms_key_id=self._logs_key_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for log in LOG_EXPORTS
        ]

    def _hardening(self, log_groups: list[aws.cloudwatch.LogGroup]) -> dict[str, Any]:
        """The arguments the writer and every replica share."""
        settings = self._settings
        monitoring = settings.monitoring_interval_seconds
        return {
            "storage_encrypted": True,
            "kms_key_id": self.key.arn,
            "publicly_accessible": False,
            "vpc_security_group_ids": [self._network.data_sg.id],
            # The group's id is its name (and lets offline checks see the link).
            "parameter_group_name": self.parameters.id,
            "ca_cert_identifier": CA_CERTIFICATE,
            "iam_database_authentication_enabled": True,
            "performance_insights_enabled": True,
            "performance_insights_kms_key_id": self.key.arn,
            "performance_insights_retention_period": settings.performance_insights_days,
            "enabled_cloudwatch_logs_exports": list(LOG_EXPORTS),
            "monitoring_interval": monitoring,
            "monitoring_role_arn": self.monitoring_role.arn if self.monitoring_role else None,
            "auto_minor_version_upgrade": True,
            "copy_tags_to_snapshot": True,
            # Identifiers are fixed names, so a replacement (production refuses one: it is
            # protected) must delete first; the final snapshot keeps the data.
            # RDS checks the monitoring role when the instance is created: it must already
            # carry its policy, or the first `up` fails while IAM has only the bare role.
            "opts": stateful_opts(
                self,
                pulumi.ResourceOptions(
                    depends_on=[*log_groups, *self._monitoring_attachments],
                    delete_before_replace=True,
                ),
            ),
        }

    def _replica(self, name: str, index: int) -> aws.rds.Instance:
        settings = self._settings
        identifier = instance_identifier(self._stack, settings.name, f"replica-{index + 1}")
        return aws.rds.Instance(
            f"{name}-replica-{index + 1}",
            identifier=identifier,
            replicate_source_db=self.writer.identifier,
            instance_class=settings.instance_class,
            multi_az=settings.multi_az,
            deletion_protection=self._deletion_protection,
            # A replica holds no data of its own: the writer's backups and snapshot keep it.
            skip_final_snapshot=True,
            **self._hardening(self._log_groups(name, f"replica-{index + 1}", identifier)),
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
