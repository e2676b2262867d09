"""`runbook plan`: what a stack's Pulumi program declares, without the Pulumi CLI.

    runbook plan --stack production [--json]   every resource with its inputs (secrets masked)
    runbook plan --parity staging production   shape differences (size is ignored); exit 1 if any

A bad stack file, or the local stack (not deployed by Pulumi), exits 2. The stack may come
from RUNBOOK_STACK; --parity ignores it. The Pulumi program (and pulumi) is imported only
once the stack file has loaded, so a bad name is refused at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.core import ParameterSource

from runbooks.cli.app import app
from runbooks.cli.common import STACK_ENV
from stackspec.errors import BadInput, ExitCode
from stackspec.stackfile import load_stack

if TYPE_CHECKING:
    from infra.offline import Difference, PlannedResource

MAX_PROPS_WIDTH = 100


@app.command("plan")
def plan(
    ctx: typer.Context,
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", envvar=STACK_ENV, show_envvar=True, help="Stack to plan."),
    ] = None,
    parity_of: Annotated[
        tuple[str, str] | None,
        typer.Option("--parity", help="Compare the shape of two stacks: --parity A B."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Plan a stack offline (--stack), or compare two stacks' shape (--parity A B)."""
    if parity_of is not None and ctx.get_parameter_source("stack") is ParameterSource.ENVIRONMENT:
        stack = None
    if (stack is None) == (parity_of is None):
        _fail("give exactly one of --stack NAME or --parity A B")
    try:
        for name in parity_of or (stack,):
            load_stack(name or "")  # a bad name or file is refused before pulumi is imported
        from infra.offline import plan_stack

        if parity_of is not None:
            _show_parity(*parity_of, as_json=as_json)
        else:
            assert stack is not None
            _show_plan(stack, plan_stack(stack), as_json=as_json)
    except BadInput as err:  # a bad stack file, or the local stack (LocalStackRefused)
        _fail(str(err))


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code=ExitCode.BAD_INPUT)


def _show_plan(stack: str, resources: list[PlannedResource], as_json: bool) -> None:
    if as_json:
        payload = {
            "stack": stack,
            "resources": [{"type": r.type, "name": r.name, "props": r.props} for r in resources],
        }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"stack {stack}: {len(resources)} resources")
    for column in ("type", "name", "inputs"):
        table.add_column(column, overflow="fold")
    for res in sorted(resources, key=lambda r: (r.type, r.name)):
        props = json.dumps(res.props, sort_keys=True, default=str)
        table.add_row(res.type, res.name, props[:MAX_PROPS_WIDTH])
    Console().print(table)


def _show_parity(first: str, second: str, as_json: bool) -> None:
    from infra.offline import parity, plan_stack

    differences = parity(plan_stack(first), plan_stack(second), (first, second))
    if as_json:
        payload = {
            "stacks": [first, second],
            "differences": [_difference_json(d) for d in differences],
        }
        typer.echo(json.dumps(payload, indent=2))
    elif differences:
        typer.echo(f"{first} and {second} differ in shape ({len(differences)}):")
        for diff in differences:
            typer.echo(f"  - {diff}")
    else:
        typer.echo(f"{first} and {second} have the same shape (they differ only in size)")
    if differences:
        raise typer.Exit(code=ExitCode.FAILED)


def _difference_json(diff: Difference) -> dict[str, str]:
    return {"type": diff.type, "name": diff.name, "detail": diff.detail}
