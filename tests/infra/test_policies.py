"""Each policy fails a bad resource and passes a good one. Pure functions: no engine; the
pack wrapper is exercised by calling its `validate`, as the policy server would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from infra.policies import (
    CLOUDFRONT,
    MSK,
    RDS,
    RDS_PARAMS,
    REDIS,
    database_protected,
    encrypted,
    https_edge,
    multi_az,
    private,
    resource_policies,
    violations,
)
from tests.infra.conftest import Plan

Check = Callable[[str, Any], list[str]]
GOOD_RDS = {
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "multiAz": True,
    "deletionProtection": True,
    "backupRetentionPeriod": 14,
}
GOOD_REDIS = {
    "atRestEncryptionEnabled": True,
    "transitEncryptionEnabled": True,
    "multiAzEnabled": True,
    "automaticFailoverEnabled": True,
    "subnetGroupName": "data",
}
GOOD_MSK = {
    "encryptionInfo": {
        "encryptionAtRestKmsKeyArn": "arn:aws:kms:k",
        "encryptionInTransit": {"clientBroker": "TLS", "inCluster": True},
    }
}
GOOD_CDN = {
    "defaultCacheBehavior": {"viewerProtocolPolicy": "https-only"},
    "viewerCertificate": {"minimumProtocolVersion": "TLSv1.2_2021"},
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
GOOD_PARAMS = {"family": "postgres15", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}

CASES = [
    (encrypted, RDS, GOOD_RDS, {"storageEncrypted": False}),
    (encrypted, RDS_PARAMS, GOOD_PARAMS, {"parameters": []}),
    (encrypted, REDIS, GOOD_REDIS, {"transitEncryptionEnabled": False}),
    (
        encrypted,
        MSK,
        GOOD_MSK,
        {
            "encryptionInfo": {
                "encryptionAtRestKmsKeyArn": "k",
                "encryptionInTransit": {"clientBroker": "TLS_PLAINTEXT"},
            }
        },
    ),
    (private, RDS, GOOD_RDS, {"publiclyAccessible": True}),
    (private, REDIS, GOOD_REDIS, {"subnetGroupName": None}),
    (
        private,
        MSK,
        GOOD_MSK,
        {
            "brokerNodeGroupInfo": {
                "connectivityInfo": {"publicAccess": {"type": "SERVICE_PROVIDED_EIPS"}}
            }
        },
    ),
    (database_protected, RDS, GOOD_RDS, {"deletionProtection": False}),
    (database_protected, RDS, GOOD_RDS, {"backupRetentionPeriod": 3}),
    (multi_az, RDS, GOOD_RDS, {"multiAz": False}),
    (multi_az, REDIS, GOOD_REDIS, {"automaticFailoverEnabled": False}),
    (
        https_edge,
        CLOUDFRONT,
        GOOD_CDN,
        {"defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"}},
    ),
    (https_edge, CLOUDFRONT, GOOD_CDN, {"viewerCertificate": {"minimumProtocolVersion": "TLSv1"}}),
]


@pytest.mark.parametrize(("check", "type_", "good", "bad_change"), CASES)
def test_policy_fails_bad_and_passes_good(
    check: Check, type_: str, good: dict[str, Any], bad_change: dict[str, Any]
) -> None:
    """Pure function: the good resource has no violation; one bad change gives one."""
    assert check(type_, good) == []
    assert len(check(type_, {**good, **bad_change})) >= 1


def test_read_replicas_are_not_held_to_writer_rules() -> None:
    """Pure function: replicas inherit backups and zones from their writer."""
    replica = {"replicateSourceDb": "writer", "storageEncrypted": True}
    assert database_protected(RDS, replica) == [] and multi_az(RDS, replica) == []


def test_pack_validate_reports_through_the_callback() -> None:
    """The pulumi_policy wrappers report the function's violations (no engine needed)."""
    reported: list[str] = []
    args = ResourceValidationArgs(RDS, {**GOOD_RDS, "multiAz": False}, "urn:db", "db", None, None)  # type: ignore[arg-type]
    for policy in resource_policies():
        assert isinstance(policy, ResourceValidationPolicy)
        policy.validate(args, lambda message, _urn: reported.append(message))
    assert reported == ["RDS writer must set multiAz: true"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_real_stacks_pass_every_policy(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: every declared resource of the aws stacks is compliant."""
    found = [(r.name, v) for r in plans(stack) for v in violations(r.type, r.props)]
    assert found == []
