"""Rules of the EKS cluster a stack creates (an adopted cluster is not a resource here)."""

from __future__ import annotations

from pulumi_policy import Severity

from infra.policies.base import Config, Props, Rule, Setting, get, only

EKS = "aws:eks/cluster:Cluster"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


@only(EKS)
def private_endpoint(_t: str, props: Props, config: Config) -> list[str]:
    """EKS.1: the API endpoint is not public (the provider's default is public), unless the
    pack config approves every CIDR it is open to (an operator VPN, CI runners)."""
    vpc = props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is False:
        return []
    cidrs = list(vpc.get("publicAccessCidrs") or ["0.0.0.0/0"])  # AWS's default: anywhere
    approved = config["approvedPublicCidrs"]
    unapproved = [c for c in cidrs if c not in approved]
    if not unapproved:
        return []
    return [f"public endpoint open to {unapproved}: set endpointPublicAccess=false, or "
            f"approve the CIDRs in approvedPublicCidrs"]  # fmt: skip


@only(EKS)
def secrets_encrypted(_t: str, props: Props, _c: Config) -> list[str]:
    """EKS.3: Kubernetes Secrets envelope-encrypted with a KMS key."""
    config = props.get("encryptionConfig") or {}
    if "secrets" in (config.get("resources") or []) and get(config, "provider", "keyArn"):
        return []
    return ["encryptionConfig must encrypt resources ['secrets'] with provider.keyArn"]


@only(EKS)
def control_plane_logs(_t: str, props: Props, config: Config) -> list[str]:
    """EKS.8: audit (and the other required) control-plane logs enabled."""
    enabled = set(props.get("enabledClusterLogTypes") or [])
    missing = [t for t in config["requiredLogTypes"] if t not in enabled]
    return [f"enabledClusterLogTypes lacks {missing}"] if missing else []


@only(EKS)
def supported_version(_t: str, props: Props, config: Config) -> list[str]:
    """EKS.2: a Kubernetes version still in standard support (at least minimumVersion)."""
    version = str(props.get("version") or "")
    if version and _version(version) >= _version(config["minimumVersion"]):
        return []
    return [f"version {version or '(unset)'} is older than {config['minimumVersion']}"]


H, M = Severity.HIGH, Severity.MEDIUM
LOG_TYPES = Setting(
    "requiredLogTypes",
    {"type": "array", "items": {"type": "string"}},
    ["api", "audit", "authenticator"],
)
APPROVED = Setting("approvedPublicCidrs", {"type": "array", "items": {"type": "string"}}, [])
MINIMUM = Setting("minimumVersion", {"type": "string", "pattern": r"^1\.\d+$"}, "1.31")

RULES: tuple[Rule, ...] = (
    Rule("eks-private-endpoint", "EKS API endpoint not public", H,
         "Set vpcConfig endpointPublicAccess=False, endpointPrivateAccess=True; reach the "
         "API from the VPC (CI runner, VPN or SSM).", private_endpoint, "EKS.1", (APPROVED,)),
    Rule("eks-secrets-encrypted", "EKS Secrets encrypted with KMS", M,
         "Set encryptionConfig {resources: ['secrets'], provider: {keyArn: <CMK>}}.",
         secrets_encrypted, "EKS.3"),
    Rule("eks-control-plane-logs", "EKS audit logging", M,
         "Set enabledClusterLogTypes to include api, audit, authenticator.",
         control_plane_logs, "EKS.8", (LOG_TYPES,)),
    Rule("eks-supported-version", "EKS on a supported Kubernetes version", H,
         "Upgrade the cluster's version (and its node groups) to at least minimumVersion.",
         supported_version, "EKS.2", (MINIMUM,)),
)  # fmt: skip
