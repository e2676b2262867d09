"""`runbook rollout`: release a new version of a service through the stack's rollout steps.

    runbook rollout --stack staging --service trading-api --version 1.5.0
    runbook rollout -s local --service trading-api --version 1.1.0 --step db-migration \\
        --step cache-bump --fault error-rate=0.2      # faults: local drills only

Exit codes: 0 promoted, 3 rolled back, 2 bad input, 4 locked, 1 other error (or aborted).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from runbooks.cli.app import app
from runbooks.cli.common import (
    ForceOption,
    JsonOption,
    ServiceOption,
    StackOption,
    emit_json,
    exits_cleanly,
    say,
)
from runbooks.cli.view import TurnPrinter, state_dict
from runbooks.core.budget import StepBudget
from runbooks.core.state import Outcome, ReleaseState
from runbooks.release import rollout as run_rollout
from runbooks.session import Request, Session, current_settings, open_journal
from stackspec.errors import BadInput, ExitCode
from stackspec.model import Substrate

EXIT_FOR = {
    Outcome.PROMOTED: ExitCode.OK,
    Outcome.ROLLED_BACK: ExitCode.ROLLED_BACK,
    Outcome.ABORTED: ExitCode.FAILED,
}
FAULTS = {"error-rate": float, "added-latency-ms": int, "fail-health": bool, "crash-on-start": bool}


@app.command("rollout")
def rollout(
    stack: StackOption,
    service: ServiceOption,
    version: Annotated[str, typer.Option("--version", help="Version to release.")],
    step: Annotated[
        list[str] | None,
        typer.Option(
            "--step",
            help="Release step to apply first, in order: db-migration, config, "
            "cache-bump, edge-purge, kafka-consumer. Repeatable.",
        ),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="Drill fault for the new version, local stack only: "
            "error-rate=0.2, added-latency-ms=50, fail-health, crash-on-start.",
        ),
    ] = None,
    migration: Annotated[
        str | None,
        typer.Option(
            "--migration",
            help="Folder of migrations/ the db-migration step applies (default: the version).",
        ),
    ] = None,
    config_version: Annotated[
        int | None,
        typer.Option(
            "--config-version",
            min=1,
            help="Configuration version (config/<service>/v<N>.yaml) the config step gives "
            "the new color (default: the newest).",
        ),
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Release VERSION of SERVICE: phased traffic, analysis, promotion or automatic rollback."""
    with exits_cleanly():
        settings = current_settings(stack)
        faults = parse_faults(fault or [])
        if faults and settings.substrate is not Substrate.LOCAL:
            raise BadInput(
                "--fault is for drills on the local stack only",
                hint=f"stack '{stack}' is {settings.substrate}",
            )
        session = Session.open(stack)
        request = Request(
            stack, service, version, tuple(step or ()), faults, migration, config_version
        )
        journal = open_journal(stack)
        started = time.time()
        budget: list[StepBudget] = []

        def show_budget(steps: tuple[StepBudget, ...]) -> None:
            budget.extend(steps)
            if not as_json:
                say("detection budget (worst case, at the old color's request rate now):")
                for step in steps:
                    say(f"  {step.line()}")

        release_id, outcome = run_rollout(
            request,
            session,
            journal,
            on_turn=None if as_json else TurnPrinter(say),
            force=force,
            on_budget=show_budget,
        )
    _report(release_id, outcome, journal.events(release_id), started, as_json, budget)
    raise typer.Exit(code=EXIT_FOR[outcome])


def parse_faults(items: Sequence[str]) -> dict[str, Any]:
    """`error-rate=0.2` style items as Faults keyword arguments; BadInput for unknown ones."""
    faults: dict[str, Any] = {}
    for item in items:
        name, _, raw = item.partition("=")
        if name not in FAULTS:
            raise BadInput(f"unknown fault '{name}'", hint=f"allowed: {', '.join(FAULTS)}")
        kind = FAULTS[name]
        try:
            value: Any = True if kind is bool and not raw else kind(raw)
        except ValueError:
            raise BadInput(f"fault {name} needs a {kind.__name__}; got '{raw}'") from None
        faults[name.replace("-", "_")] = value
    return faults


def _report(
    release_id: str,
    outcome: Outcome,
    events: Sequence[Any],
    started: float,
    as_json: bool,
    budget: Sequence[StepBudget] = (),
) -> None:
    decisions = [e for e in events if e.kind == "decision"]
    last = ReleaseState.from_dict(dict(decisions[-1].data["state"])) if decisions else None
    if as_json:
        emit_json(
            {
                "release": release_id,
                "outcome": outcome.value,
                "seconds": round(time.time() - started, 3),
                "state": state_dict(last, time.time()) if last else None,
                "detection_budget": [b.as_dict() for b in budget],
                "actions": [
                    dict(e.data) | {"kind": e.kind, "at": e.at}
                    for e in events
                    if e.kind.startswith("action.") or e.kind.startswith("deploy.")
                ],
            }
        )
        return
    reason = f": {last.reason}" if last and last.reason else ""
    say(f"release {release_id} {outcome.value}{reason}")
