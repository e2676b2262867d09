"""`runbook approve`: record an approval of a service's version for promotion to a stack.

    runbook approve --stack production --service trading-api --version 1.5.0 [--by NAME]

A promotion to a stack whose file sets `promotion.approvals: K` needs K distinct approvers
of that version (kept in `<state dir of the stack>/approvals.json`); an approver counts
once. `--by` defaults to $GITHUB_ACTOR, else the user.

Exit codes: 0 recorded (or already recorded), 2 bad input (unknown stack or service).
"""

from __future__ import annotations

from typing import Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import (
    JsonOption,
    ServiceOption,
    StackOption,
    emit_json,
    exits_cleanly,
    say,
)
from runbooks.session import require_service
from stackspec.names import version as check_version
from stackspec.stackfile import load_stack


@app.command("approve")
def approve_verb(
    stack: StackOption,
    service: ServiceOption,
    version: Annotated[str, typer.Option("--version", help="The version approved.")],
    by: Annotated[str | None, typer.Option("--by", help="Who approves.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve VERSION of SERVICE for promotion to STACK."""
    with exits_cleanly():
        settings = load_stack(stack)
        require_service(settings, service)
        check_version(version)
        from runbooks.evidence.identity import actor  # signing (cryptography): input checked
        from runbooks.promotion import approvals, approve

        who = (by or "").strip() or actor()["by"]
        entry, new = approve(stack, service, version, who)
        count = len(approvals(stack, service, version))
    needed = settings.promotion.approvals if settings.promotion else 0
    if as_json:
        emit_json({"approval": entry, "new": new, "approvals": count, "required": needed})
        return
    said = "approved" if new else "already approved"
    say(f"{who} {said} {service} {version} for stack {stack} ({count} of {needed} required)")
