"""Each policy of the pack fails a bad resource and passes a good one.

The rules are pure functions over literal inputs (camelCase, as the engine and set_mocks
pass them): no engine runs here. The `pulumi_policy` wrappers are exercised by calling
their `validate`, as the policy server would.
"""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys
from typing import Any

import pulumi_policy
import pytest
from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.policies import ALL_RULES, RULES, STACK_RULES, policies, rule, violations
from infra.policies.base import Rule, StackResource, StackRule, defaults
from infra.policies.buckets import ACCESS_BLOCK
from infra.policies.edge import CLOUDFRONT
from infra.policies.eks import EKS
from infra.policies.elasticache import REDIS
from infra.policies.msk import MSK
from infra.policies.network import (
    DEFAULT_SG,
    FLOW_LOG,
    INSTANCE,
    KMS_KEY,
    LAUNCH_TEMPLATE,
    SECURITY_GROUP,
    SG_EGRESS,
    SG_INGRESS,
    SG_RULE,
    VPC,
)
from infra.policies.rds import RDS, RDS_PARAMS
from infra.policies.workloads import NETWORK_POLICY
from stackspec.stackfile import PROJECT_ROOT

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRONJOB = "kubernetes:batch/v1:CronJob"

GOOD_RDS: dict[str, Any] = {
    "engine": "postgres",
    "instanceClass": "db.r6g.xlarge",
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "multiAz": True,
    "deletionProtection": True,
    "backupRetentionPeriod": 14.0,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
    "iamDatabaseAuthenticationEnabled": True,
    "autoMinorVersionUpgrade": True,
    "copyTagsToSnapshot": True,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": "arn:aws:kms:us-east-1:1:key/db",
    "kmsKeyId": "arn:aws:kms:us-east-1:1:key/db",
    "monitoringInterval": 60.0,
    "monitoringRoleArn": "arn:aws:iam::1:role/rds-monitoring",
}
GOOD_PARAMS: dict[str, Any] = {
    "family": "postgres15",
    "parameters": [{"name": "rds.force_ssl", "value": "1"}],
}
GOOD_REDIS: dict[str, Any] = {
    "atRestEncryptionEnabled": True,
    "transitEncryptionEnabled": True,
    "kmsKeyId": "arn:aws:kms:us-east-1:1:key/cache",
    "authToken": "[secret]",
    "multiAzEnabled": True,
    "automaticFailoverEnabled": True,
    "subnetGroupName": "data",
    "snapshotRetentionLimit": 7.0,
    "logDeliveryConfigurations": [
        {"logType": "slow-log", "destinationType": "cloudwatch-logs"},
        {"logType": "engine-log", "destinationType": "cloudwatch-logs"},
    ],
}
GOOD_MSK: dict[str, Any] = {
    "encryptionInfo": {
        "encryptionAtRestKmsKeyArn": "arn:aws:kms:us-east-1:1:key/kafka",
        "encryptionInTransit": {"clientBroker": "TLS", "inCluster": True},
    },
    "clientAuthentication": {"unauthenticated": False, "sasl": {"iam": True}},
    "loggingInfo": {"brokerLogs": {"cloudwatchLogs": {"enabled": True, "logGroup": "kafka"}}},
    "enhancedMonitoring": "PER_BROKER",
}
BEHAVIOR: dict[str, Any] = {"viewerProtocolPolicy": "https-only", "responseHeadersPolicyId": "hsts"}
GOOD_CDN: dict[str, Any] = {
    "aliases": ["trading.example.com"],
    "defaultCacheBehavior": BEHAVIOR,
    "orderedCacheBehaviors": [{**BEHAVIOR, "pathPattern": "/orders*"}],
    "viewerCertificate": {
        "acmCertificateArn": "arn:aws:acm:us-east-1:1:certificate/x",
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    },
    "loggingConfig": {"bucket": "logs.s3.amazonaws.com"},
    "webAclId": "arn:aws:wafv2:us-east-1:1:global/webacl/edge/x",
    "origins": [
        {
            "originId": "api",
            "customOriginConfig": {
                "originProtocolPolicy": "https-only",
                "originSslProtocols": ["TLSv1.2"],
            },
        }
    ],
}
HTTPS_IN = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]}
SSH_IN = {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]}
GOOD_SG: dict[str, Any] = {
    "ingress": [HTTPS_IN, {**SSH_IN, "cidrBlocks": ["10.0.0.0/8"]}],
    "egress": [
        {**HTTPS_IN, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": "-1", "cidrBlocks": ["10.0.0.0/8"]},
    ],
}
GOOD_SG_RULE: dict[str, Any] = {"type": "ingress", **HTTPS_IN}
GOOD_SG_INGRESS: dict[str, Any] = {
    "ipProtocol": "tcp",
    "fromPort": 443.0,
    "toPort": 443.0,
    "cidrIpv6": "::/0",
}
GOOD_KEY: dict[str, Any] = {"enableKeyRotation": True, "description": "data"}
GOOD_TEMPLATE: dict[str, Any] = {
    "metadataOptions": {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1.0,
    }
}
GOOD_INSTANCE: dict[str, Any] = {"instanceType": "t3.micro", **GOOD_TEMPLATE}
GOOD_EKS: dict[str, Any] = {
    "version": "1.34",
    "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
}
HARDENED: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
PROBE: dict[str, Any] = {"httpGet": {"path": "/health", "port": 8080.0}}
CONTAINER: dict[str, Any] = {
    "name": "api",
    "image": "registry.example.com/trading/api:1.4.0",
    "securityContext": HARDENED,
    "resources": {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
    "readinessProbe": PROBE,
    "livenessProbe": PROBE,
    "startupProbe": PROBE,
}
POD_SPEC: dict[str, Any] = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [CONTAINER],
}


def deployment(spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    """A Deployment of one container (`container` overrides its keys)."""
    pod = {**POD_SPEC, **(spec or {}), "containers": [{**CONTAINER, **container}]}
    return {
        "metadata": {"name": "api", "namespace": "trading"},
        "spec": {"template": {"spec": pod}},
    }


GOOD_DEPLOYMENT = deployment()
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def gateway(namespaces: dict[str, Any]) -> dict[str, Any]:
    """A Gateway whose HTTPS listener admits routes from `namespaces`."""
    listener = {
        "name": "https",
        "port": 443.0,
        "protocol": "HTTPS",
        "allowedRoutes": {"namespaces": namespaces},
    }
    return {"spec": {"gatewayClassName": "envoy-gateway", "listeners": [listener]}}


GOOD_GATEWAY = gateway(
    {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": "trading"}}}
)

# (policy, resource type, a compliant resource, the change that breaks it)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("rds-encrypted", RDS, GOOD_RDS, {"storageEncrypted": False}),
    ("rds-encrypted", RDS, GOOD_RDS, {"kmsKeyId": None}),
    ("rds-performance-insights", RDS, GOOD_RDS, {"performanceInsightsKmsKeyId": None}),
    (
        "rds-force-ssl",
        RDS_PARAMS,
        GOOD_PARAMS,
        {"parameters": [{"name": "rds.force_ssl", "value": "0"}]},
    ),
    ("rds-not-public", RDS, GOOD_RDS, {"publiclyAccessible": True}),
    ("rds-backups", RDS, GOOD_RDS, {"backupRetentionPeriod": 3.0}),
    ("rds-deletion-protection", RDS, GOOD_RDS, {"deletionProtection": False}),
    ("rds-multi-az", RDS, GOOD_RDS, {"multiAz": False}),
    ("rds-log-exports", RDS, GOOD_RDS, {"enabledCloudwatchLogsExports": ["postgresql"]}),
    ("rds-iam-auth", RDS, GOOD_RDS, {"iamDatabaseAuthenticationEnabled": False}),
    ("rds-auto-minor-upgrade", RDS, GOOD_RDS, {"autoMinorVersionUpgrade": False}),
    ("rds-copy-tags-to-snapshots", RDS, GOOD_RDS, {"copyTagsToSnapshot": None}),
    ("rds-performance-insights", RDS, GOOD_RDS, {"performanceInsightsEnabled": False}),
    ("rds-enhanced-monitoring", RDS, GOOD_RDS, {"monitoringInterval": 0.0}),
    ("rds-enhanced-monitoring", RDS, GOOD_RDS, {"monitoringRoleArn": None}),
    ("rds-allowed-instance-class", RDS, GOOD_RDS, {"instanceClass": "db.m1.small"}),
    ("elasticache-backups", REDIS, GOOD_REDIS, {"snapshotRetentionLimit": 0.0}),
    ("elasticache-auto-minor-upgrade", REDIS, GOOD_REDIS, {"autoMinorVersionUpgrade": "false"}),
    ("elasticache-encrypted", REDIS, GOOD_REDIS, {"transitEncryptionEnabled": False}),
    ("elasticache-encrypted", REDIS, GOOD_REDIS, {"kmsKeyId": None}),
    ("elasticache-auth", REDIS, GOOD_REDIS, {"authToken": None}),
    ("elasticache-multi-az", REDIS, GOOD_REDIS, {"automaticFailoverEnabled": False}),
    ("elasticache-private", REDIS, GOOD_REDIS, {"subnetGroupName": None}),
    (
        "elasticache-logs",
        REDIS,
        GOOD_REDIS,
        {"logDeliveryConfigurations": [{"logType": "slow-log"}]},
    ),
    (
        "msk-encrypted-in-transit",
        MSK,
        GOOD_MSK,
        {
            "encryptionInfo": {
                **GOOD_MSK["encryptionInfo"],
                "encryptionInTransit": {"clientBroker": "TLS_PLAINTEXT"},
            }
        },
    ),
    ("msk-encrypted-at-rest", MSK, GOOD_MSK, {"encryptionInfo": {"encryptionInTransit": {}}}),
    ("msk-authenticated", MSK, GOOD_MSK, {"clientAuthentication": {"unauthenticated": True}}),
    (
        "msk-not-public",
        MSK,
        GOOD_MSK,
        {
            "brokerNodeGroupInfo": {
                "connectivityInfo": {"publicAccess": {"type": "SERVICE_PROVIDED_EIPS"}}
            }
        },
    ),
    (
        "msk-broker-logs",
        MSK,
        GOOD_MSK,
        {"loggingInfo": {"brokerLogs": {"cloudwatchLogs": {"enabled": False}}}},
    ),
    ("msk-enhanced-monitoring", MSK, GOOD_MSK, {"enhancedMonitoring": "DEFAULT"}),
    (
        "cloudfront-viewer-https",
        CLOUDFRONT,
        GOOD_CDN,
        {"orderedCacheBehaviors": [{**BEHAVIOR, "viewerProtocolPolicy": "allow-all"}]},
    ),
    (
        "cloudfront-minimum-tls",
        CLOUDFRONT,
        GOOD_CDN,
        {"viewerCertificate": {**GOOD_CDN["viewerCertificate"], "minimumProtocolVersion": "TLSv1"}},
    ),
    (
        "cloudfront-custom-certificate",
        CLOUDFRONT,
        GOOD_CDN,
        {
            "viewerCertificate": {
                "cloudfrontDefaultCertificate": True,
                "minimumProtocolVersion": "TLSv1.2_2021",
            }
        },
    ),
    ("cloudfront-custom-certificate", CLOUDFRONT, GOOD_CDN, {"aliases": []}),
    ("cloudfront-logging", CLOUDFRONT, GOOD_CDN, {"loggingConfig": None}),
    ("cloudfront-waf", CLOUDFRONT, GOOD_CDN, {"webAclId": ""}),
    (
        "cloudfront-origin-tls",
        CLOUDFRONT,
        GOOD_CDN,
        {
            "origins": [
                {
                    "originId": "api",
                    "customOriginConfig": {
                        "originProtocolPolicy": "https-only",
                        "originSslProtocols": ["SSLv3", "TLSv1.2"],
                    },
                }
            ]
        },
    ),
    (
        "cloudfront-security-headers",
        CLOUDFRONT,
        GOOD_CDN,
        {"defaultCacheBehavior": {"viewerProtocolPolicy": "https-only"}},
    ),
    (
        "ec2-authorized-ports-only",
        SECURITY_GROUP,
        GOOD_SG,
        {"ingress": [{**HTTPS_IN, "fromPort": 8443.0, "toPort": 8443.0}]},
    ),
    (
        "ec2-authorized-ports-only",
        SG_RULE,
        GOOD_SG_RULE,
        {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0},
    ),
    ("ec2-authorized-ports-only", SG_INGRESS, GOOD_SG_INGRESS, {"fromPort": 0.0, "toPort": 1024.0}),
    ("ec2-no-high-risk-ports", SECURITY_GROUP, GOOD_SG, {"ingress": [SSH_IN]}),
    ("ec2-no-high-risk-ports", SG_RULE, GOOD_SG_RULE, {"fromPort": 5432.0, "toPort": 5432.0}),
    ("ec2-no-high-risk-ports", SG_INGRESS, GOOD_SG_INGRESS, {"ipProtocol": "-1"}),
    ("kms-key-rotation", KMS_KEY, GOOD_KEY, {"enableKeyRotation": False}),
    (
        "ec2-imdsv2-required",
        LAUNCH_TEMPLATE,
        GOOD_TEMPLATE,
        {"metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "optional"}},
    ),
    ("ec2-imdsv2-required", LAUNCH_TEMPLATE, GOOD_TEMPLATE, {"metadataOptions": None}),
    (
        "ec2-imdsv2-required",
        INSTANCE,
        GOOD_INSTANCE,
        {"metadataOptions": {"httpTokens": "optional"}},
    ),
    (
        "ec2-egress-limited",
        SECURITY_GROUP,
        GOOD_SG,
        {
            "egress": [
                {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}
            ]
        },
    ),
    (
        "ec2-egress-limited",
        SG_EGRESS,
        {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"},
        {"fromPort": 0.0, "toPort": 65535.0},
    ),
    ("eks-private-endpoint", EKS, GOOD_EKS, {"vpcConfig": {"endpointPrivateAccess": True}}),
    (
        "eks-private-endpoint",
        EKS,
        GOOD_EKS,
        {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}},
    ),
    ("eks-secrets-encrypted", EKS, GOOD_EKS, {"encryptionConfig": {"resources": ["secrets"]}}),
    ("eks-control-plane-logs", EKS, GOOD_EKS, {"enabledClusterLogTypes": ["api"]}),
    ("eks-supported-version", EKS, GOOD_EKS, {"version": "1.29"}),
    ("eks-supported-version", EKS, GOOD_EKS, {"version": None}),
    ("k8s-security-context", DEPLOYMENT, GOOD_DEPLOYMENT, deployment(securityContext={})),
    ("k8s-security-context", DEPLOYMENT, GOOD_DEPLOYMENT, deployment({"securityContext": {}})),
    (
        "k8s-security-context",
        DEPLOYMENT,
        GOOD_DEPLOYMENT,
        deployment(securityContext={**HARDENED, "capabilities": {"drop": ["NET_RAW"]}}),
    ),
    (
        "k8s-security-context",
        DEPLOYMENT,
        GOOD_DEPLOYMENT,
        deployment({"initContainers": [{"name": "migrate", "image": "x:1"}]}),
    ),
    ("k8s-security-context", DEPLOYMENT, GOOD_DEPLOYMENT, deployment({"hostNetwork": True})),
    (
        "k8s-security-context",
        DEPLOYMENT,
        GOOD_DEPLOYMENT,
        deployment(securityContext={**HARDENED, "privileged": True}),
    ),
    (
        "k8s-resource-limits",
        DEPLOYMENT,
        GOOD_DEPLOYMENT,
        deployment(resources={"requests": {"cpu": "1", "memory": "1Gi"}}),
    ),
    ("k8s-probes", DEPLOYMENT, GOOD_DEPLOYMENT, deployment(livenessProbe=None)),
    ("k8s-probes", DEPLOYMENT, GOOD_DEPLOYMENT, deployment(startupProbe=None)),
    ("k8s-pinned-images", DEPLOYMENT, GOOD_DEPLOYMENT, deployment(image="redis:latest")),
    (
        "k8s-pinned-images",
        DEPLOYMENT,
        GOOD_DEPLOYMENT,
        deployment(image="registry:5000/trading/api"),
    ),
    (
        "k8s-no-token-automount",
        DEPLOYMENT,
        GOOD_DEPLOYMENT,
        deployment({"automountServiceAccountToken": True}),
    ),
    ("k8s-gateway-routes-scoped", GATEWAY, GOOD_GATEWAY, gateway({"from": "All"})),
    ("k8s-gateway-routes-scoped", GATEWAY, GOOD_GATEWAY, gateway({"from": "Selector"})),
    (
        "k8s-gateway-routes-scoped",
        GATEWAY,
        GOOD_GATEWAY,
        gateway({"from": "Selector", "selector": {"matchLabels": {}}}),
    ),
]


@pytest.mark.parametrize(("name", "type_", "good", "bad_change"), CASES)
def test_rule_passes_good_and_fails_bad(
    name: str, type_: str, good: dict[str, Any], bad_change: dict[str, Any]
) -> None:
    """Pure function: the compliant resource has no violation; the change gives one."""
    found = rule(name)
    assert isinstance(found, Rule)
    assert found.check(type_, good, defaults(found)) == []
    assert found.check(type_, {**good, **bad_change}, defaults(found)) != []


def test_every_resource_rule_has_a_case() -> None:
    """Pure: no resource rule without a failing and a passing resource in the table."""
    assert {r.name for r in RULES} == {case[0] for case in CASES}


def test_good_resources_pass_the_whole_pack() -> None:
    """Pure: the table's compliant resources break no rule at all (not only their own)."""
    goods = [
        (RDS, GOOD_RDS),
        (RDS_PARAMS, GOOD_PARAMS),
        (REDIS, GOOD_REDIS),
        (MSK, GOOD_MSK),
        (CLOUDFRONT, GOOD_CDN),
        (SECURITY_GROUP, GOOD_SG),
        (SG_RULE, GOOD_SG_RULE),
        (SG_INGRESS, GOOD_SG_INGRESS),
        (KMS_KEY, GOOD_KEY),
        (LAUNCH_TEMPLATE, GOOD_TEMPLATE),
        (INSTANCE, GOOD_INSTANCE),
        (EKS, GOOD_EKS),
        (DEPLOYMENT, GOOD_DEPLOYMENT),
    ]
    assert [(t, violations(t, props)) for t, props in goods if violations(t, props)] == []


def test_read_replicas_follow_their_writer_for_backups_and_zones() -> None:
    """Pure: replicas keep no backups of their own and follow the writer's Multi-AZ."""
    replica = {**GOOD_RDS, "replicateSourceDb": "writer", "backupRetentionPeriod": 0.0}
    names = {name for name, _ in violations(RDS, {**replica, "multiAz": False})}
    assert not names & {"rds-backups", "rds-multi-az"}


def test_settings_change_what_a_rule_asks() -> None:
    """Pure: minBackupDays and authorizedPorts come from the rule's config."""
    backups, ports = rule("rds-backups"), rule("ec2-authorized-ports-only")
    assert isinstance(backups, Rule) and isinstance(ports, Rule)
    assert backups.check(RDS, GOOD_RDS, {"minBackupDays": 30}) != []
    opened = {"ingress": [{**HTTPS_IN, "fromPort": 8443.0, "toPort": 8443.0}]}
    assert ports.check(SECURITY_GROUP, opened, {"authorizedPorts": [443, 8443]}) == []


def test_a_public_eks_endpoint_passes_only_on_approved_cidrs() -> None:
    """Pure: the pack config, not the program, approves who may reach the API publicly."""
    endpoint = rule("eks-private-endpoint")
    assert isinstance(endpoint, Rule)
    vpn = {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}}
    assert endpoint.check(EKS, vpn, {"approvedPublicCidrs": ["203.0.113.0/24"]}) == []
    anywhere = {"vpcConfig": {"endpointPublicAccess": True}}
    assert endpoint.check(EKS, anywhere, {"approvedPublicCidrs": ["203.0.113.0/24"]}) != []


def test_cronjob_pods_are_checked_and_jobs_need_no_probes() -> None:
    """Pure: a CronJob's pod template is found under jobTemplate; probes are not asked."""
    bare = {"containers": [{"name": "job", "image": "x:latest"}]}
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": bare}}}}}
    names = {name for name, _ in violations(CRONJOB, cron)}
    assert {"k8s-pinned-images", "k8s-security-context"} <= names
    assert "k8s-probes" not in names


def res(type_: str, name: str, **props: Any) -> StackResource:
    """A stack resource with its offline id (`<name>-id`, as the mocks give)."""
    return StackResource(type_, name, props, frozenset({f"{name}-id"}))


VPC_A = res(VPC, "vpc-a")
DENY_ALL = res(NETWORK_POLICY, "deny", metadata={"namespace": "trading"},
               spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})  # fmt: skip
WORKLOAD = res(DEPLOYMENT, "api", **GOOD_DEPLOYMENT)
BUCKET = res("aws:s3/bucketV2:BucketV2", "logs")
BLOCK = res(ACCESS_BLOCK, "pab", bucket="logs-id", blockPublicAcls=True, blockPublicPolicy=True,
            ignorePublicAcls=True, restrictPublicBuckets=True)  # fmt: skip

# (stack policy, a compliant stack, a non-compliant one)
STACK_CASES: list[tuple[str, list[StackResource], list[StackResource]]] = [
    (
        "ec2-vpc-flow-logs",
        [VPC_A, res(FLOW_LOG, "fl", vpcId="vpc-a-id", trafficType="ALL")],
        [VPC_A, res(FLOW_LOG, "fl", vpcId="other-id", trafficType="ALL")],
    ),
    (
        "ec2-vpc-flow-logs",
        [VPC_A, res(FLOW_LOG, "fl", vpcId="vpc-a-id", trafficType="REJECT")],
        [VPC_A, res(FLOW_LOG, "fl", vpcId="vpc-a-id", trafficType="ACCEPT")],
    ),
    ("ec2-default-sg-closed", [VPC_A, res(DEFAULT_SG, "dsg", vpcId="vpc-a-id")], [VPC_A]),
    (
        "ec2-default-sg-closed",
        [VPC_A, res(DEFAULT_SG, "dsg", vpcId="vpc-a-id", ingress=[], egress=[])],
        [VPC_A, res(DEFAULT_SG, "dsg", vpcId="vpc-a-id", egress=[{"protocol": "-1"}])],
    ),
    ("s3-public-access-blocked", [BUCKET, BLOCK], [BUCKET]),
    (
        "s3-public-access-blocked",
        [BUCKET, BLOCK],
        [BUCKET, res(ACCESS_BLOCK, "pab", **{**BLOCK.props, "blockPublicPolicy": False})],
    ),
    (
        "k8s-network-policy-per-namespace",
        [WORKLOAD, DENY_ALL],
        [
            WORKLOAD,
            res(
                NETWORK_POLICY, "deny", metadata={"namespace": "other"}, spec=DENY_ALL.props["spec"]
            ),
        ],
    ),
    (
        "k8s-network-policy-per-namespace",
        [WORKLOAD, DENY_ALL],
        [
            WORKLOAD,
            res(
                NETWORK_POLICY,
                "deny",
                metadata={"namespace": "trading"},
                spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            ),
        ],
    ),
    (
        "k8s-network-policy-per-namespace",
        [WORKLOAD, DENY_ALL],
        [
            WORKLOAD,
            res(
                NETWORK_POLICY,
                "api",
                metadata={"namespace": "trading"},
                spec={
                    "podSelector": {"matchLabels": {"app": "api"}},
                    "policyTypes": ["Ingress", "Egress"],
                },
            ),
        ],
    ),
]


@pytest.mark.parametrize(("name", "good", "bad"), STACK_CASES)
def test_stack_rule_passes_good_and_fails_bad(
    name: str, good: list[StackResource], bad: list[StackResource]
) -> None:
    """Pure function over literal stacks: compliant passes, non-compliant is reported."""
    found = rule(name)
    assert isinstance(found, StackRule)
    assert found.check(good, defaults(found)) == []
    assert found.check(bad, defaults(found)) != []


def test_every_stack_rule_has_a_case() -> None:
    """Pure: no stack rule without a table entry."""
    assert {r.name for r in STACK_RULES} == {case[0] for case in STACK_CASES}


def test_every_policy_carries_severity_remediation_and_schema() -> None:
    """The pulumi_policy objects: one per rule, each with severity and remediation text, and
    a config schema with defaults where the rule has settings."""
    made = {p.name: p for p in policies()}
    assert set(made) == {r.name for r in ALL_RULES}
    assert all(p.severity is not None and p.remediation_steps for p in made.values())
    schema = made["rds-backups"].config_schema
    assert schema is not None and schema.properties["minBackupDays"]["default"] == 7
    framework = made["rds-log-exports"].framework
    assert framework is not None and framework.reference == "RDS.9"


def test_resource_policy_validate_reports_with_the_configured_settings() -> None:
    """The wrapper merges the pack config over the defaults and reports via the callback."""
    (backups,) = [p for p in policies() if p.name == "rds-backups"]
    assert isinstance(backups, ResourceValidationPolicy)
    reported: list[str] = []
    for config, expected in (({}, 0), ({"minBackupDays": 30}, 1)):
        args = ResourceValidationArgs(RDS, GOOD_RDS, "urn:db", "db", None, None, config)  # type: ignore[arg-type]
        backups.validate(args, lambda message, _urn: reported.append(message))
        assert len(reported) == expected


def test_stack_policy_validate_follows_property_dependencies() -> None:
    """In the engine, ids may be unknown at preview: a flow log's vpcId dependency counts."""
    (flow,) = [p for p in policies() if p.name == "ec2-vpc-flow-logs"]
    assert isinstance(flow, StackValidationPolicy)

    def resource(type_: str, name: str, props: dict[str, Any], deps: Any = None) -> PolicyResource:
        return PolicyResource(type_, props, f"urn:{name}", name, None, None, None, [], deps or {})  # type: ignore[arg-type]

    vpc = resource(VPC, "vpc", {})
    log = resource(FLOW_LOG, "fl", {"trafficType": "ALL"}, {"vpcId": [vpc]})
    reported: list[str] = []
    flow.validate(StackValidationArgs([vpc, log]), lambda m, _u: reported.append(m))
    assert reported == []
    flow.validate(StackValidationArgs([vpc]), lambda m, _u: reported.append(m))
    assert reported == ["VPC vpc has no flow log (trafficType ALL or REJECT)"]


def test_pack_entry_file_is_mandatory_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """policy/__main__.py as the policy server runs it, with `PolicyPack` (which serves
    forever) replaced by a recorder: every policy, mandatory unless the config relaxes it."""
    made: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: made.update(kwargs))
    runpy.run_path(str(PROJECT_ROOT / "policy" / "__main__.py"), run_name="__main__")
    assert made["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert {p.name for p in made["policies"]} == {r.name for r in ALL_RULES}
    assert all(p.enforcement_level is None for p in made["policies"])


@pytest.mark.parametrize(("name", "type_", "good", "bad_change"), CASES)
def test_pack_wrapper_sees_what_the_engine_passes(
    name: str, type_: str, good: dict[str, Any], bad_change: dict[str, Any]
) -> None:
    """The policy server hands props as read-only proxies (Mapping/Sequence, not dict/list):
    every case through the pulumi_policy wrapper gives the pure function's verdict."""
    (policy,) = [p for p in policies() if p.name == name]
    assert isinstance(policy, ResourceValidationPolicy)
    for props, violated in ((good, False), ({**good, **bad_change}, True)):
        proxied = unknown_checking_proxy(props)
        args = ResourceValidationArgs(type_, proxied, "urn:r", "r", None, None, {})  # type: ignore[arg-type]
        assert bool(reported_by(policy, args)) is violated


def reported_by(policy: Any, args: Any) -> list[str]:
    """What `policy.validate(args, ...)` reports, as the policy server would collect it."""
    reported: list[str] = []
    policy.validate(args, lambda message, _urn: reported.append(message))
    return reported


def engine_resource(resource: StackResource) -> PolicyResource:
    """A stack resource as the policy server builds it (proxied props, no dependencies)."""
    props = unknown_checking_proxy({**resource.props, "id": f"{resource.name}-id"})
    return PolicyResource(resource.type, props, f"urn:{resource.name}", resource.name,
                          None, None, None, [], {})  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(("name", "good", "bad"), STACK_CASES)
def test_stack_wrapper_sees_what_the_engine_passes(
    name: str, good: list[StackResource], bad: list[StackResource]
) -> None:
    """Stack cases through the StackValidationPolicy wrapper, with proxied props and ids as
    the engine's outputs carry them."""
    (policy,) = [p for p in policies() if p.name == name]
    assert isinstance(policy, StackValidationPolicy)
    for resources, violated in ((good, False), (bad, True)):
        args = StackValidationArgs([engine_resource(r) for r in resources])
        assert bool(reported_by(policy, args)) is violated


def test_unknown_ids_in_a_preview_fall_back_to_dependencies() -> None:
    """During a preview the VPC's id and the flow log's vpcId are unknown: the engine's
    property dependency still ties them, and no UnknownValueError escapes."""
    (flow,) = [p for p in policies() if p.name == "ec2-vpc-flow-logs"]
    assert isinstance(flow, StackValidationPolicy)
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the SDK's unknown-string sentinel
    vpc = PolicyResource(VPC, unknown_checking_proxy({"id": unknown}), "urn:vpc", "vpc",
                         None, None, None, [], {})  # type: ignore[arg-type]  # fmt: skip
    props = unknown_checking_proxy({"vpcId": unknown, "trafficType": "ALL"})
    log = PolicyResource(FLOW_LOG, props, "urn:fl", "fl", None, None, None, [], {"vpcId": [vpc]})  # type: ignore[arg-type]
    reported: list[str] = []
    flow.validate(StackValidationArgs([vpc, log]), lambda m, _u: reported.append(m))
    assert reported == []


def test_the_pack_imports_nothing_else_of_the_project() -> None:
    """The pack's rules are self-contained (publishing the pack copies infra/policies only)."""
    code = "import sys, infra.policies; print(sorted(m for m in sys.modules if 'infra' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout)
    assert [m for m in loaded if m != "infra" and not m.startswith("infra.policies")] == []
    assert "infra.policies.config" not in loaded
