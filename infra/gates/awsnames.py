"""The AWS names gate: what the plan declares against AWS's naming, charset and length rules.

The rules are AWS's own, quoted from the API references named in `source`; AWS enforces
them at create time, after preview and moto have accepted the value. A name the program
does not give is the provider's auto-name, `<logical name>-<7 random hex>`, checked with a
stand-in suffix of the same length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.gates.result import Finding, GateResult
from infra.offline import PlannedResource
from stackspec.stackfile import SECRET_MASK

AUTONAME_SUFFIX = "-0a1b2c3"  # pulumi-aws auto-names `<logical>-<7 hex>`
SG_CHARS = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]"
RULE_CHARS = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=;{}!$*]"
RDS_ID = r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)"
EC2 = "EC2 API Reference, CreateSecurityGroup (GroupName, GroupDescription)"
EC2_RULE = "EC2 API Reference, IpRange / IpPermission Description"
RDS = "RDS API Reference, CreateDBInstance"
RDS_PG = "RDS API Reference, CreateDBParameterGroup / CreateDBSubnetGroup"
CACHE = "ElastiCache API Reference, CreateReplicationGroup / CreateCacheSubnetGroup"
MSK = "MSK API Reference, CreateCluster (clusterName)"
S3 = "Amazon S3 User Guide, General purpose bucket naming rules"
IAM = "IAM User Guide, IAM and AWS STS quotas (name requirements); IAM API CreateRole"
EKS = "EKS API Reference, CreateCluster (name)"
TAGS = "Tagging AWS resources, Tag naming limits and requirements"


@dataclass(frozen=True)
class Rule:
    """One AWS rule on one input of one resource type, with AWS's wording."""

    token: str
    key: str  # camelCase input; `a[].b` reads `b` of every item of list `a`
    pattern: str  # must match the whole value
    max_len: int
    wording: str
    source: str
    autonamed: bool = False  # the provider names it from the logical name when absent
    lowercase: bool = False  # AWS stores it lowercased: any case is accepted


def _rule(
    token: str, key: str, pattern: str, max_len: int, wording: str, source: str, **kw: Any
) -> Rule:
    return Rule(token, key, pattern, max_len, wording, source, **kw)


SG, SGR = "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule"
RULES: tuple[Rule, ...] = (
    _rule(
        SG,
        "name",
        rf"(?!sg-){SG_CHARS}+",
        255,
        "Up to 255 characters in length. Cannot "
        "start with sg-. Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
        EC2,
        autonamed=True,
    ),
    _rule(
        SG,
        "description",
        rf"{SG_CHARS}+",
        255,
        "Up to 255 characters in length. Valid "
        "characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
        EC2,
    ),
    *(
        _rule(
            SG,
            f"{direction}[].description",
            rf"{RULE_CHARS}*",
            255,
            "Up to 255 characters in "
            "length. Allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=;{}!$*",
            EC2_RULE,
        )
        for direction in ("ingress", "egress")
    ),
    _rule(
        SGR,
        "description",
        rf"{RULE_CHARS}*",
        255,
        "Up to 255 characters in length. "
        "Allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=;{}!$*",
        EC2_RULE,
    ),
    _rule(
        "aws:rds/instance:Instance",
        "identifier",
        RDS_ID,
        63,
        "Must contain from 1 to 63 "
        "letters, numbers, or hyphens. First character must be a letter. Can't end with a "
        "hyphen or contain two consecutive hyphens.",
        RDS,
        autonamed=True,
        lowercase=True,
    ),
    _rule(
        "aws:rds/instance:Instance",
        "finalSnapshotIdentifier",
        RDS_ID,
        255,
        "Must be 1 to "
        "255 letters, numbers, or hyphens. First character must be a letter. Can't end with "
        "a hyphen or contain two consecutive hyphens.",
        RDS,
    ),
    _rule(
        "aws:rds/instance:Instance",
        "dbName",
        r"[A-Za-z][A-Za-z0-9_]*",
        63,
        "Must contain 1 to 63 letters, numbers, or underscores. Must begin with a letter.",
        RDS,
    ),
    _rule(
        "aws:rds/parameterGroup:ParameterGroup",
        "name",
        RDS_ID,
        255,
        "Must be 1 to 255 "
        "letters, numbers, or hyphens. First character must be a letter. Can't end with a "
        "hyphen or contain two consecutive hyphens.",
        RDS_PG,
        autonamed=True,
        lowercase=True,
    ),
    _rule(
        "aws:rds/subnetGroup:SubnetGroup",
        "name",
        r"(?!default$)[a-zA-Z0-9._ -]+",
        255,
        "Must contain no more than 255 letters, numbers, periods, underscores, spaces, or "
        "hyphens. Must not be default.",
        RDS_PG,
        autonamed=True,
        lowercase=True,
    ),
    _rule(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "replicationGroupId",
        RDS_ID,
        40,
        "A name must contain from 1 to 40 alphanumeric characters or hyphens. The first "
        "character must be a letter. A name cannot end with a hyphen or contain two "
        "consecutive hyphens.",
        CACHE,
        autonamed=True,
        lowercase=True,
    ),
    _rule(
        "aws:elasticache/subnetGroup:SubnetGroup",
        "name",
        r"[a-zA-Z0-9-]+",
        255,
        "Must contain no more than 255 alphanumeric characters or hyphens.",
        CACHE,
        autonamed=True,
        lowercase=True,
    ),
    _rule(
        "aws:msk/cluster:Cluster",
        "clusterName",
        r"[0-9A-Za-z][0-9A-Za-z-]*",
        64,
        "The "
        "name of the cluster: 1 to 64 letters, digits or hyphens, starting with a letter "
        "or digit.",
        MSK,
        autonamed=True,
    ),
    _rule(
        "aws:eks/cluster:Cluster",
        "name",
        r"[0-9A-Za-z][A-Za-z0-9_-]*",
        100,
        "The name can "
        "contain only alphanumeric characters (case-sensitive), hyphens, and underscores. It "
        "must start with an alphanumeric character and can't be longer than 100 characters.",
        EKS,
        autonamed=True,
    ),
    _rule(
        "aws:iam/role:Role",
        "name",
        r"[\w+=,.@-]+",
        64,
        "Maximum 64 characters. Use alphanumeric and '+=,.@-_' characters.",
        IAM,
        autonamed=True,
    ),
    *(
        _rule(
            token,
            "bucket",
            r"(?!xn--|sthree-|\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)"
            r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?<!-s3alias)(?<!--ol-s3)",
            63,
            "Bucket names must be between 3 and 63 characters long, consist only of "
            "lowercase letters, numbers, periods, and hyphens, begin and end with a letter "
            "or number, not contain two adjacent periods, not be formatted as an IP address, "
            "not start with xn-- or sthree-, not end with -s3alias or --ol-s3.",
            S3,
            autonamed=True,
        )
        for token in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
    ),
)
TAG_KEY = re.compile(r"(?!aws:)[\w .:+=@/-]{1,128}", re.UNICODE)
TAG_VALUE = re.compile(r"[\w .:+=@/-]{0,256}", re.UNICODE)
TAG_WORDING = (
    "Tag keys: 1 to 128 characters, not starting with aws:; values: 0 to 256 characters; "
    "letters, numbers, spaces representable in UTF-8, and + - = . _ : / @"
)


