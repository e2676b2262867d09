"""The stack's guard rails as plain functions over (resource type, inputs).

Each rule returns the list of violations it finds (empty: compliant), so it is testable
without the engine. `resource_policies()` wraps them for `pulumi_policy`; the pack's entry
file (`policy/__main__.py`) only hands these to `PolicyPack`. Inputs are Pulumi's camelCase.
Enforcement: mandatory in production, advisory elsewhere (policy/config/*.json).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

Props = Mapping[str, Any]
Check = Callable[[str, Props], list[str]]

RDS = "aws:rds/instance:Instance"
RDS_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
MSK = "aws:msk/cluster:Cluster"
CLOUDFRONT = "aws:cloudfront/distribution:Distribution"
MIN_BACKUP_DAYS = 7
TLS_12_OR_LATER = ("TLSv1.2", "TLSv1.3")


def _get(props: Props, *path: str) -> Any:
    value: Any = props
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _is_writer(props: Props) -> bool:
    return not props.get("replicateSourceDb")


def encrypted(resource_type: str, props: Props) -> list[str]:
    """Database, cache and broker are encrypted at rest and in transit."""
    problems: list[str] = []
    if resource_type == RDS and props.get("storageEncrypted") is not True:
        problems.append("RDS instance must set storageEncrypted: true")
    if resource_type == RDS_PARAMS and str(props.get("family", "")).startswith("postgres"):
        forced = [p for p in props.get("parameters") or [] if p.get("name") == "rds.force_ssl"]
        if not forced or str(forced[0].get("value")) != "1":
            problems.append("PostgreSQL parameter group must set rds.force_ssl=1 (TLS only)")
    if resource_type == REDIS:
        for flag in ("atRestEncryptionEnabled", "transitEncryptionEnabled"):
            if props.get(flag) is not True:
                problems.append(f"ElastiCache replication group must set {flag}: true")
    if resource_type == MSK:
        transit = _get(props, "encryptionInfo", "encryptionInTransit") or {}
        if transit.get("clientBroker", "TLS") != "TLS" or transit.get("inCluster") is False:
            problems.append("MSK must use TLS between clients and brokers and in-cluster")
        if not _get(props, "encryptionInfo", "encryptionAtRestKmsKeyArn"):
            problems.append("MSK must encrypt at rest with a KMS key (encryptionAtRestKmsKeyArn)")
    return problems


def private(resource_type: str, props: Props) -> list[str]:
    """Database, cache and broker are not reachable from the internet."""
    if resource_type == RDS and props.get("publiclyAccessible") is True:
        return ["RDS instance must not be publiclyAccessible"]
    if resource_type == REDIS and not props.get("subnetGroupName"):
        return ["ElastiCache replication group must sit in a private subnet group"]
    public = _get(props, "brokerNodeGroupInfo", "connectivityInfo", "publicAccess", "type")
    if resource_type == MSK and public not in (None, "DISABLED"):
        return [f"MSK public access must be DISABLED; got {public}"]
    return []


def database_protected(resource_type: str, props: Props) -> list[str]:
    """The database writer has deletion protection and keeps backups >= 7 days."""
    if resource_type != RDS or not _is_writer(props):
        return []
    problems = []
    if props.get("deletionProtection") is not True:
        problems.append("RDS writer must set deletionProtection: true")
    days = props.get("backupRetentionPeriod") or 0
    if days < MIN_BACKUP_DAYS:
        problems.append(f"RDS writer keeps backups {days} days; at least {MIN_BACKUP_DAYS}")
    return problems


def multi_az(resource_type: str, props: Props) -> list[str]:
    """The database writer and the cache survive the loss of a zone."""
    if resource_type == RDS and _is_writer(props) and props.get("multiAz") is not True:
        return ["RDS writer must set multiAz: true"]
    if resource_type == REDIS:
        flags = ("multiAzEnabled", "automaticFailoverEnabled")
        return [f"ElastiCache must set {f}: true" for f in flags if props.get(f) is not True]
    return []


def https_edge(resource_type: str, props: Props) -> list[str]:
    """The edge serves HTTPS only, with TLS >= 1.2 to viewers and to the origin."""
    if resource_type != CLOUDFRONT:
        return []
    problems = []
    ordered = props.get("orderedCacheBehaviors") or []
    behaviors = [props.get("defaultCacheBehavior") or {}, *ordered]
    if any(b.get("viewerProtocolPolicy") != "https-only" for b in behaviors):
        problems.append("every cache behavior must set viewerProtocolPolicy: https-only")
    minimum = str(_get(props, "viewerCertificate", "minimumProtocolVersion") or "")
    if not minimum.startswith(TLS_12_OR_LATER):
        problems.append(f"viewer minimumProtocolVersion must be TLSv1.2 or later; got {minimum!r}")
    for origin in props.get("origins") or []:
        custom = origin.get("customOriginConfig") or {}
        if custom and (
            custom.get("originProtocolPolicy") != "https-only"
            or set(custom.get("originSslProtocols") or []) - {"TLSv1.2"}
        ):
            problems.append(f"origin {origin.get('originId')} must be https-only over TLSv1.2")
    return problems


@dataclass(frozen=True)
class Rule:
    """One policy: its name in the pack, what it asks, and its check."""

    name: str
    description: str
    check: Check


RULES: tuple[Rule, ...] = (
    Rule(
        "encrypted-data-tier",
        "Encryption at rest and in transit for database, cache, broker",
        encrypted,
    ),
    Rule("private-data-tier", "No publicly accessible database, cache or broker", private),
    Rule(
        "database-protected",
        "Deletion protection and >= 7 days of backups on the database",
        database_protected,
    ),
    Rule("multi-az", "Multi-AZ database and cache", multi_az),
    Rule("https-only-edge", "HTTPS-only edge with TLS >= 1.2", https_edge),
)


def violations(resource_type: str, props: Props) -> list[tuple[str, str]]:
    """Every (rule name, message) that `props` of `resource_type` breaks."""
    return [(r.name, msg) for r in RULES for msg in r.check(resource_type, props)]


def _validator(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(args.resource_type, args.props):
            report_violation(message, None)

    return validate


def resource_policies() -> list[Policy]:
    """The rules as `pulumi_policy` policies (enforcement level comes from the pack config)."""
    return [
        ResourceValidationPolicy(name=r.name, description=r.description, validate=_validator(r))
        for r in RULES
    ]
