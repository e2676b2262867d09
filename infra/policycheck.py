"""The policy pack applied offline: the pack's rules over a stack's offline plan.

`check_stack(stack)` plans the stack (`infra.offline.plan_stack`: the program under
set_mocks), loads the stack's pack config (`policy/config/<stack>.json`) and runs every
resource rule on every resource and every stack rule on the whole plan, as the policy
server would under `pulumi preview --policy-pack policy`. A finding carries the policy,
its enforcement level, severity, FSBP control and remediation; `blocking()` keeps those
that would stop `pulumi up` (mandatory or remediate).

Offline ids: the mocks give a resource the id `<logical name>-id`, so an input such as a
flow log's `vpcId` refers to the VPC through that string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.offline import PlannedResource, plan_stack
from infra.policies import RULES, STACK_RULES
from infra.policies.base import AnyRule, StackResource
from infra.policies.config import PackConfig, load_pack_config

BLOCKING_LEVELS = ("mandatory", "remediate")
SEVERITY_ORDER = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    """One violation: which policy, how enforced, how severe, on what, and how to fix it."""

    policy: str
    level: str
    severity: str
    control: str | None
    resource: str  # "<type> <name>", or "stack" for a stack rule
    message: str
    remediation: str

    @property
    def blocking(self) -> bool:
        return self.level in BLOCKING_LEVELS

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "blocking": self.blocking}


def offline_resource(res: PlannedResource) -> StackResource:
    """A planned resource as the stack rules see it (its mock id is `<name>-id`)."""
    return StackResource(res.type, res.name, res.props, frozenset({f"{res.name}-id"}))


def check_plan(plan: Sequence[PlannedResource], config: PackConfig) -> list[Finding]:
    """Every violation of `plan` under `config`, worst severity first (disabled rules skip)."""
    found: list[Finding] = []
    for rule in RULES:
        level, settings = config.levels[rule.name], config.settings[rule.name]
        if level == "disabled":
            continue
        for res in plan:
            for message in rule.check(res.type, res.props, settings):
                found.append(_finding(rule, level, res.label, message))
    resources = [offline_resource(r) for r in plan]
    for stack_rule in STACK_RULES:
        level = config.levels[stack_rule.name]
        if level == "disabled":
            continue
        for message in stack_rule.check(resources, config.settings[stack_rule.name]):
            found.append(_finding(stack_rule, level, "stack", message))
    return sorted(found, key=lambda f: (SEVERITY_ORDER.index(f.severity), f.policy, f.resource))


def _finding(rule: AnyRule, level: str, where: str, message: str) -> Finding:
    severity = rule.severity.value
    return Finding(rule.name, level, severity, rule.control, where, message, rule.remediation)


def check_stack(
    stack: str, stacks_dir: Path | None = None, config_dir: Path | None = None
) -> list[Finding]:
    """The violations of `stack`'s offline plan. Raises StackFileError or LocalStackRefused
    (the stack's own problems come first), then PolicyConfigError, before any rule runs."""
    plan = plan_stack(stack, stacks_dir)
    return check_plan(plan, load_pack_config(stack, (*RULES, *STACK_RULES), config_dir))


def check_planned(
    stack: str, plan: Sequence[PlannedResource], config_dir: Path | None = None
) -> list[Finding]:
    """The violations of an offline plan already computed for `stack` (for a gate that plans
    every stack once), under `stack`'s pack config. Raises PolicyConfigError."""
    return check_plan(plan, load_pack_config(stack, (*RULES, *STACK_RULES), config_dir))


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that would stop `pulumi up`."""
    return [f for f in findings if f.blocking]
