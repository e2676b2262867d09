"""Run the program without the Pulumi CLI: every resource it would declare, with inputs.

`plan_stack` loads a stack file, feeds it to the program as engine config and runs it under
`pulumi.runtime.set_mocks`, so the offline plan goes through the same path as `pulumi up`
(config -> validated settings -> components). `parity` compares two plans' shape.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from infra.program import run
from stackspec.stackfile import PROJECT, SECRET_MASK, config_section, load_stack, stack_path

# Keys whose values are size, environment or release state, not shape (camelCase inputs).
SIZE_KEYS = frozenset(
    {
        "instanceClass",
        "allocatedStorage",
        "numCacheClusters",
        "nodeType",
        "instanceType",
        "numberOfBrokerNodes",
        "volumeSize",
        "replicas",
        "minReplicas",
        "maxReplicas",
        "cpu",
        "memory",
        "defaultTtl",
        "maxTtl",
        "partitions",
        "partitionCount",
        "backupRetentionPeriod",
        "storage",
        "bakeSeconds",
        "minAvailable",
        "averageUtilization",
        "snapshotRetentionLimit",
        "instanceTypes",
        "scalingConfig",
    }
)
ENVIRONMENT_KEYS = frozenset(
    {
        "cidrBlock",
        "cidr",
        "domainName",
        "hostname",
        "hostnames",
        "namespace",
        "aliases",
        "acmCertificateArn",
    }
)
RELEASE_KEYS = frozenset({"image", "version", "weight"})
NOT_SHAPE = SIZE_KEYS | ENVIRONMENT_KEYS | RELEASE_KEYS
# Inputs that carry a secret value, by exact (camelCase) name. Exact, not "contains
# token/secret": httpTokens, secretName, secretRef, secretId, secretKey or
# masterUserSecretKmsKeyId are settings and references the plan must show.
SECRET_KEYS = frozenset(
    {
        "password",
        "masterPassword",
        "authToken",
        "token",
        "secretString",
        "secretBinary",
        "privateKey",
    }
)
# Every value under these keys of a Kubernetes Secret is secret, whatever its name.
KUBERNETES_SECRET = "kubernetes:core/v1:Secret"
KUBERNETES_SECRET_KEYS = frozenset({"data", "stringData"})
INDEXED = re.compile(r"-\d+$")
INDEX_IN_TEXT = re.compile(r"-\d+(?=$|[-/])")
# How a secret input reaches the mocks: Pulumi's wire marker for a secret value.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"

# Outputs real providers compute; the mocks fill them so dependent inputs are readable.
FAKE_OUTPUTS: dict[str, dict[str, Any]] = {
    "aws:rds/instance:Instance": {
        "endpoint": "{name}.mock.rds.amazonaws.com:5432",
        "identifier": "{name}",
        "masterUserSecrets": [
            {"secretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!{name}"}
        ],
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": {
        "primaryEndpointAddress": "{name}.mock.cache.amazonaws.com"
    },
    "aws:msk/cluster:Cluster": {
        key: "b-1.{name}.mock.kafka.amazonaws.com:" + port
        for key, port in (
            ("bootstrapBrokersSaslIam", "9098"),
            ("bootstrapBrokersSaslScram", "9096"),
            ("bootstrapBrokersTls", "9094"),
        )
    }
    | {"arn": "arn:aws:kafka:us-east-1:000000000000:cluster/{name}/mock-uuid-1"},
    "aws:cloudfront/distribution:Distribution": {"domainName": "{name}.cloudfront.net"},
    "aws:kms/key:Key": {"arn": "arn:aws:kms:us-east-1:000000000000:key/{name}"},
    "random:index/randomPassword:RandomPassword": {"result": "mock-password-{name}"},
    "random:index/randomId:RandomId": {"hex": "0a1b2c3d"},
    "aws:msk/configuration:Configuration": {
        "arn": "arn:aws:kafka:us-east-1:000000000000:configuration/{name}/mock-uuid-2",
        "latestRevision": 1,
    },
    "aws:wafv2/webAcl:WebAcl": {
        "arn": "arn:aws:wafv2:us-east-1:000000000000:global/webacl/{name}/mock-uuid-3"
    },
    "aws:s3/bucketV2:BucketV2": {"bucketDomainName": "{name}.s3.amazonaws.com"},
    "aws:eks/cluster:Cluster": {
        "arn": "arn:aws:eks:us-east-1:000000000000:cluster/{name}",
        "endpoint": "https://{name}.mock.eks.amazonaws.com",
        "certificateAuthority": {"data": "bW9jay1jYQ=="},
        "identities": [
            {"oidcs": [{"issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/MOCK{name}"}]}
        ],
        "vpcConfig": {"vpcId": "vpc-mock", "clusterSecurityGroupId": "sg-mock-{name}"},
    },
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
        "arn": "arn:aws:iam::000000000000:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/MOCK"
    },
    "aws:iam/role:Role": {"arn": "arn:aws:iam::000000000000:role/{name}"},
    "aws:cloudwatch/logGroup:LogGroup": {
        "arn": "arn:aws:logs:us-east-1:000000000000:log-group:{name}"
    },
    "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
    "aws:secretsmanager/secret:Secret": {
        "arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}"
    },
}

# Results of the data sources (invokes) the program calls, by token.
FAKE_CALLS: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "000000000000",
        "arn": "arn:aws:iam::000000000000:user/mock",
        "id": "000000000000",
        "userId": "MOCK",
    },
    "aws:index/getPartition:getPartition": {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
        "reverseDnsPrefix": "com.amazonaws",
    },
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": {
        "id": "pl-3b927c52",
        "name": "{name}",
        "addressFamily": "IPv4",
        "maxEntries": 55,
    },
    "aws:eks/getCluster:getCluster": {
        "name": "{name}",
        "endpoint": "https://{name}.mock.eks.amazonaws.com",
        "certificateAuthorities": [{"data": "bW9jay1jYQ=="}],
    },
}


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program declares: Pulumi type, logical name, inputs (secrets masked)."""

    type: str
    name: str
    props: dict[str, Any]

    @property
    def label(self) -> str:
        """`<type> <name>`: how every gate, policy finding and report names the resource."""
        return f"{self.type} {self.name}"


