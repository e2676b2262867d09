"""Render an offline plan as the files the validators read.

- `kubernetes_manifests`: each `kubernetes:<group>/<version>:<Kind>` resource as the manifest
  the provider sends (apiVersion/kind/metadata/spec...). Numbers reach the mocks as floats;
  integral ones are written back as integers, as the engine's JSON would carry them.
- `terraform_plan`: the `aws:` resources as `terraform show -json` output. pulumi-aws is
  bridged from the Terraform AWS provider, so each token has a Terraform type
  (`aws:rds/instance:Instance` -> `aws_db_instance`, `TERRAFORM_TYPES`), attributes are the
  Terraform ones (snake_case; the list blocks Pulumi pluralised back to Terraform's singular
  name, `BLOCK_NAMES`), nested objects are single-element lists, and an input that is another
  resource's id (the mocks' `<name>-id`) is unknown at plan time, as in a real plan, with a
  reference to that resource in `configuration` so graph checks see the connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.offline import PlannedResource
from stackspec.stackfile import SECRET_MASK

KUBERNETES_TOKEN = re.compile(r"^kubernetes:(?P<group>[^:/]+)/(?P<version>[^:/]+):(?P<kind>\w+)$")
# Pulumi-only kinds that are not manifests of their own (patches, lists, helm, yaml bundles).
NOT_MANIFESTS = re.compile(r"(Patch|List)$")
SECRET_MAPS = ("data", "stringData")
MASK_PLACEHOLDER = "masked-by-the-plan"

# Pulumi token -> Terraform resource type (pulumi-aws provider/resources.go maps them).
TERRAFORM_TYPES: dict[str, str] = {
    "aws:cloudfront/cachePolicy:CachePolicy": "aws_cloudfront_cache_policy",
    "aws:cloudfront/distribution:Distribution": "aws_cloudfront_distribution",
    "aws:cloudfront/originAccessControl:OriginAccessControl": (
        "aws_cloudfront_origin_access_control"
    ),
    "aws:cloudfront/originRequestPolicy:OriginRequestPolicy": (
        "aws_cloudfront_origin_request_policy"
    ),
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": (
        "aws_cloudfront_response_headers_policy"
    ),
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/networkAcl:NetworkAcl": "aws_network_acl",
    "aws:ec2/route:Route": "aws_route",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/securityGroupRule:SecurityGroupRule": "aws_security_group_rule",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": "aws_vpc_peering_connection",
    "aws:eks/accessEntry:AccessEntry": "aws_eks_access_entry",
    "aws:eks/addon:Addon": "aws_eks_addon",
    "aws:eks/cluster:Cluster": "aws_eks_cluster",
    "aws:eks/nodeGroup:NodeGroup": "aws_eks_node_group",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "aws_eks_pod_identity_association",
    "aws:elasticache/parameterGroup:ParameterGroup": "aws_elasticache_parameter_group",
    "aws:elasticache/replicationGroup:ReplicationGroup": "aws_elasticache_replication_group",
    "aws:elasticache/subnetGroup:SubnetGroup": "aws_elasticache_subnet_group",
    "aws:elasticache/user:User": "aws_elasticache_user",
    "aws:elasticache/userGroup:UserGroup": "aws_elasticache_user_group",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:msk/cluster:Cluster": "aws_msk_cluster",
    "aws:msk/configuration:Configuration": "aws_msk_configuration",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": "aws_rds_cluster_parameter_group",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("aws_s3_bucket_public_access_block"),
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketV2:BucketV2": "aws_s3_bucket",
    "aws:s3/bucketVersioningV2:BucketVersioningV2": "aws_s3_bucket_versioning",
    "aws:s3/bucketAclV2:BucketAclV2": "aws_s3_bucket_acl",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": (
        "aws_s3_bucket_lifecycle_configuration"
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "aws_s3_bucket_lifecycle_configuration"
    ),
    "aws:s3/bucketLoggingV2:BucketLoggingV2": "aws_s3_bucket_logging",
    "aws:s3/bucketNotification:BucketNotification": "aws_s3_bucket_notification",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": (
        "aws_s3_bucket_replication_configuration"
    ),
    "aws:secretsmanager/secretRotation:SecretRotation": "aws_secretsmanager_secret_rotation",
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:wafv2/webAcl:WebAcl": "aws_wafv2_web_acl",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": (
        "aws_wafv2_web_acl_logging_configuration"
    ),
}
# Pulumi attribute -> Terraform block name, where Pulumi pluralised a repeated block.
BLOCK_NAMES: dict[str, str] = {
    "origins": "origin",
    "originGroups": "origin_group",
    "orderedCacheBehaviors": "ordered_cache_behavior",
    "customErrorResponses": "custom_error_response",
    "parameters": "parameter",
    "logDeliveryConfigurations": "log_delivery_configuration",
    "rules": "rule",
    "ingress": "ingress",
    "egress": "egress",
    "inlinePolicies": "inline_policy",
    "statements": "statement",
    "customHeaders": "custom_header",
    "functionAssociations": "function_association",
    "lambdaFunctionAssociations": "lambda_function_association",
    "members": "member",
    "replicas": "replica",
}
# Attributes that are maps in Terraform: kept as objects, their keys untouched.
MAP_ATTRIBUTES = frozenset({"tags", "tagsAll", "labels", "serverProperties", "variables"})
MOCK_ID = re.compile(r"^(?P<name>.+)-id$")
PROVIDER = "registry.terraform.io/hashicorp/aws"
# ARN service -> prefix of the Terraform types an ARN of that service names.
ARN_SERVICES = {
    "logs": "aws_cloudwatch_log_group",
    "kms": "aws_kms_key",
    "wafv2": "aws_wafv2_web_acl",
    "s3": "aws_s3_bucket",
    "secretsmanager": "aws_secretsmanager_secret",
    "iam": "aws_iam_",
    "kafka": "aws_msk_",
    "rds": "aws_db_",
    "elasticache": "aws_elasticache_",
    "eks": "aws_eks_",
}


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes manifest and the plan resource it came from."""

    source: PlannedResource
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.source.type} {self.source.name}"


