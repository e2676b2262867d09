"""`runbook pause|resume|abort|promote`: record an operator's intent; the engine acts on it.

These verbs never touch traffic themselves (as in Argo Rollouts): the running engine reads
the intent from the journal within a fraction of a second and decides what it means.
Exit 2 when no release of the service is in progress.
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
from runbooks.session import current_settings, holder, open_journal, require_service

ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the journal.")]


def record(stack: str, service: str, intent: str, as_json: bool) -> None:
    """Record `intent` against the service's release in progress and say so."""
    with exits_cleanly():
        require_service(current_settings(stack), service)
        journal = open_journal(stack)
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
def abort(stack: StackOption, service: ServiceOption, as_json: JsonOption = False) -> None:
    """Stop the release and roll it back."""
    record(stack, service, "abort", as_json)


@app.command("promote")
def promote(stack: StackOption, service: ServiceOption, as_json: JsonOption = False) -> None:
    """Pass the manual promotion gate, or end the current step now."""
    record(stack, service, "promote", as_json)
