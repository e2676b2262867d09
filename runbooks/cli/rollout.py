"""`runbook rollout`: release a new version of a service through the stack's rollout steps.

    runbook rollout --stack staging --service trading-api --version 1.5.0
    runbook rollout -s local --service trading-api --version 1.1.0 --step db-migration \\
        --step cache-bump --fault error-rate=0.2      # faults: local drills only
    runbook rollout --stack production --service trading-api --from staging \\
        [--evidence FILE] [--decision-record FILE]    # a promotion: see runbooks.promotion
    runbook rollout -s local --service trading-api=1.2.0 --service market-data=1.2.0 \\
        [--step db-migration] [--fault market-data:error-rate=0.2]   # one release of both

Several services (`--service NAME=VERSION`, repeated; see runbooks.cli.members) are one
release: one journal record, one lock, the services move through the steps together, and
a failure of any rolls all of them back, newest first (runbooks.core.group). Release steps
are stack-wide: they belong to the first service. A multi-service release is not promoted
from evidence (`--from`): promote each service on its own.

A promotion takes the version from the source's evidence (exported on the fly from the
source's journal when --evidence is left out) and refuses, exit 2, naming what is missing,
unless the evidence is valid and not void, the source has soaked, the approvals are there,
the target's offline plan passes its policies and the stacks have one shape. A stack whose
file sets `promotion.requireEvidenceFrom` takes no rollout without --from. A promotion
writes a decision record (JSON: what, evidence digest, approvals, checks, times, outcome)
to --decision-record or `<state dir>/decisions/`, and prints where; a refused one writes
it only to a --decision-record named.

Exit codes: 0 promoted, 3 rolled back, 2 bad input, 4 locked, 1 other error (or aborted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbooks.cli.app import app
from runbooks.cli.common import (
    ForceOption,
    JsonOption,
    StackOption,
    emit_json,
    exits_cleanly,
    say,
)
from runbooks.cli.members import ServicesOption
from runbooks.cli.public import Output, OutputOption, output_of
from stackspec.errors import BadInput, ExitCode

# The engine, the live view (rich), the settings model (pydantic) and evidence signing are
# imported once the input is checked: `--help` and a refusal answer without them.
if TYPE_CHECKING:
    from runbooks.cli.events import StreamContext
    from runbooks.cli.live import Follower
    from runbooks.core.budget import StepBudget
    from runbooks.core.state import Action, Outcome, ReleaseState
    from runbooks.journal.base import Journal
    from runbooks.promotion import Admission
    from stackspec.model import StackSettings

# Keyed by Outcome's values (a StrEnum: Outcome.PROMOTED finds "promoted").
EXIT_FOR: dict[str, ExitCode] = {
    "promoted": ExitCode.OK,
    "rolled-back": ExitCode.ROLLED_BACK,
    "aborted": ExitCode.FAILED,
}


@app.command("rollout")
def rollout(
    stack: StackOption,
    service: ServicesOption,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="Version to release, with one --service NAME (with --from: from the evidence).",
        ),
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(
            "--step",
            help="Release step to apply first, in order: db-migration, config, "
            "cache-bump, edge-purge. Repeatable. Stack-wide: with several "
            "services they belong to the first (applied before traffic moves, undone last).",
        ),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="Drill fault for the new version, local stack only: "
            "error-rate=0.2, added-latency-ms=50, fail-health, crash-on-start; "
            "SERVICE:error-rate=0.2 for one service of several.",
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
    source: Annotated[
        str | None,
        typer.Option("--from", help="Promote what this stack proved: its evidence decides."),
    ] = None,
    evidence: Annotated[
        Path | None,
        typer.Option("--evidence", help="The source's evidence file (with --from)."),
    ] = None,
    record_to: Annotated[
        Path | None,
        typer.Option(
            "--decision-record",
            help="Where the promotion's decision record goes (default: the state dir).",
        ),
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Release VERSION of SERVICE: phased traffic, analysis, promotion or automatic rollback."""
    with exits_cleanly():
        shown = output_of(output, as_json)
        refuse_early(stack, service, version, fault or [])
        from runbooks.cli.members import parse_members
        from runbooks.faults import parse_faults
        from runbooks.session import current_settings

        settings = current_settings(stack)
        members = parse_members(service, version, fault or [], settings, parse_faults)
        from runbooks.cli.live import follow
        from runbooks.promotion import decision_record, requirement, write_decision
        from runbooks.release import rollout as run_rollout
        from runbooks.session import Request, Session, open_journal
        from stackspec.model import Substrate

        lead = members[0].service
        if any(m.faults for m in members) and settings.substrate is not Substrate.LOCAL:
            raise BadInput(
                "--fault is for drills on the local stack only",
                hint=f"stack '{stack}' is {settings.substrate}",
            )
        if len(members) > 1 and (source is not None or requirement(settings) is not None):
            raise BadInput(
                "a release of several services is not promoted from evidence",
                hint="promote each service with --from, one at a time",
            )
        version = members[0].version
        admission = _promotion(stack, lead, version, source, evidence, record_to, settings)
        version = admission.version if admission else version
        if not version:
            raise BadInput("--version is required", hint="or --from STACK to take it from evidence")
        session = Session.open(stack)
        requests = [
            Request(
                stack,
                m.service,
                m.version or version,
                tuple(step or ()) if i == 0 else (),
                m.faults,
                migration,
                config_version,
            )
            for i, m in enumerate(members)
        ]
        journal = open_journal(stack)
        started = time.time()
        budget: list[StepBudget] = []

        def show_budget(steps: tuple[StepBudget, ...]) -> None:
            budget.extend(steps)
            if shown is Output.TEXT:
                say("detection budget (worst case, at the old color's request rate now):")
                for step in steps:
                    say(f"  {step.line()}")

        def current_id() -> str | None:
            record = journal.current(stack, lead)
            return record.id if record else None

        with follow(shown, journal, stream_context(settings, stack), current_id) as follower:
            release_id, outcome = run_rollout(
                requests,
                session,
                journal,
                on_turn=OriginRecorder(journal, stack, lead, admission, follower.on_turn),
                force=force,
                on_budget=show_budget,
            )
            follower.finish(release_id)
        extra: dict[str, Any] = {}
        if admission is not None:
            record = decision_record(admission, release_id, outcome.value, started, time.time())
            extra["decision_record"] = str(write_decision(record, record_to, stack))
    _report(follower, outcome, journal.events(release_id), started, shown, budget, extra)
    raise typer.Exit(code=EXIT_FOR[outcome])