def integral(value: Any) -> Any:
    """`value` with every float that is a whole number turned into an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def unmask(value: Any) -> Any:
    """`value` with masked strings (the plan masks secrets and anything under a key named
    like one, e.g. `secretKey`) replaced by a placeholder that name patterns accept."""
    if value == SECRET_MASK:
        return MASK_PLACEHOLDER
    if isinstance(value, dict):
        return {k: unmask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmask(v) for v in value]
    return value


def kubernetes_manifests(plan: list[PlannedResource]) -> tuple[list[Manifest], list[str]]:
    """The plan's Kubernetes manifests, and the kubernetes resources that are not manifests."""
    manifests: list[Manifest] = []
    others: list[str] = []
    for res in plan:
        if not res.type.startswith("kubernetes:"):
            continue
        match = KUBERNETES_TOKEN.match(res.type)
        if not match or NOT_MANIFESTS.search(match["kind"]) or match["group"] == "helm.sh":
            why = (
                "a Helm chart, rendered from its repository at deploy time (not offline)"
                if match and match["group"] == "helm.sh"
                else "not a single manifest (provider, patch or list)"
            )
            others.append(f"{res.label}: {why}")
            continue
        group, version = match["group"], match["version"]
        body = unmask(integral(dict(res.props)))
        body["apiVersion"] = version if group == "core" else f"{group}/{version}"
        body["kind"] = match["kind"]
        metadata = dict(body.get("metadata") or {})
        metadata.setdefault("name", res.name)  # the provider auto-names from the logical name
        body["metadata"] = metadata
        for key in SECRET_MAPS:
            # A map given as one Pulumi secret reaches the mocks as one masked value.
            if body.get(key) == MASK_PLACEHOLDER:
                body[key] = {"masked": MASK_PLACEHOLDER}
        manifests.append(Manifest(res, body))
    return manifests, others


