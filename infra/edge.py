"""The edge cache in front of the HTTP services' ingress: a CloudFront distribution (aws).

What the distribution enforces, and why:
- its own certificate and aliases (required by the settings): with the default
  *.cloudfront.net certificate CloudFront ignores `minTlsVersion` and accepts TLS 1.0;
- every method reaches the API (POST /orders included); GET and HEAD are cached under a
  cache policy keyed on the query string and Authorization (one user never gets another's
  answer), and the managed AllViewerExceptHostHeader origin-request policy forwards the
  rest of the request (the origin's TLS certificate names its own host, not the alias);
- a response-headers policy adds HSTS, X-Content-Type-Options and X-Frame-Options;
- access logs go to an S3 bucket of the stack (standard logging needs ACLs enabled on it:
  ownership BucketOwnerPreferred; CloudFront grants its log-delivery account itself),
  encrypted with a key of its own whose policy lets the log delivery service use it;
- a WAFv2 web ACL guards it: `edge.webAclArn`, else one created here with AWS's managed
  common, known-bad-inputs (Log4j), IP-reputation and anonymous-IP rules (hosting
  providers only counted: algorithmic clients run there) and a per-IP rate limit, logging
  to an `aws-waf-logs-` group with the Authorization header redacted;
- the origin is reached over HTTPS only, TLS 1.2;
- optional geo restriction from `edge.geoRestriction`.
CloudFront-scoped WAF resources exist only in us-east-1: the component has its own
us-east-1 provider for all of its resources, whatever the stack's region.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.keys import data_key
from stackspec.model import Edge as EdgeSettings

ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
CACHED_METHODS = ["GET", "HEAD"]
# AWS managed cache policy "Managed-CachingDisabled": with no TTL, CloudFront refuses a
# policy of our own that puts headers or query strings in the key.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# AWS managed origin-request policy "Managed-AllViewerExceptHostHeader".
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
HSTS_SECONDS = 63072000  # two years, what hstspreload.org asks for
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",  # Log4j and other known exploit payloads
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)
# Rules of those groups that only count: trading clients legitimately call the API from
# cloud hosts, which the hosting-provider list would block.
COUNT_ONLY = {"AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",)}
# CloudFront's log delivery writes to an SSE-KMS bucket only if the key lets it.
LOG_DELIVERY_KEY_USE = {
    "Sid": "CloudFrontLogDelivery",
    "Effect": "Allow",
    "Principal": {"Service": "delivery.logs.amazonaws.com"},
    "Action": "kms:GenerateDataKey*",
    "Resource": "*",
}
# WAF accepts CloudWatch log groups for its logs only under this prefix.
WAF_LOG_PREFIX = "aws-waf-logs-"
WAF_LOG_RETENTION_DAYS = 365


def policy_name(stack: str, name: str, purpose: str) -> str:
    """A CloudFront policy or WAF name: letters, digits, `-` and `_`, at most 128."""
    text = f"{stack}-{name}-{purpose}"
    if len(text) > 128 or not text.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"name {text!r}: letters, digits, - and _ only, at most 128")
    return text


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgs:
    return aws.wafv2.WebAclVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _rule_visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed_rule(priority: int, group: str) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
            none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]
        ),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                        name=rule,
                        action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                            count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                        ),
                    )
                    for rule in COUNT_ONLY.get(group, ())
                ]
                or None,
            )
        ),
        visibility_config=_rule_visibility(group),
    )


def _rate_rule(priority: int, limit: int) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name="rate-per-ip",
        priority=priority,
        action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                limit=limit, aggregate_key_type="IP"
            )
        ),
        visibility_config=_rule_visibility("rate-per-ip"),
    )


class EdgeCache(pulumi.ComponentResource):
    """A CloudFront distribution in front of `origin_host`, hardened as the module says.

    The settings model guarantees `certificate_arn` and `aliases` on aws stacks; the
    component refuses to build without them all the same.
    """

    def __init__(
        self,
        name: str,
        settings: EdgeSettings,
        origin_host: str,
        logs_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Edge", name, None, opts)
        if settings.certificate_arn is None or not settings.aliases:
            raise ValueError(
                f"{name}: edge.certificateArn and edge.aliases are required for CloudFront"
            )
        self._name, self._settings, self._stack = name, settings, pulumi.get_stack()
        self._logs_key_arn = logs_key_arn
        self.provider = aws.Provider(
            f"{name}-us-east-1", region="us-east-1", opts=pulumi.ResourceOptions(parent=self)
        )
        self._child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        web_acl_arn = settings.web_acl_arn or self._web_acl().arn
        log_bucket = self._log_bucket()
        origin_id = settings.origin_service
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"{name}: edge cache of {origin_id}"[:128],
            aliases=list(settings.aliases),
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class="PriceClass_100",
            web_acl_id=web_acl_arn,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=origin_id,
                    domain_name=origin_host,
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only",
                        origin_ssl_protocols=["TLSv1.2"],
                    ),
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=origin_id,
                viewer_protocol_policy="https-only" if settings.https_only else "redirect-to-https",
                allowed_methods=ALL_METHODS,
                cached_methods=CACHED_METHODS,
                compress=True,
                cache_policy_id=(
                    self._cache_policy().id if settings.max_ttl_seconds else CACHING_DISABLED
                ),
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST,
                response_headers_policy_id=self._headers_policy().id,
            ),
            logging_config=aws.cloudfront.DistributionLoggingConfigArgs(
                bucket=log_bucket.bucket_domain_name, prefix=f"{name}/", include_cookies=False
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type=settings.geo_restriction.type,
                    locations=list(settings.geo_restriction.locations),
                )
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=settings.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version=settings.min_tls_version,
            ),
            # A new bucket has ACLs disabled: CloudFront refuses it for standard logging
            # until the ownership controls that enable them exist.
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=[self._ownership])
            ),
        )
        self.distribution_id: pulumi.Output[str] = self.distribution.id
        self.domain_name: pulumi.Output[str] = self.distribution.domain_name
        self.register_outputs(
            {"distributionId": self.distribution_id, "domainName": self.domain_name}
        )

    def _web_acl(self) -> aws.wafv2.WebAcl:
        name = policy_name(self._stack, self._name, "waf")
        rules = [_managed_rule(i, group) for i, group in enumerate(MANAGED_RULE_GROUPS)]
        rules.append(_rate_rule(len(rules), self._settings.rate_limit_per_5_minutes))
        acl = aws.wafv2.WebAcl(
            f"{self._name}-waf",
            name=name,
            description=f"{self._name}: managed rules and a per-IP rate limit",
            scope="CLOUDFRONT",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=rules,
            visibility_config=_visibility(name),
            opts=self._child,
        )
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-waf-logs",
            name=f"{WAF_LOG_PREFIX}{name}",
            retention_in_days=WAF_LOG_RETENTION_DAYS,
            kms_key_id=self._logs_key_arn,
            opts=self._child,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{self._name}-waf-logs",
            resource_arn=acl.arn,
            log_destination_configs=[logs.arn],
            # Bearer tokens must not land in the logs.
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                        name="authorization"
                    )
                )
            ],
            opts=self._child,
        )
        return acl

    def _log_bucket(self) -> aws.s3.BucketV2:
        name, child = self._name, self._child
        bucket = aws.s3.BucketV2(f"{name}-logs", force_destroy=False, opts=child)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-logs",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        # Standard logging writes through an ACL grant CloudFront adds to the bucket: ACLs
        # must stay enabled (BucketOwnerPreferred), and the ACL is not managed here so the
        # grant survives updates.
        self._ownership = aws.s3.BucketOwnershipControls(
            f"{name}-logs",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerPreferred"),
            opts=child,
        )
        key = data_key(
            f"{name}-logs-key", "CloudFront access logs", self, [LOG_DELIVERY_KEY_USE], child
        )
        aws.s3.BucketServerSideEncryptionConfigurationV2(
            f"{name}-logs",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationV2RuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    # One data key per bucket rather than per log file: fewer KMS calls.
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketVersioningV2(
            f"{name}-logs",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningV2VersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        days = self._settings.log_retention_days
        aws.s3.BucketLifecycleConfigurationV2(
            f"{name}-logs",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationV2RuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationV2RuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationV2RuleExpirationArgs(days=days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=child,
        )
        return bucket

    def _cache_policy(self) -> aws.cloudfront.CachePolicy:
        cfg = aws.cloudfront
        settings = self._settings
        return cfg.CachePolicy(
            f"{self._name}-api",
            name=policy_name(self._stack, self._name, "api"),
            comment="API: query string and Authorization in the key",
            min_ttl=0,
            default_ttl=settings.default_ttl_seconds,
            max_ttl=settings.max_ttl_seconds,
            parameters_in_cache_key_and_forwarded_to_origin=cfg.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                cookies_config=cfg.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                    cookie_behavior="none"
                ),
                headers_config=cfg.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                    header_behavior="whitelist",
                    headers=cfg.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigHeadersArgs(
                        items=["Authorization"]
                    ),
                ),
                query_strings_config=cfg.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                    query_string_behavior="all"
                ),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            ),
            opts=self._child,
        )

    def _headers_policy(self) -> aws.cloudfront.ResponseHeadersPolicy:
        cfg = aws.cloudfront
        return cfg.ResponseHeadersPolicy(
            f"{self._name}-security-headers",
            name=policy_name(self._stack, self._name, "security-headers"),
            comment="HSTS, nosniff, frame DENY, strict referrer",
            security_headers_config=cfg.ResponseHeadersPolicySecurityHeadersConfigArgs(
                strict_transport_security=cfg.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                    access_control_max_age_sec=HSTS_SECONDS,
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_type_options=cfg.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                    override=True
                ),
                frame_options=cfg.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                    frame_option="DENY", override=True
                ),
                referrer_policy=cfg.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                    referrer_policy="strict-origin-when-cross-origin", override=True
                ),
            ),
            opts=self._child,
        )
