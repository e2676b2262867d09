"""Rules of the database: RDS PostgreSQL instances and their parameter group.

Inputs as pulumi-aws v6 declares them (camelCase). Where the provider's default is the
compliant value (autoMinorVersionUpgrade defaults to true), an absent input passes; where
it is not (copyTagsToSnapshot defaults to false), the input must be set.
"""

from __future__ import annotations

from fnmatch import fnmatch

from pulumi_policy import Severity

from infra.policies.base import CMK, Config, Props, Rule, Setting, items, only

RDS = "aws:rds/instance:Instance"
RDS_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
POSTGRES_LOGS = ("postgresql", "upgrade")


def is_writer(props: Props) -> bool:
    """A read replica names its source; the writer does not."""
    return not props.get("replicateSourceDb")


@only(RDS)
def rds_encrypted(_t: str, props: Props, config: Config) -> list[str]:
    """RDS.3: storage encrypted at rest (with a customer-managed key, if required)."""
    problems = [] if props.get("storageEncrypted") is True else ["storageEncrypted must be true"]
    if config["requireCustomerManagedKey"] and not props.get("kmsKeyId"):
        problems.append("kmsKeyId must name a customer-managed KMS key")
    return problems


@only(RDS_PARAMS)
def rds_force_ssl(_t: str, props: Props, _c: Config) -> list[str]:
    """PostgreSQL accepts TLS connections only."""
    if not str(props.get("family", "")).startswith("postgres"):
        return []
    forced = [p for p in items(props.get("parameters")) if p.get("name") == "rds.force_ssl"]
    if forced and str(forced[0].get("value")) == "1":
        return []
    return ["PostgreSQL parameter group must set rds.force_ssl=1"]