@dataclass(frozen=True)
class Difference:
    """One way two stacks differ in shape."""

    type: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.type} {self.name}: {self.detail}"


class RecordingMocks(Mocks):
    """Mocks that record every registered resource and echo inputs back as outputs."""

    def __init__(self) -> None:
        self.resources: list[PlannedResource] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        masked = mask_inputs(args.typ, args.inputs)
        self.resources.append(PlannedResource(args.typ, args.name, masked))
        fakes = _filled(FAKE_OUTPUTS.get(args.typ, {}), args.name)
        # AWS names physical resources itself (auto-naming): stand in with the logical name.
        named = {"name": args.name} if args.typ.startswith("aws:") else {}
        return f"{args.name}-id", {**named, **args.inputs, **fakes}

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        return _filled(FAKE_CALLS.get(args.token, {}), str(args.args.get("name", ""))), []


def _filled(value: Any, name: str) -> Any:
    """`value` with `{name}` in every string replaced by the resource's logical name."""
    if isinstance(value, dict):
        return {k: _filled(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, name) for v in value]
    return value.format(name=name) if isinstance(value, str) else value


def mask_inputs(type_: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A resource's inputs as the plan shows them: `mask_secrets`, and for a Kubernetes
    Secret every value of its `data` and `stringData` too (plain or not, they are the
    secret)."""
    masked: dict[str, Any] = mask_secrets(inputs)
    if type_ == KUBERNETES_SECRET:
        for key in KUBERNETES_SECRET_KEYS & masked.keys():
            values = masked[key]
            masked[key] = (
                {k: SECRET_MASK for k in values} if isinstance(values, dict) else SECRET_MASK
            )
    return masked


def mask_secrets(value: Any, key: str = "") -> Any:
    """`value` with every Pulumi secret, and every string under a key of `SECRET_KEYS`,
    replaced by the mask."""
    if isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_SIG_VALUE:
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, key) for v in value]
    if isinstance(value, str) and key in SECRET_KEYS:
        return SECRET_MASK
    return value


def engine_config(stack: str, stacks_dir: Path | None = None) -> dict[str, str]:
    """The stack file's project keys as the engine passes them: `project:key` -> text."""
    import yaml

    path = stack_path(stack, stacks_dir)
    section = config_section(path, yaml.safe_load(path.read_text(encoding="utf-8")))
    return {
        f"{PROJECT}:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in section.items()
    }


def plan_stack(stack: str, stacks_dir: Path | None = None) -> list[PlannedResource]:
    """Every resource `stack` declares. Raises StackFileError, or LocalStackRefused."""
    load_stack(stack, stacks_dir)  # the runbooks' validation and error, before anything runs
    config = engine_config(stack, stacks_dir)
    # A fresh context: the runtime keeps its settings, config and root in ContextVars, so
    # each plan starts clean and leaves nothing behind for the caller.
    return contextvars.Context().run(_plan_in_context, stack, config)


def _plan_in_context(stack: str, config: dict[str, str]) -> list[PlannedResource]:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.test(run)()  # type: ignore[no-untyped-call]
    return recorder.resources


def shape(props: Any, stack: str | None = None) -> Any:
    """`props` without the keys that are size, environment or release state; in text, the
    stack's name reads `<stack>` and an index (`replica-2`) reads `#` (physical names)."""
    if isinstance(props, dict):
        return {k: shape(v, stack) for k, v in props.items() if k not in NOT_SHAPE}
    if isinstance(props, list):
        return [shape(v, stack) for v in props]
    if isinstance(props, str):
        text = props.replace(stack, "<stack>") if stack else props
        return INDEX_IN_TEXT.sub("-#", text)
    return props


def _by_shape_key(
    plan: list[PlannedResource], stack: str | None
) -> dict[tuple[str, str], set[str]]:
    # Indexed names (database-replica-1, -2) collapse into one: their count is size.
    grouped: dict[tuple[str, str], set[str]] = defaultdict(set)
    for res in plan:
        key = (res.type, INDEXED.sub("-#", res.name))
        grouped[key].add(json.dumps(shape(res.props, stack), sort_keys=True, default=str))
    return grouped


def parity(
    a: list[PlannedResource],
    b: list[PlannedResource],
    stacks: tuple[str, str] | None = None,
) -> list[Difference]:
    """How plans `a` and `b` differ in shape: resources only in one, or different settings.

    `stacks`: the two plans' stack names, so that names made from them are not differences.
    """
    left, right = _by_shape_key(a, stacks and stacks[0]), _by_shape_key(b, stacks and stacks[1])
    only_a, only_b = sorted(left.keys() - right.keys()), sorted(right.keys() - left.keys())
    diffs = [Difference(t, n, "only in the first stack") for t, n in only_a]
    diffs += [Difference(t, n, "only in the second stack") for t, n in only_b]
    for key in sorted(left.keys() & right.keys()):
        if left[key] != right[key]:
            detail = _prop_difference(left[key], right[key])
            diffs.append(Difference(key[0], key[1], detail))
    return diffs


def _prop_difference(left: set[str], right: set[str]) -> str:
    a = _flatten(json.loads(min(left)))
    b = _flatten(json.loads(min(right)))
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    shown = ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in changed[:5])
    return shown or "settings differ between indexed copies"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}