def refuse_early(
    stack: str, services: Sequence[str], version: str | None, faults: Sequence[str]
) -> None:
    """The refusals that need only names: a bad version or fault, a missing stack file, a
    service its file does not declare (as runbooks.session.require_service words it). They
    read the file as YAML, without the settings model, so they answer at once; anything
    else (a file the model refuses, a fault for a service not released) is left to the
    full check that follows."""
    from runbooks.cli.early_lock import check_names
    from runbooks.faults import parse_faults
    from stackspec.names import version as check_version
    from stackspec.stackfile import read_config, stack_path

    if version is not None:
        check_version(version)
    for item in faults:  # each alone: SERVICE:fault or fault
        parse_faults([item.partition(":")[2] or item])
    check_names(read_config(stack_path(stack)), services, versions=())


def stream_context(settings: StackSettings, stack: str) -> StreamContext:
    """What the release's events need from the stack: its name, each service's kind, local,
    and each consumer's topics with their partition counts."""
    from runbooks.cli.events import StreamContext
    from stackspec.model import Substrate

    kinds = {s.name: s.kind for s in settings.services}
    counts = {t.name: t.partitions for t in settings.streaming.topics}
    partitions = {
        s.name: {t: counts[t] for t in s.consumes if t in counts}
        for s in settings.services
        if s.kind == "consumer"
    }
    return StreamContext(stack, kinds, settings.substrate is Substrate.LOCAL, partitions)


