"""Rules of the broker: MSK (Kafka) clusters, inputs as pulumi-aws v6 declares them."""

from __future__ import annotations

from pulumi_policy import Severity

from infra.policies.base import Config, Props, Rule, get, only

MSK = "aws:msk/cluster:Cluster"


@only(MSK)
def msk_encrypted_in_transit(_t: str, props: Props, _c: Config) -> list[str]:
    """MSK.1: TLS between clients and brokers and between brokers."""
    transit = get(props, "encryptionInfo", "encryptionInTransit") or {}
    problems = []
    if transit.get("clientBroker", "TLS") != "TLS":
        problems.append(f"clientBroker is {transit.get('clientBroker')}; must be TLS")
    if transit.get("inCluster") is False:
        problems.append("encryptionInTransit.inCluster must not be false")
    return problems


@only(MSK)
def msk_encrypted_at_rest(_t: str, props: Props, _c: Config) -> list[str]:
    """Encrypted at rest with a customer-managed KMS key."""
    if get(props, "encryptionInfo", "encryptionAtRestKmsKeyArn"):
        return []
    return ["encryptionInfo.encryptionAtRestKmsKeyArn must name a customer-managed key"]


@only(MSK)
def msk_authenticated(_t: str, props: Props, _c: Config) -> list[str]:
    """MSK.6: no unauthenticated access; clients use IAM, SCRAM or mutual TLS."""
    auth = props.get("clientAuthentication") or {}
    problems = []
    if auth.get("unauthenticated") is True:
        problems.append("clientAuthentication.unauthenticated must not be true")
    sasl = auth.get("sasl") or {}
    if not (sasl.get("iam") or sasl.get("scram") or auth.get("tls")):
        problems.append("clientAuthentication must enable sasl.iam, sasl.scram or tls")
    return problems


@only(MSK)
def msk_not_public(_t: str, props: Props, _c: Config) -> list[str]:
    """MSK.4: public access disabled."""
    public = get(props, "brokerNodeGroupInfo", "connectivityInfo", "publicAccess", "type")
    return [] if public in (None, "DISABLED") else [f"publicAccess.type is {public}"]


@only(MSK)
def msk_broker_logs(_t: str, props: Props, _c: Config) -> list[str]:
    """Broker logs delivered to CloudWatch Logs, Firehose or S3."""
    logs = get(props, "loggingInfo", "brokerLogs") or {}
    if any(get(logs, sink, "enabled") is True for sink in ("cloudwatchLogs", "firehose", "s3")):
        return []
    return ["loggingInfo.brokerLogs must enable cloudwatchLogs, firehose or s3"]


@only(MSK)
def msk_enhanced_monitoring(_t: str, props: Props, _c: Config) -> list[str]:
    """MSK.2: enhanced monitoring above DEFAULT."""
    level = props.get("enhancedMonitoring") or "DEFAULT"
    return [] if level != "DEFAULT" else ["enhancedMonitoring must be PER_BROKER or finer"]


H, M, L, C = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL

RULES: tuple[Rule, ...] = (
    Rule("msk-encrypted-in-transit", "MSK TLS in transit", H,
         "Set encryptionInfo.encryptionInTransit clientBroker=TLS, inCluster=True.",
         msk_encrypted_in_transit, "MSK.1"),
    Rule("msk-encrypted-at-rest", "MSK encrypted with a customer-managed key", M,
         "Set encryptionInfo.encryptionAtRestKmsKeyArn to the stack's key.",
         msk_encrypted_at_rest),
    Rule("msk-authenticated", "MSK has no unauthenticated access", M,
         "Set clientAuthentication.sasl.iam=True and unauthenticated=False.",
         msk_authenticated, "MSK.6"),
    Rule("msk-not-public", "MSK public access disabled", C,
         "Leave connectivityInfo.publicAccess.type DISABLED.", msk_not_public, "MSK.4"),
    Rule("msk-broker-logs", "MSK broker logs delivered", M,
         "Set loggingInfo.brokerLogs.cloudwatchLogs {enabled: True, logGroup: ...}.",
         msk_broker_logs),
    Rule("msk-enhanced-monitoring", "MSK enhanced monitoring", L,
         "Set enhancedMonitoring=PER_BROKER (or finer).", msk_enhanced_monitoring, "MSK.2"),
)  # fmt: skip