@only(RDS)
def rds_not_public(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.2: not publicly accessible."""
    return ["publiclyAccessible must not be true"] if props.get("publiclyAccessible") else []


@only(RDS)
def rds_backups(_t: str, props: Props, config: Config) -> list[str]:
    """RDS.11: the writer keeps automated backups for at least minBackupDays."""
    days, minimum = props.get("backupRetentionPeriod") or 0, config["minBackupDays"]
    if not is_writer(props) or days >= minimum:
        return []
    return [f"backupRetentionPeriod is {days:g} days; at least {minimum} (minBackupDays)"]


@only(RDS)
def rds_deletion_protection(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.8: deletion protection on every instance."""
    return [] if props.get("deletionProtection") is True else ["deletionProtection must be true"]


@only(RDS)
def rds_multi_az(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.5: the writer is Multi-AZ (replicas follow their writer)."""
    if not is_writer(props) or props.get("multiAz") is True:
        return []
    return ["multiAz must be true on the writer"]


@only(RDS)
def rds_log_exports(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.9: PostgreSQL publishes its postgresql and upgrade logs to CloudWatch Logs."""
    if props.get("engine", "postgres") != "postgres":
        return []
    exported = set(props.get("enabledCloudwatchLogsExports") or [])
    missing = [log for log in POSTGRES_LOGS if log not in exported]
    return [f"enabledCloudwatchLogsExports lacks {missing}"] if missing else []


@only(RDS)
def rds_iam_auth(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.10: IAM database authentication enabled."""
    if props.get("iamDatabaseAuthenticationEnabled") is True:
        return []
    return ["iamDatabaseAuthenticationEnabled must be true"]


@only(RDS)
def rds_auto_minor_upgrade(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.13: automatic minor version upgrades (the provider's default is true)."""
    if props.get("autoMinorVersionUpgrade") is False:
        return ["autoMinorVersionUpgrade must not be false"]
    return []


@only(RDS)
def rds_copy_tags(_t: str, props: Props, _c: Config) -> list[str]:
    """RDS.17: tags copied to snapshots (the provider's default is false)."""
    return [] if props.get("copyTagsToSnapshot") is True else ["copyTagsToSnapshot must be true"]


@only(RDS)
def rds_performance_insights(_t: str, props: Props, config: Config) -> list[str]:
    """Performance Insights on every instance (its data encrypted with a customer-managed key,
    if required: it holds query text)."""
    problems = []
    if props.get("performanceInsightsEnabled") is not True:
        problems.append("performanceInsightsEnabled must be true")
    if config["requireCustomerManagedKey"] and not props.get("performanceInsightsKmsKeyId"):
        problems.append("performanceInsightsKmsKeyId must name a customer-managed KMS key")
    return problems


@only(RDS)
def rds_enhanced_monitoring(_t: str, props: Props, config: Config) -> list[str]:
    """RDS.6: enhanced monitoring at most every maxMonitoringInterval seconds, with a role."""
    interval, limit = props.get("monitoringInterval") or 0, config["maxMonitoringInterval"]
    problems = []
    if not 0 < interval <= limit:
        problems.append(f"monitoringInterval is {interval:g}; must be 1..{limit} seconds")
    if not props.get("monitoringRoleArn"):
        problems.append("monitoringRoleArn must name the enhanced-monitoring role")
    return problems


@only(RDS)
def rds_instance_class(_t: str, props: Props, config: Config) -> list[str]:
    """The instance class matches one of allowedInstanceClasses (glob patterns)."""
    klass, allowed = str(props.get("instanceClass") or ""), config["allowedInstanceClasses"]
    if any(fnmatch(klass, pattern) for pattern in allowed):
        return []
    return [f"instanceClass {klass!r} is not in allowedInstanceClasses {allowed}"]


H, M, L, C = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL
BACKUP_DAYS = Setting("minBackupDays", {"type": "integer", "minimum": 1, "maximum": 35}, 7)
MONITORING = Setting(
    "maxMonitoringInterval", {"type": "integer", "enum": [1, 5, 10, 15, 30, 60]}, 60
)
CLASSES = Setting(
    "allowedInstanceClasses",
    {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ["db.r6g.*", "db.r7g.*", "db.m6g.*", "db.m7g.*", "db.t4g.*"],
)

RULES: tuple[Rule, ...] = (
    Rule("rds-encrypted", "RDS storage encrypted with a customer-managed key", H,
         "Set storageEncrypted=True and kmsKeyId to the stack's key.", rds_encrypted, "RDS.3",
         (CMK,)),
    Rule("rds-force-ssl", "PostgreSQL accepts TLS only", H,
         "Add parameter rds.force_ssl=1 to the instance's parameter group.", rds_force_ssl),
    Rule("rds-not-public", "RDS not publicly accessible", C,
         "Set publiclyAccessible=False; reach the database from the VPC only.",
         rds_not_public, "RDS.2"),
    Rule("rds-backups", "RDS writer keeps automated backups >= minBackupDays", H,
         "Set backupRetentionPeriod to at least the stack's minBackupDays.",
         rds_backups, "RDS.11", (BACKUP_DAYS,)),
    Rule("rds-deletion-protection", "RDS deletion protection", M,
         "Set deletionProtection=True (and protect=True on the resource).",
         rds_deletion_protection, "RDS.8"),
    Rule("rds-multi-az", "RDS writer is Multi-AZ", M, "Set multiAz=True on the writer.",
         rds_multi_az, "RDS.5"),
    Rule("rds-log-exports", "RDS publishes its logs to CloudWatch Logs", M,
         "Set enabledCloudwatchLogsExports=['postgresql', 'upgrade'].", rds_log_exports,
         "RDS.9"),
    Rule("rds-iam-auth", "RDS IAM database authentication", M,
         "Set iamDatabaseAuthenticationEnabled=True; grant rds-db:connect to the IRSA roles.",
         rds_iam_auth, "RDS.10"),
    Rule("rds-auto-minor-upgrade", "RDS automatic minor version upgrades", H,
         "Remove autoMinorVersionUpgrade=False (the default is true).", rds_auto_minor_upgrade,
         "RDS.13"),
    Rule("rds-copy-tags-to-snapshots", "RDS copies tags to snapshots", L,
         "Set copyTagsToSnapshot=True.", rds_copy_tags, "RDS.17"),
    Rule("rds-performance-insights", "RDS Performance Insights", L,
         "Set performanceInsightsEnabled=True and performanceInsightsKmsKeyId.",
         rds_performance_insights, None, (CMK,)),
    Rule("rds-enhanced-monitoring", "RDS enhanced monitoring", L,
         "Set monitoringInterval (e.g. 60) and monitoringRoleArn to a role with "
         "AmazonRDSEnhancedMonitoringRole.", rds_enhanced_monitoring, "RDS.6", (MONITORING,)),
    Rule("rds-allowed-instance-class", "RDS instance class is an allowed one", L,
         "Pick an instanceClass matching allowedInstanceClasses, or widen the list in the "
         "pack config.", rds_instance_class, None, (CLASSES,)),
)  # fmt: skip