def _promotion(
    stack: str,
    service: str,
    version: str | None,
    source: str | None,
    evidence: Path | None,
    record_to: Path | None,
    settings: StackSettings,
) -> Admission | None:
    """The admitted promotion, None for a plain rollout; BadInput (exit 2) naming every
    missing item when the stack requires a promotion or --from asks for one and it fails."""
    from runbooks.promotion import admit, decision_record, requirement, write_decision

    if source is None and requirement(settings) is None:
        if evidence is not None or record_to is not None:
            raise BadInput("--evidence and --decision-record go with --from STACK")
        return None
    admission = admit(stack, service, source, evidence, version)
    if not admission.ok:
        if record_to is not None:
            from runbooks.cli.common import errors

            where = write_decision(decision_record(admission, None, "refused"), record_to, stack)
            errors.print(f"decision record: {where}", markup=False)
        raise admission.refusal()
    return admission


class OriginRecorder:
    """Journals who or what started the release (and from which evidence) on its first
    turn, for its evidence later; then hands each turn to `inner`."""

    def __init__(
        self,
        journal: Journal,
        stack: str,
        service: str,
        admission: Admission | None,
        inner: Callable[[ReleaseState, Sequence[Action]], None] | None,
    ) -> None:
        self.journal, self.stack, self.service = journal, stack, service
        self.admission, self.inner = admission, inner
        self.recorded = False

    def __call__(self, state: ReleaseState, actions: Sequence[Action]) -> None:
        if not self.recorded:
            self.recorded = True
            current = self.journal.current(self.stack, self.service)
            if current is not None:
                from runbooks.evidence.record import ORIGIN

                self.journal.append(current.id, ORIGIN, self._origin())
        if self.inner is not None:
            self.inner(state, actions)

    def _origin(self) -> dict[str, Any]:
        from runbooks.evidence.identity import actor

        origin = actor()
        if self.admission is not None:
            origin["promotion"] = {
                "from": self.admission.source,
                "evidence": self.admission.evidence_digest,
            }
        return origin


def _report(
    follower: Follower,
    outcome: Outcome,
    events: Sequence[Any],
    started: float,
    shown: Output,
    budget: Sequence[StepBudget] = (),
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The end of a rollout: json's one document, or what the events did not say (the
    outcome itself was the last event of the log, the view and the jsonl stream)."""
    from runbooks.cli.view import state_dict
    from runbooks.core.state import ReleaseState

    decisions = [e for e in events if e.kind == "decision"]
    last = ReleaseState.from_dict(dict(decisions[-1].data["state"])) if decisions else None
    members = _members(decisions[-1].data) if decisions else []
    if shown is Output.JSON:
        emit_json(
            {
                "release": follower.release_id,
                "outcome": outcome.value,
                "seconds": round(time.time() - started, 3),
                "state": state_dict(last, time.time()) if last else None,
                "detection_budget": [b.as_dict() for b in budget],
                **({"members": members} if len(members) > 1 else {}),
                **dict(extra or {}),
                "events": [e.as_json() for e in follower.events],
            }
        )
        return
    lines = [_member_line(m) for m in members] if len(members) > 1 else []
    lines += [f"{name.replace('_', ' ')}: {value}" for name, value in (extra or {}).items()]
    from runbooks.cli.common import errors  # rich's console, made when first asked for

    for line in lines:
        # jsonl's last line is the outcome event: what it does not carry goes to stderr.
        if shown is Output.TEXT:
            say(line)
        else:
            errors.print(line, markup=False)


def _members(decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each member of the release as its last decision left it (one for a single service)."""
    from runbooks.core.state import ReleaseState
    from runbooks.engine import member_decisions

    found = []
    for part in member_decisions(decision):
        state = ReleaseState.from_dict(dict(part["state"]))
        plan = state.plan
        found.append(
            {
                "service": plan.service,
                "version": plan.version,
                "phase": state.phase.value,
                "old": f"{plan.old_version} on {plan.old_color}",
                "reason": state.reason,
            }
        )
    return found


def _member_line(member: Mapping[str, Any]) -> str:
    """`  market-data 1.2.0: rolled-back (was 1.0.0 on blue): why`."""
    why = f": {member['reason']}" if member["reason"] else ""
    what = f"{member['service']} {member['version']}: {member['phase']}"
    return f"  {what} (was {member['old']}){why}"
