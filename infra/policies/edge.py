"""Rules of the edge: the CloudFront distribution in front of the API."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import Severity

from infra.policies.base import Config, Props, Rule, Setting, get, items, only

CLOUDFRONT = "aws:cloudfront/distribution:Distribution"
ORIGIN_PROTOCOLS = {"TLSv1.2"}  # SSLv3, TLSv1 and TLSv1.1 are deprecated (CloudFront.10)


def behaviors(props: Props) -> list[Props]:
    """The default cache behavior and every ordered one."""
    default = props.get("defaultCacheBehavior") or {}
    return [default, *items(props.get("orderedCacheBehaviors"))]


@only(CLOUDFRONT)
def viewer_https(_t: str, props: Props, _c: Config) -> list[str]:
    """CloudFront.3: viewers use HTTPS only (a redirect would drop an API POST's body)."""
    wrong = [b.get("pathPattern", "default") for b in behaviors(props)
             if b.get("viewerProtocolPolicy") != "https-only"]  # fmt: skip
    return [f"behaviors {wrong} must set viewerProtocolPolicy=https-only"] if wrong else []


@only(CLOUDFRONT)
def minimum_tls(_t: str, props: Props, config: Config) -> list[str]:
    """Viewers negotiate one of allowedViewerProtocols (TLS 1.2 or later)."""
    minimum = get(props, "viewerCertificate", "minimumProtocolVersion")
    allowed = config["allowedViewerProtocols"]
    return [] if minimum in allowed else [f"minimumProtocolVersion {minimum!r} not in {allowed}"]


@only(CLOUDFRONT)
def custom_certificate(_t: str, props: Props, _c: Config) -> list[str]:
    """CloudFront.7: a custom certificate and aliases (with the default certificate
    CloudFront ignores minimumProtocolVersion and accepts TLS 1.0)."""
    cert = props.get("viewerCertificate") or {}
    problems = []
    if cert.get("cloudfrontDefaultCertificate") or not (
        cert.get("acmCertificateArn") or cert.get("iamCertificateId")
    ):
        problems.append("viewerCertificate must use acmCertificateArn, not the default one")
    if not props.get("aliases"):
        problems.append("aliases must list the hostnames the certificate covers")
    return problems


@only(CLOUDFRONT)
def access_logs(_t: str, props: Props, _c: Config) -> list[str]:
    """CloudFront.5: standard access logs to a bucket."""
    return [] if get(props, "loggingConfig", "bucket") else ["loggingConfig.bucket must be set"]


@only(CLOUDFRONT)
def waf(_t: str, props: Props, _c: Config) -> list[str]:
    """CloudFront.6: a WAF web ACL in front."""
    return [] if props.get("webAclId") else ["webAclId must name a WAFv2 web ACL (CLOUDFRONT)"]


@only(CLOUDFRONT)
def origin_tls(_t: str, props: Props, _c: Config) -> list[str]:
    """CloudFront.9/.10: custom origins over HTTPS with TLS 1.2, no deprecated protocols."""
    problems = []
    for origin in items(props.get("origins")):
        custom = origin.get("customOriginConfig")
        if not isinstance(custom, Mapping):
            continue
        deprecated = sorted(set(custom.get("originSslProtocols") or []) - ORIGIN_PROTOCOLS)
        if custom.get("originProtocolPolicy") != "https-only" or deprecated:
            problems.append(
                f"origin {origin.get('originId')}: https-only over TLSv1.2 only"
                f" (deprecated: {deprecated})"
            )
    return problems


@only(CLOUDFRONT)
def security_headers(_t: str, props: Props, _c: Config) -> list[str]:
    """Every behavior sends security headers (HSTS) through a response headers policy."""
    missing = [b.get("pathPattern", "default") for b in behaviors(props)
               if not b.get("responseHeadersPolicyId")]  # fmt: skip
    return [f"behaviors {missing} lack responseHeadersPolicyId (HSTS)"] if missing else []


H, M, L = Severity.HIGH, Severity.MEDIUM, Severity.LOW
VIEWER_PROTOCOLS = Setting(
    "allowedViewerProtocols",
    {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ["TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"],
)

RULES: tuple[Rule, ...] = (
    Rule("cloudfront-viewer-https", "CloudFront serves viewers over HTTPS only", H,
         "Set viewerProtocolPolicy=https-only on every cache behavior.", viewer_https,
         "CloudFront.3"),
    Rule("cloudfront-minimum-tls", "CloudFront viewers use TLS 1.2 or later", H,
         "Set viewerCertificate.minimumProtocolVersion=TLSv1.2_2021 (with a custom "
         "certificate).", minimum_tls, None, (VIEWER_PROTOCOLS,)),
    Rule("cloudfront-custom-certificate", "CloudFront uses a custom certificate and aliases",
         H, "Set viewerCertificate.acmCertificateArn (us-east-1), sslSupportMethod=sni-only "
         "and aliases.", custom_certificate, "CloudFront.7"),
    Rule("cloudfront-logging", "CloudFront access logging", M,
         "Set loggingConfig.bucket to the log bucket's bucketDomainName.", access_logs,
         "CloudFront.5"),
    Rule("cloudfront-waf", "CloudFront behind AWS WAF", M,
         "Set webAclId to a wafv2.WebAcl (scope CLOUDFRONT) ARN.", waf, "CloudFront.6"),
    Rule("cloudfront-origin-tls", "CloudFront reaches origins over TLS 1.2 only", M,
         "Set customOriginConfig originProtocolPolicy=https-only, "
         "originSslProtocols=['TLSv1.2'].", origin_tls, "CloudFront.10"),
    Rule("cloudfront-security-headers", "CloudFront adds security headers (HSTS)", L,
         "Attach a ResponseHeadersPolicy with strictTransportSecurity to every behavior.",
         security_headers),
)  # fmt: skip
