"""`runbook policy check`: the policy pack over a stack's offline plan, without the Pulumi CLI.

    runbook policy check --stack production [--json]

Every violation with its enforcement level, severity, FSBP control and remediation. Exit 1
if any is mandatory (it would stop `pulumi up`); 2 on a bad stack file or pack config, or
the local stack (not deployed by Pulumi); 0 otherwise (advisory findings are shown).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import STACK_ENV
from stackspec.errors import BadInput, ExitCode
from stackspec.stackfile import load_stack

if TYPE_CHECKING:
    from infra.policycheck import Finding

policy = typer.Typer(
    name="policy",
    help="The policy pack (policy/) applied offline to a stack's plan.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(policy)


@policy.command("check")
def check(
    stack: Annotated[
        str,
        typer.Option("--stack", "-s", envvar=STACK_ENV, show_envvar=True, help="Stack to check."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Apply the pack, with the stack's config, to the stack's offline plan."""
    try:
        findings = check_stack(stack)
    except BadInput as err:  # a bad stack file or pack config, or the local stack
        typer.echo(str(err), err=True)
        raise typer.Exit(code=err.exit_code) from None
    from infra.policycheck import blocking

    stopping = blocking(findings)
    if as_json:
        payload = {
            "stack": stack,
            "blocking": len(stopping),
            "findings": [f.as_json() for f in findings],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _show(stack, findings, len(stopping))
    if stopping:
        raise typer.Exit(code=ExitCode.FAILED)


def check_stack(stack: str) -> list[Finding]:
    """infra.policycheck.check_stack, the stack file loaded first: a bad name or file is
    refused before the Pulumi program (and pulumi) is imported."""
    load_stack(stack)
    from infra.policycheck import check_stack as check

    return check(stack)


def _show(stack: str, findings: list[Finding], stopping: int) -> None:
    for f in findings:
        control = f" [{f.control}]" if f.control else ""
        typer.echo(f"{f.level.upper():9} {f.severity:8} {f.policy}{control}: {f.resource}")
        typer.echo(f"    {f.message}")
        typer.echo(f"    fix: {f.remediation}")
    verdict = f"{stopping} mandatory: `pulumi up` would stop" if stopping else "nothing blocks"
    typer.echo(f"stack {stack}: {len(findings)} violation(s), {verdict}")
