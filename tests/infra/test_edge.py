"""The CloudFront edge of aws stacks (infra/edge.py). Resources are planned with the Pulumi
engine mocked by set_mocks (infra.offline.plan_stack); settings validated directly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from infra.edge import (
    ALL_METHODS,
    ALL_VIEWER_EXCEPT_HOST,
    CACHING_DISABLED,
    MANAGED_RULE_GROUPS,
    policy_name,
)
from infra.offline import plan_stack
from stackspec.stackfile import stack_path
from tests.infra.conftest import Plan, of_type, only
from tests.infra.settings_helpers import refused, validate

CDN = "aws:cloudfront/distribution:Distribution"
WAF = "aws:wafv2/webAcl:WebAcl"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f9e8d7c-6b5a-4c3d-8e1f-2a3b4c5d6e7f"
ACL = (
    "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shared/0f9e8d7c-6b5a-4c3d-8e1f-2a3b4c5d6e7f"
)


def test_distribution_uses_its_own_certificate_and_aliases(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: ACM certificate, SNI, TLSv1.2_2021 (CloudFront.7/8 and the TLS floor
    that the default certificate ignored), aliases, HTTPS to viewers and origin."""
    cdn = only(plans("production"), CDN, "edge-cdn").props
    cert = cdn["viewerCertificate"]
    assert cert == {
        "acmCertificateArn": CERT,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert cdn["aliases"] == ["api.trading.example.com"]
    assert cdn["defaultCacheBehavior"]["viewerProtocolPolicy"] == "https-only"
    origin = cdn["origins"][0]["customOriginConfig"]
    assert origin["originProtocolPolicy"] == "https-only"
    assert origin["originSslProtocols"] == ["TLSv1.2"]


def test_every_method_reaches_the_api_through_the_policies(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: POST /orders passes the edge; GET/HEAD cached under a cache policy
    keyed on Authorization and the query; everything else forwarded to the origin."""
    plan = plans("production")
    behavior = only(plan, CDN, "edge-cdn").props["defaultCacheBehavior"]
    assert sorted(behavior["allowedMethods"]) == sorted(ALL_METHODS)
    assert {"POST", "PUT", "PATCH", "DELETE"} <= set(behavior["allowedMethods"])
    assert behavior["cachedMethods"] == ["GET", "HEAD"]
    assert behavior["cachePolicyId"] == "edge-api-id"
    assert behavior["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert behavior["responseHeadersPolicyId"] == "edge-security-headers-id"
    assert "forwardedValues" not in behavior  # legacy settings conflict with the policies
    key = only(plan, "aws:cloudfront/cachePolicy:CachePolicy", "edge-api").props[
        "parametersInCacheKeyAndForwardedToOrigin"
    ]
    assert key["headersConfig"]["headers"]["items"] == ["Authorization"]
    assert key["queryStringsConfig"]["queryStringBehavior"] == "all"


def test_responses_carry_hsts_and_friends(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: HSTS two years with subdomains, nosniff, frame DENY."""
    policy = only(
        plans("production"),
        "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",
        "edge-security-headers",
    ).props["securityHeadersConfig"]
    hsts = policy["strictTransportSecurity"]
    assert hsts["accessControlMaxAgeSec"] >= 31536000 and hsts["includeSubdomains"] is True
    assert policy["contentTypeOptions"]["override"] is True
    assert policy["frameOptions"]["frameOption"] == "DENY"


def test_access_logs_go_to_a_private_bucket_with_acls(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: standard logging into the stack's bucket (CloudFront.5), which keeps
    ACLs enabled for log delivery, blocks public access, encrypts, and expires logs."""
    plan = plans("production")
    logging = only(plan, CDN, "edge-cdn").props["loggingConfig"]
    assert logging["bucket"] == "edge-logs.s3.amazonaws.com"
    owner = only(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "edge-logs")
    assert owner.props["rule"]["objectOwnership"] == "BucketOwnerPreferred"
    block = only(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "edge-logs")
    assert all(block.props[k] is True for k in ("blockPublicAcls", "restrictPublicBuckets"))
    life = only(
        plan, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "edge-logs"
    )
    assert life.props["rules"][0]["expiration"]["days"] == 90


def test_a_web_acl_is_created_when_none_is_given(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: CLOUDFRONT-scoped WAF (CloudFront.6) in us-east-1 with AWS managed
    rules and a per-IP rate limit, attached to the distribution."""
    plan = plans("production")
    waf = only(plan, WAF, "edge-waf").props
    assert waf["scope"] == "CLOUDFRONT"
    names = [rule["name"] for rule in waf["rules"]]
    assert names == [*MANAGED_RULE_GROUPS, "rate-per-ip"]
    assert waf["rules"][-1]["statement"]["rateBasedStatement"]["limit"] == 2000
    cdn = only(plan, CDN, "edge-cdn").props
    assert cdn["webAclId"] == (
        "arn:aws:wafv2:us-east-1:000000000000:global/webacl/edge-waf/mock-uuid-3"
    )
    provider = only(plan, "pulumi:providers:aws", "edge-us-east-1").props
    assert provider["region"] == "us-east-1"


def test_a_given_web_acl_is_used_and_none_created(plans: Callable[[str], Plan]) -> None:
    """Settings only, then the component's choice: webAclArn must be a global WAFv2 ACL."""
    settings = validate("production", "edge", webAclArn=ACL)
    assert settings.edge.web_acl_arn == ACL
    regional = ACL.replace("global/", "regional/")
    assert "trading-platform:edge.webAclArn" in refused("production", "edge", webAclArn=regional)
    assert len(of_type(plans("production"), WAF)) == 1  # the stack file gives none


def test_edge_without_certificate_is_refused_naming_the_key() -> None:
    text = refused("production", "edge", certificateArn=None)
    assert "trading-platform:edge.certificateArn" in text
    assert "minTlsVersion" in text and "edge.enabled: false" in text


def test_edge_without_aliases_is_refused_naming_the_key() -> None:
    text = refused("production", "edge", aliases=[])
    assert "trading-platform:edge.aliases" in text


def test_edge_alias_may_not_be_its_own_origin() -> None:
    text = refused("production", "edge", aliases=["trading.example.com"])
    assert "kubernetes.ingressHost" in text


def test_certificate_must_be_acm_in_us_east_1() -> None:
    other_region = CERT.replace("us-east-1", "eu-west-1")
    assert "trading-platform:edge.certificateArn" in refused(
        "production", "edge", certificateArn=other_region
    )


def test_a_disabled_edge_needs_no_certificate() -> None:
    settings = validate("production", "edge", enabled=False, certificateArn=None, aliases=[])
    assert settings.edge.enabled is False


@pytest.mark.parametrize(
    ("geo", "ok"),
    [
        ({"type": "whitelist", "locations": ["US", "GB"]}, True),
        ({"type": "whitelist", "locations": []}, False),
        ({"type": "none", "locations": ["US"]}, False),
        ({"type": "blacklist", "locations": ["usa"]}, False),
    ],
)
def test_geo_restriction_by_config(geo: dict[str, object], ok: bool) -> None:
    if ok:
        assert validate("production", "edge", geoRestriction=geo).edge.geo_restriction.locations
    else:
        assert "trading-platform:edge.geoRestriction" in refused(
            "production", "edge", geoRestriction=geo
        )


def test_names_follow_cloudfront_and_waf_rules() -> None:
    assert policy_name("production", "edge", "security-headers") == (
        "production-edge-security-headers"
    )
    with pytest.raises(ValueError, match="letters, digits"):
        policy_name("production", "edge", "api policy")


def test_waf_logs_redact_authorization_and_hosting_ips_only_count(
    plans: Callable[[str], Plan],
) -> None:
    """Under set_mocks: the web ACL logs to an aws-waf-logs- group (kept a year) without
    bearer tokens; anonymous-IP rules block, except the hosting-provider list, which counts."""
    plan = plans("production")
    logging = only(
        plan, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "edge-waf-logs"
    ).props
    assert logging["redactedFields"] == [{"singleHeader": {"name": "authorization"}}]
    group = only(plan, "aws:cloudwatch/logGroup:LogGroup", "edge-waf-logs").props
    assert group["name"] == "aws-waf-logs-production-edge-waf"
    assert group["retentionInDays"] >= 365
    rules = {r["name"]: r for r in only(plan, WAF, "edge-waf").props["rules"]}
    anonymous = rules["AWSManagedRulesAnonymousIpList"]["statement"]
    overrides = anonymous["managedRuleGroupStatement"]["ruleActionOverrides"]
    assert overrides == [{"name": "HostingProviderIPList", "actionToUse": {"count": {}}}]
    assert (
        "ruleActionOverrides"
        not in rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
    )


def test_log_bucket_is_encrypted_with_a_key_log_delivery_may_use(
    plans: Callable[[str], Plan],
) -> None:
    """Under set_mocks: SSE-KMS with the bucket's own rotating key, whose policy names the
    account and CloudFront's log delivery service (nothing else)."""
    plan = plans("production")
    sse = only(
        plan,
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
        "edge-logs",
    ).props["rules"][0]
    by_default = sse["applyServerSideEncryptionByDefault"]
    assert by_default["sseAlgorithm"] == "aws:kms"
    assert by_default["kmsMasterKeyId"].endswith("/edge-logs-key")
    key = only(plan, "aws:kms/key:Key", "edge-logs-key").props
    assert key["enableKeyRotation"] is True
    principals = [s["Principal"] for s in json.loads(key["policy"])["Statement"]]
    assert principals == [
        {"AWS": "arn:aws:iam::000000000000:root"},
        {"Service": "delivery.logs.amazonaws.com"},
    ]


def test_sanctioned_countries_are_refused_at_the_edge(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: the stack file's geo restriction reaches the distribution."""
    geo = only(plans("production"), CDN, "edge-cdn").props["restrictions"]["geoRestriction"]
    assert geo == {"restrictionType": "blacklist", "locations": ["CU", "IR", "KP", "SY"]}


def test_an_edge_that_caches_nothing_uses_the_managed_caching_disabled_policy(
    tmp_path: Path,
) -> None:
    """Under set_mocks: maxTtlSeconds 0 -> Managed-CachingDisabled, no policy of our own
    (CloudFront refuses cache-key settings when nothing is cached)."""
    path = stack_path("staging")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["config"]["trading-platform:edge"].update(defaultTtlSeconds=0, maxTtlSeconds=0)
    (tmp_path / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    plan = plan_stack("staging", tmp_path)
    behavior = only(plan, CDN, "edge-cdn").props["defaultCacheBehavior"]
    assert behavior["cachePolicyId"] == CACHING_DISABLED
    assert of_type(plan, "aws:cloudfront/cachePolicy:CachePolicy") == []
