"""The stack's guard rails: every rule of the policy pack, and their `pulumi_policy` form.

Rules are plain data + functions (`base.Rule`, `base.StackRule`), one module per area:
`rds`, `elasticache`, `msk`, `edge` (CloudFront), `network` (EC2, KMS), `eks`,
`buckets` (S3), `workloads` (Kubernetes), `gateways` (Gateway API). `policies()` wraps
them for `PolicyPack` (the entry file is `policy/__main__.py`); `infra.policycheck` runs
the same rules over a stack's offline plan.
Enforcement and settings come from the pack config of the stack (`policy/config/*.json`,
see `config.py`); the pack's default level is mandatory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from infra.policies import (
    buckets,
    edge,
    eks,
    elasticache,
    gateways,
    msk,
    network,
    rds,
    workloads,
)
from infra.policies.base import (
    FSBP,
    AnyRule,
    Config,
    Props,
    Rule,
    StackResource,
    StackRule,
    defaults,
)

RULES: tuple[Rule, ...] = (
    rds.RULES
    + elasticache.RULES
    + msk.RULES
    + edge.RULES
    + network.RULES
    + eks.RULES
    + workloads.RULES
    + gateways.RULES
)
STACK_RULES: tuple[StackRule, ...] = (
    network.STACK_RULES + buckets.STACK_RULES + workloads.STACK_RULES
)
ALL_RULES: tuple[AnyRule, ...] = (*RULES, *STACK_RULES)


def rule(name: str) -> AnyRule:
    """The rule called `name`. Raises KeyError listing the names."""
    for found in ALL_RULES:
        if found.name == name:
            return found
    raise KeyError(f"no rule {name!r}; rules: {[r.name for r in ALL_RULES]}")


def violations(resource_type: str, props: Props) -> list[tuple[str, str]]:
    """Every (rule name, message) that `props` of `resource_type` breaks, at default settings."""
    return [(r.name, m) for r in RULES for m in r.check(resource_type, props, defaults(r))]


def _merged(rule_: AnyRule, configured: Mapping[str, Any]) -> Config:
    return {**defaults(rule_), **{k: v for k, v in configured.items() if k != "enforcementLevel"}}


def _resource_validator(
    rule_: Rule,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = _merged(rule_, args.get_config())
        for message in rule_.check(args.resource_type, args.props, config):
            report_violation(message, None)

    return validate


def stack_resource(resource: PolicyResource) -> StackResource:
    """A resource of the engine's stack validation as the stack rules see it."""
    props = resource.props or {}
    deps = resource.property_dependencies or {}
    refs = {k: frozenset(d.urn for d in v) for k, v in deps.items()}
    return StackResource(
        resource.resource_type, resource.name, props, _ids(props), refs, resource.urn
    )


def _ids(props: Props) -> frozenset[str]:
    found = set()
    for key in ("id", "arn"):
        try:
            value = props.get(key)
        except UnknownValueError:  # not known during a preview
            continue
        if isinstance(value, str):
            found.add(value)
    return frozenset(found)


def _stack_validator(
    rule_: StackRule,
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [stack_resource(r) for r in args.resources]
        for message in rule_.check(resources, _merged(rule_, args.get_config())):
            report_violation(message, None)

    return validate


def _metadata(rule_: AnyRule) -> dict[str, Any]:
    schema = PolicyConfigSchema(
        {s.name: {**s.schema, "default": s.default} for s in rule_.settings}
    )
    framework = PolicyComplianceFramework(FSBP, reference=rule_.control) if rule_.control else None
    return {
        "name": rule_.name,
        "description": rule_.description,
        "severity": rule_.severity,
        "remediation_steps": rule_.remediation,
        "config_schema": schema if rule_.settings else None,
        "framework": framework,
        "tags": [rule_.control] if rule_.control else [],
    }


def policies() -> list[Policy]:
    """Every rule as a `pulumi_policy` policy (levels come from the pack and its config)."""
    found: list[Policy] = [
        ResourceValidationPolicy(validate=_resource_validator(r), **_metadata(r)) for r in RULES
    ]
    found += [
        StackValidationPolicy(validate=_stack_validator(r), **_metadata(r)) for r in STACK_RULES
    ]
    return found
