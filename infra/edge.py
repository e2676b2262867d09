"""The edge cache in front of the HTTP services' ingress: a CloudFront distribution (aws)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.settings import Edge as EdgeSettings


def _certificate(
    certificate_arn: str | None, min_tls_version: str
) -> aws.cloudfront.DistributionViewerCertificateArgs:
    if certificate_arn:
        return aws.cloudfront.DistributionViewerCertificateArgs(
            acm_certificate_arn=certificate_arn,
            ssl_support_method="sni-only",
            minimum_protocol_version=min_tls_version,
        )
    # Note: AWS applies its own TLS floor to the default *.cloudfront.net certificate; set
    # aws.certificateArn in the stack for the configured minimum to hold on a custom domain.
    return aws.cloudfront.DistributionViewerCertificateArgs(
        cloudfront_default_certificate=True, minimum_protocol_version=min_tls_version
    )


class EdgeCache(pulumi.ComponentResource):
    """A CloudFront distribution caching `origin_host` over HTTPS only."""

    def __init__(
        self,
        name: str,
        settings: EdgeSettings,
        origin_host: str,
        certificate_arn: str | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Edge", name, None, opts)
        origin_id = settings.origin_service
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"{name}: edge cache of {origin_id}",
            http_version="http2and3",
            price_class="PriceClass_100",
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
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                compress=True,
                forwarded_values=aws.cloudfront.DistributionDefaultCacheBehaviorForwardedValuesArgs(
                    query_string=True,
                    cookies=aws.cloudfront.DistributionDefaultCacheBehaviorForwardedValuesCookiesArgs(
                        forward="none"
                    ),
                ),
                min_ttl=0,
                default_ttl=settings.default_ttl_seconds,
                max_ttl=settings.max_ttl_seconds,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=_certificate(certificate_arn, settings.min_tls_version),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.distribution_id: pulumi.Output[str] = self.distribution.id
        self.domain_name: pulumi.Output[str] = self.distribution.domain_name
        self.register_outputs({"distributionId": self.distribution_id})
