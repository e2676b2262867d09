"""`runbook pause|resume|abort|promote`: record an operator's intent; the engine acts on it.

These verbs never touch traffic themselves (as in Argo Rollouts): the running engine reads
the intent from the journal within a fraction of a second and decides what it means.
Exit 2 when no release of the service is in progress. `abort` asks first on a terminal, and
needs --yes elsewhere; `promote --full` skips the remaining steps (all traffic at once).
"""

from __future__ import annotations

from typing import Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import (
    JsonOption,
    ServiceOption,
    StackOption,
    YesOption,
    confirm,
    emit_json,
    exits_cleanly,
    say,
)
from runbooks.session import current_settings, holder, open_journal, require_service
from stackspec.errors import BadInput

ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the journal.")]


def record(
    stack: str, service: str, intent: str, as_json: bool, ask: str = "", yes: bool = False
) -> None:
    """Record `intent` against the service's release in progress and say so; with `ask`,
    once confirmed (see `confirm`), when a release is in progress."""
    with exits_cleanly():
        require_service(current_settings(stack), service)
        journal = open_journal(stack)
        running = journal.current(stack, service)
        if intent == "promote-full" and running is not None and running.plan.get("members"):
            raise BadInput(
                f"release {running.id} moves {running.service} in lockstep: `promote --full` "
                "moves one service alone and is not applied to it",
                hint=f"`runbook promote -s {stack} --service {service}` ends the current step "
                "for all of them",
            )
        if ask and running is not None:
            confirm(f"{ask} release {running.id} of {service} on {stack}", yes)
        recorded = journal.record_intent(stack, service, intent, holder())
    if as_json:
        emit_json({"intent": intent, "release": recorded.release_id, "id": recorded.id})
    else:
        say(f"{intent} recorded for release {recorded.release_id}; the engine acts on it next")


@app.command("pause")
def pause(stack: StackOption, service: ServiceOption, as_json: JsonOption = False) -> None:
    """Hold the release at its current step (analysis, and so rollback, keeps running)."""
    record(stack, service, "pause", as_json)


@app.command("abort")
def abort(
    stack: StackOption, service: ServiceOption, yes: YesOption = False, as_json: JsonOption = False
) -> None:
    """Stop the release and roll it back."""
    record(stack, service, "abort", as_json, ask="abort (roll back)", yes=yes)


@app.command("promote")
def promote(
    stack: StackOption,
    service: ServiceOption,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Skip the remaining steps: all traffic to the new version now."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Pass the manual promotion gate, or end the current step now."""
    record(stack, service, "promote-full" if full else "promote", as_json)
