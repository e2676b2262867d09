"""Rules of the cache: ElastiCache (Redis OSS) replication groups.

Inputs as pulumi-aws v6 declares them (camelCase); autoMinorVersionUpgrade defaults to true.
"""

from __future__ import annotations

from pulumi_policy import Severity

from infra.policies.base import CMK, Config, Props, Rule, Setting, items, only

REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
REDIS_LOGS = ("slow-log", "engine-log")


@only(REDIS)
def redis_backups(_t: str, props: Props, config: Config) -> list[str]:
    """ElastiCache.1: automatic backups kept at least minSnapshotDays."""
    days, minimum = props.get("snapshotRetentionLimit") or 0, config["minSnapshotDays"]
    if days >= minimum:
        return []
    return [f"snapshotRetentionLimit is {days:g} days; at least {minimum} (minSnapshotDays)"]


@only(REDIS)
def redis_auto_minor_upgrade(_t: str, props: Props, _c: Config) -> list[str]:
    """ElastiCache.2: automatic minor version upgrades (the provider's default is true)."""
    if props.get("autoMinorVersionUpgrade") in (False, "false"):
        return ["autoMinorVersionUpgrade must not be false"]
    return []


@only(REDIS)
def redis_encrypted(_t: str, props: Props, config: Config) -> list[str]:
    """ElastiCache.4/.5: encrypted at rest (with a customer-managed key) and in transit."""
    flags = ("atRestEncryptionEnabled", "transitEncryptionEnabled")
    problems = [f"{flag} must be true" for flag in flags if props.get(flag) is not True]
    if config["requireCustomerManagedKey"] and not props.get("kmsKeyId"):
        problems.append("kmsKeyId must name a customer-managed KMS key")
    return problems


@only(REDIS)
def redis_auth(_t: str, props: Props, _c: Config) -> list[str]:
    """ElastiCache.6: clients authenticate (AUTH token or RBAC user groups)."""
    if props.get("authToken") or props.get("userGroupIds"):
        return []
    return ["set authToken or userGroupIds"]


@only(REDIS)
def redis_multi_az(_t: str, props: Props, _c: Config) -> list[str]:
    """ElastiCache.3: automatic failover across zones."""
    flags = ("multiAzEnabled", "automaticFailoverEnabled")
    return [f"{flag} must be true" for flag in flags if props.get(flag) is not True]


@only(REDIS)
def redis_private(_t: str, props: Props, _c: Config) -> list[str]:
    """ElastiCache.7: in a subnet group of the stack's VPC, not the default one."""
    return [] if props.get("subnetGroupName") else ["subnetGroupName must be set"]


@only(REDIS)
def redis_logs(_t: str, props: Props, _c: Config) -> list[str]:
    """Slow and engine logs delivered (CloudWatch Logs or Firehose)."""
    delivered = {d.get("logType") for d in items(props.get("logDeliveryConfigurations"))}
    missing = [log for log in REDIS_LOGS if log not in delivered]
    return [f"logDeliveryConfigurations lacks {missing}"] if missing else []


H, M, L = Severity.HIGH, Severity.MEDIUM, Severity.LOW
SNAPSHOT_DAYS = Setting("minSnapshotDays", {"type": "integer", "minimum": 1, "maximum": 35}, 1)

RULES: tuple[Rule, ...] = (
    Rule("elasticache-backups", "ElastiCache automatic backups", H,
         "Set snapshotRetentionLimit to at least the stack's minSnapshotDays.", redis_backups,
         "ElastiCache.1", (SNAPSHOT_DAYS,)),
    Rule("elasticache-auto-minor-upgrade", "ElastiCache automatic minor upgrades", H,
         "Remove autoMinorVersionUpgrade=false (the default is true).",
         redis_auto_minor_upgrade, "ElastiCache.2"),
    Rule("elasticache-encrypted", "ElastiCache encrypted at rest (CMK) and in transit", M,
         "Set atRestEncryptionEnabled, transitEncryptionEnabled and kmsKeyId.",
         redis_encrypted, "ElastiCache.4", (CMK,)),
    Rule("elasticache-auth", "ElastiCache clients authenticate", M,
         "Set authToken (from a RandomPassword kept in Secrets Manager) or userGroupIds.",
         redis_auth, "ElastiCache.6"),
    Rule("elasticache-multi-az", "ElastiCache fails over across zones", M,
         "Set multiAzEnabled=True and automaticFailoverEnabled=True.", redis_multi_az,
         "ElastiCache.3"),
    Rule("elasticache-private", "ElastiCache in the stack's subnet group", H,
         "Set subnetGroupName to the private subnet group.", redis_private, "ElastiCache.7"),
    Rule("elasticache-logs", "ElastiCache slow and engine logs delivered", L,
         "Add logDeliveryConfigurations for slow-log and engine-log.", redis_logs),
)  # fmt: skip