def snake(name: str) -> str:
    """`camelCase` -> `camel_case`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def terraform_address(res: PlannedResource) -> str | None:
    tf_type = TERRAFORM_TYPES.get(res.type)
    return f"{tf_type}.{tf_name(res.name)}" if tf_type else None


def tf_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def terraform_values(props: dict[str, Any]) -> dict[str, Any]:
    """Pulumi inputs (camelCase) -> Terraform attribute values (snake_case, blocks as lists)."""
    return {_tf_key(k): _tf_value(k, v) for k, v in integral(props).items()}


def _tf_key(key: str) -> str:
    return BLOCK_NAMES.get(key) or snake(key)


def _tf_value(key: str, value: Any) -> Any:
    if key in MAP_ATTRIBUTES:
        return value
    if isinstance(value, dict):
        return [terraform_values(value)]
    if isinstance(value, list):
        return [terraform_values(v) if isinstance(v, dict) else v for v in value]
    return value


# Token prefixes the gates render (aws: as Terraform, kubernetes: as manifests), and those
# that declare nothing in a cloud (the project's components, Pulumi's providers, values
# pulumi-random keeps in the state).
RENDERED_PACKAGES = ("aws:", "kubernetes:")
NOT_CLOUD_RESOURCES = ("trading:", "pulumi:", "random:")


def unrendered(plan: list[PlannedResource]) -> list[str]:
    """Resources of other providers (aws-native, ...), which no offline gate can render:
    listed with the reason, so a gate reports them as unchecked instead of passing them
    over in silence."""
    return [
        f"{res.label}: no offline checker for the {res.type.split(':', 1)[0]} provider"
        for res in plan
        if not res.type.startswith(RENDERED_PACKAGES + NOT_CLOUD_RESOURCES)
    ]


def terraform_plan(plan: list[PlannedResource], region: str) -> tuple[dict[str, Any], list[str]]:
    """The plan's aws resources as `terraform show -json` output, and the aws resources left
    out because `TERRAFORM_TYPES` has no Terraform type for their token."""
    # The mocks' ids are `<logical name>-id`: what an id input refers to.
    addresses: dict[str, list[str]] = {}
    for res in plan:
        if (found := terraform_address(res)) is not None:
            addresses.setdefault(res.name, []).append(found)
    planned, changes, config, unmapped = [], [], [], []
    for res in plan:
        if not res.type.startswith("aws:"):
            continue
        address = terraform_address(res)
        if address is None:
            unmapped.append(f"{res.label}: no Terraform type known for this token")
            continue
        tf_type, name = address.split(".", 1)
        others = {n: [a for a in found if a != address] for n, found in addresses.items()}
        values, expressions, unknown = _resolve_references(terraform_values(res.props), others)
        head = {"address": address, "mode": "managed", "type": tf_type, "name": name}
        planned.append(
            {
                **head,
                "provider_name": PROVIDER,
                "schema_version": 0,
                "values": values,
                "sensitive_values": {},
            }
        )
        changes.append(
            {
                **head,
                "provider_name": PROVIDER,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": unknown,
                },
            }
        )
        config.append(
            {**head, "provider_config_key": "aws", "expressions": expressions, "schema_version": 0}
        )
    document = {
        "format_version": "1.2",
        "terraform_version": "1.9.0",
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "full_name": PROVIDER,
                    "expressions": {"region": {"constant_value": region}},
                }
            },
            "root_module": {"resources": config},
        },
    }
    return document, unmapped


def _referenced(value: Any, addresses: dict[str, list[str]]) -> str | None:
    """The address `value` refers to: a mock id `<name>-id`, or an ARN with `<name>` as a
    path segment (the mocks build ARNs from logical names). Where two resources share a
    logical name, an ARN picks the one of its service (`ARN_SERVICES`)."""
    if not isinstance(value, str):
        return None
    if (match := MOCK_ID.match(value)) and addresses.get(match["name"]):
        return addresses[match["name"]][0]
    if not value.startswith("arn:"):
        return None
    segments = re.split(r"[/:]", value)
    hint = ARN_SERVICES.get(segments[2], "") if len(segments) > 2 else ""
    for candidates in (addresses[seg] for seg in segments[5:] if addresses.get(seg)):
        return next((a for a in candidates if a.startswith(hint)), candidates[0])
    return None


def _resolve_references(
    values: dict[str, Any], addresses: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Values that are other resources' ids or ARNs become references. At the top level they
    are unknown at plan time, with a `configuration` reference (checkov fills them in);
    inside blocks they become the reference's text (`aws_x.name.id`), which checkov's graph
    also links."""
    known: dict[str, Any] = {}
    expressions: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in values.items():
        items = value if isinstance(value, list) else [value]
        refs = [r for v in items if (r := _referenced(v, addresses))]
        if refs and len(refs) == len(items):
            unknown[key] = True
            expressions[key] = {"references": [r + ".id" for r in refs] + refs}
        else:
            known[key] = _nested_references(value, addresses)
    return known, expressions, unknown


def _nested_references(value: Any, addresses: dict[str, list[str]]) -> Any:
    if isinstance(value, dict):
        return {k: _inner(v, addresses) for k, v in value.items()}
    if isinstance(value, list):
        return [_nested_references(v, addresses) for v in value]
    return value


def _inner(value: Any, addresses: dict[str, list[str]]) -> Any:
    if isinstance(value, (dict, list)):
        return _nested_references(value, addresses)
    ref = _referenced(value, addresses)
    return f"{ref}.id" if ref else value
