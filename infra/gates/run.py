"""Run the gates on stacks and report: the engine behind `make validate`.

Each stack is planned once (`cached_plan`) and every gate reads that plan. The `policy`
gate is the policy pack itself (`infra.policycheck.check_planned`, under the stack's pack
config): it fails on the findings that would stop `pulumi up` (mandatory or remediate);
advisory ones are listed as skipped (shown with -v).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import TextIO

import yaml

from infra.gates.awsnames import awsnames_gate
from infra.gates.checkov import checkov_gate
from infra.gates.kubeschema import kubeschema_gate
from infra.gates.result import Finding, GateResult
from infra.offline import PlannedResource, plan_stack
from infra.policies.config import PolicyConfigError
from infra.policycheck import check_planned
from stackspec.stackfile import stack_path

STACKS = ("dev", "staging", "production")  # local is not deployed by Pulumi
GATES = ("kubeschema", "checkov", "awsnames", "policy")
PerStack = Callable[[str, list[PlannedResource]], GateResult]


def policy_gate(stack: str, plan: list[PlannedResource]) -> GateResult:
    """The policy pack over `plan` under `stack`'s pack config: each blocking finding fails
    the gate; a pack config that cannot be read fails it too, naming the file."""
    result = GateResult("policy", stack, checked=len(plan))
    try:
        findings = check_planned(stack, plan)
    except PolicyConfigError as exc:
        result.failures.append(Finding("pack config", "config", str(exc)))
        return result
    for found in findings:
        where, rule = found.resource, f"{found.policy} {found.level}"
        if found.blocking:
            result.failures.append(Finding(where, rule, f"{found.message} ({found.remediation})"))
        else:
            result.skipped.append(f"{found.policy} {where}: {found.level}: {found.message}")
    return result


PER_STACK: dict[str, PerStack] = {
    "kubeschema": kubeschema_gate,
    "awsnames": awsnames_gate,
    "policy": policy_gate,
}


@cache
def cached_plan(stack: str) -> list[PlannedResource]:
    """The offline plan of `stack`, computed once per process."""
    return plan_stack(stack)


def region(stack: str) -> str:
    """The stack file's `aws:region`, else the provider's default."""
    data = yaml.safe_load(stack_path(stack).read_text(encoding="utf-8")) or {}
    return str((data.get("config") or {}).get("aws:region") or "us-east-1")


def run_gates(stacks: Iterable[str] = STACKS, gates: Iterable[str] = GATES) -> list[GateResult]:
    """Every result of `gates` on `stacks`, in gate then stack order."""
    stacks, gates = list(stacks), list(gates)
    unknown = sorted(set(gates) - set(GATES))
    if unknown:
        raise ValueError(f"unknown gate(s) {unknown}; valid gates: {', '.join(GATES)}")
    plans = {stack: cached_plan(stack) for stack in stacks}
    results: list[GateResult] = []
    for gate in gates:
        if gate == "checkov":
            results += checkov_gate(plans, {stack: region(stack) for stack in stacks})
        else:
            results += [PER_STACK[gate](stack, plans[stack]) for stack in stacks]
    return results


def report(results: list[GateResult], out: TextIO, verbose: bool = False) -> None:
    """Print each result's verdict line, its failures, and what it could not check."""
    for result in results:
        print(result.summary(), file=out)
        for finding in result.failures:
            print(f"    FAILED {finding}", file=out)
        for item in result.unchecked:
            print(f"    UNCHECKED {item}", file=out)
        for item in result.skipped if verbose else ():
            print(f"    SKIPPED {item}", file=out)
    failed = [r for r in results if not r.passed]
    verdict = f"{len(failed)} of {len(results)} gate runs failed" if failed else "all passed"
    print(f"validate: {verdict}", file=out)