def values_at(props: dict[str, Any], key: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of `key` in `props`; `a[].b` yields `b` of every item of `a`."""
    head, _, rest = key.partition("[].")
    if not rest:
        if head in props:
            yield head, props[head]
        return
    for index, item in enumerate(props.get(head) or []):
        if isinstance(item, dict):
            for path, value in values_at(item, rest):
                yield f"{head}[{index}].{path}", value


def check_rule(rule: Rule, res: PlannedResource) -> list[Finding]:
    """The ways `res` breaks `rule`."""
    found = list(values_at(res.props, rule.key))
    if not found and rule.autonamed:
        found = [(f"{rule.key} (auto-name)", res.name + AUTONAME_SUFFIX)]
    findings = []
    for path, value in found:
        if not isinstance(value, str) or value == SECRET_MASK:
            continue
        text = value.lower() if rule.lowercase else value
        if len(text) > rule.max_len or not re.fullmatch(rule.pattern, text):
            message = f"{value!r} breaks AWS's rule: {rule.wording} ({rule.source})"
            findings.append(Finding(res.label, path, message))
    return findings


def check_tags(res: PlannedResource) -> list[Finding]:
    """The tags of `res` that break AWS's tag rules."""
    tags = res.props.get("tags") or {}
    findings = []
    for key, value in tags.items() if isinstance(tags, dict) else ():
        if not TAG_KEY.fullmatch(str(key)) or not TAG_VALUE.fullmatch(str(value)):
            message = f"{key!r}={value!r} breaks AWS's rule: {TAG_WORDING} ({TAGS})"
            findings.append(Finding(res.label, f"tags.{key}", message))
    return findings


WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
WAF_DESTINATIONS = {
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:s3/bucket:Bucket": "bucket",
}
WAF_WORDING = (
    "The name of a WAF logging destination (log group, bucket or Firehose stream) must start "
    "with aws-waf-logs- (AWS WAF Developer Guide, Logging destinations)"
)


def check_waf_destinations(plan: list[PlannedResource]) -> list[Finding]:
    """WAF logging destinations whose name does not start with `aws-waf-logs-`. A destination
    is given by ARN; the mocks build ARNs from logical names, so it is found by that name."""
    by_name = {(r.name, r.type): r for r in plan if r.type in WAF_DESTINATIONS}
    findings = []
    for config in (r for r in plan if r.type == WAF_LOGGING):
        for arn in config.props.get("logDestinationConfigs") or []:
            segments = set(re.split(r"[/:]", str(arn))[5:])
            for (name, token), dest in by_name.items():
                physical = dest.props.get(WAF_DESTINATIONS[token]) or name + AUTONAME_SUFFIX
                if name in segments and not str(physical).startswith("aws-waf-logs-"):
                    message = f"{physical!r} breaks AWS's rule: {WAF_WORDING}"
                    findings.append(Finding(f"{token} {name}", WAF_DESTINATIONS[token], message))
    return findings


def awsnames_gate(
    stack: str, plan: list[PlannedResource], rules: tuple[Rule, ...] = RULES
) -> GateResult:
    """Check every aws resource of `plan` against `rules` and the tag rules."""
    result = GateResult("awsnames", stack)
    by_token: dict[str, list[Rule]] = {}
    for rule in rules:
        by_token.setdefault(rule.token, []).append(rule)
    for res in plan:
        if not res.type.startswith("aws:"):
            continue
        result.checked += 1
        result.failures += check_tags(res)
        for rule in by_token.get(res.type, []):
            result.failures += check_rule(rule, res)
    result.failures += check_waf_destinations(plan)
    return result
