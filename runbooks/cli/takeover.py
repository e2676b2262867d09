"""`runbook resume` and `runbook rollback`: make a release go on, or undo it — whether its
engine is still running (the intent is recorded and that engine acts) or was killed (this
command takes the stack's lock and drives the release itself from the journal).

    runbook resume   --stack local --service trading-api [--force]
    runbook rollback --stack local --service trading-api [--force]
    runbook rollback --stack local --service trading-api --restore-db [--yes]
    runbook rollback --stack local --backup-id 20261125T101500Z-1a2b3c4d [--yes]  # db only

A rollback reverts a migration's expand, keeping every row. Restoring the backup taken
before it (`--restore-db`, `--backup-id`) is the last resort: it first reports the rows it
would lose and does nothing without `--yes`.
A killed engine leaves its lock behind: `--force` takes it over once its process is gone.
`rollback`, and `resume --force`, ask first on a terminal and need --yes elsewhere (exit 2,
nothing done, naming the command to run).
With no release in progress, `rollback` undoes the service's latest promoted release
(traffic back on the old color, which is kept warm, then its release steps undone).
Exit codes: 0 promoted/restored, or rolled back by `rollback` (what was asked); 3 a resumed
release that ended rolled back; 2 bad input; 4 locked; 1 other error.

After a rollback it prints how long each step took (traffic, stack state, each undo, the
restore if one ran) and the total against the stack's target for the kind of change
(`rollout.rollbackTargets`: configuration, API, schema; see runbooks.rollback_timing);
`--json` carries the same under "rollback".
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import (
    ForceOption,
    JsonOption,
    StackOption,
    YesOption,
    confirm,
    emit_json,
    exits_cleanly,
    fail,
    say,
)
from runbooks.cli.live import Follower, Output, OutputOption, follow, output_of
from runbooks.cli.rollout import EXIT_FOR, stream_context
from runbooks.cli.view import rollback_lines
from runbooks.core.state import Outcome
from runbooks.journal.base import Journal, ReleaseRecord
from runbooks.journal.lock import holder_alive
from runbooks.release import resume as resume_release
from runbooks.release import revert_promoted
from runbooks.rollback_timing import RollbackTiming, StepTime, rollback_timing
from runbooks.session import Session, holder, open_journal, require_service
from stackspec.errors import BadInput, ExitCode, LockedError
from stackspec.stackfile import load_stack

WAIT_POLL_SECONDS = 0.2
OptionalService = Annotated[str | None, typer.Option("--service", help="Service of the stack.")]
BackupOption = Annotated[
    str | None, typer.Option("--backup-id", help="Restore the database from this backup.")
]


@app.command("resume")
def resume(
    stack: StackOption,
    service: Annotated[str, typer.Option("--service")],
    force: ForceOption = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Continue a paused release, or an interrupted one from its journal."""
    shown = output_of(output, as_json)
    if force:
        _confirm(stack, service, f"take over the lock of stack {stack} to resume {service}", yes)
    outcome, release_id, seen = _drive(stack, service, "resume", force, shown)
    _finish(release_id, outcome, shown, seen)


@app.command("rollback")
def rollback(
    stack: StackOption,
    service: OptionalService = None,
    backup_id: BackupOption = None,
    restore_db: Annotated[
        bool,
        typer.Option(
            "--restore-db",
            help="Also restore the backup taken before the release's migration (last resort).",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Do it without asking (needed when not on a terminal); accepts a restore's "
            "losses.",
        ),
    ] = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Roll the service's release back: traffic first, then its release steps, newest first."""
    from runbooks.cli.db import restore_backup

    shown = output_of(output, as_json)
    as_json = shown is not Output.TEXT

    if backup_id is not None:
        only_db = restore_backup(stack, backup_id, yes, force, as_json)
        raise typer.Exit(code=ExitCode.OK if only_db.ok else ExitCode.FAILED)
    if service is None:
        fail("give --service (or --backup-id to restore the database only)", ExitCode.BAD_INPUT)
    backup = _release_backup(stack, service) if restore_db else None
    if backup is not None and not yes:
        restore_backup(stack, backup, yes, force, as_json)  # reports the losses, exits 2
    _confirm(stack, service, f"roll back {service} on stack {stack}", yes)
    outcome, release_id, seen = _drive(stack, service, "rollback", force, shown)
    timing = _timing(stack, release_id)
    if backup is not None and outcome is not Outcome.ABORTED:
        began = time.monotonic()
        restored = restore_backup(stack, str(backup), yes, force, as_json).ok
        took = StepTime(f"restore {backup}", time.monotonic() - began, restored)
        timing = timing.plus(took) if timing is not None else None
        if not restored:
            _say_timing(timing, as_json)
            failed = f"release {release_id} {outcome.value}, but the restore of {backup} failed"
            fail(failed, ExitCode.FAILED)
    _finish(release_id, outcome, shown, seen, timing, asked=Outcome.ROLLED_BACK)


def _confirm(stack: str, service: str, action: str, yes: bool) -> None:
    """`confirm(action)` once the stack and service are known (bad names are refused first)."""
    with exits_cleanly():
        if not yes:
            require_service(load_stack(stack), service)
        confirm(action, yes)


def _timing(stack: str, release_id: str) -> RollbackTiming | None:
    """How long the release's rollback took, from its journal, against the stack's target."""
    with exits_cleanly():
        targets = load_stack(stack).rollout.rollback_targets
        return rollback_timing(open_journal(stack).events(release_id), targets)


def _say_timing(timing: RollbackTiming | None, as_json: bool) -> None:
    if timing is not None and not as_json:
        for line in rollback_lines(timing):
            say(line)


def _release_backup(stack: str, service: str) -> str:
    """The backup taken before the migration of the service's release being rolled back."""
    from runbooks.engine import applied_outcome

    with exits_cleanly():
        journal = open_journal(stack)
        record = journal.current(stack, service) or journal.latest(stack, service)
        applied = applied_outcome(journal, record.id)("db-migration") if record else None
        backup = applied.data.get("backup_id") if applied is not None else None
        if not backup:
            raise BadInput(
                f"the latest release of {service} on {stack} took no database backup",
                hint="`runbook db backups` lists the backups; restore one with --backup-id",
            )
        return str(backup)


def _drive(
    stack: str, service: str, intent: str, force: bool, shown: Output
) -> tuple[Outcome, str, list[dict[str, object]]]:
    """Run (or wait for) the release to its end, showing its events as `shown` asks; the
    outcome, the release and its events as JSON."""
    with exits_cleanly():
        session = Session.open(stack)
        settings = session.settings
        require_service(settings, service)
        journal = open_journal(stack)
        record = journal.current(stack, service)

        def current_id() -> str | None:
            now = journal.current(stack, service)
            return now.id if now else None

        with follow(shown, journal, stream_context(settings, stack), current_id) as follower:
            outcome, release_id = _run(session, journal, record, service, intent, force, follower)
            follower.finish(release_id)
        return outcome, release_id, [e.as_json() for e in follower.events]


def _run(
    session: Session,
    journal: Journal,
    record: ReleaseRecord | None,
    service: str,
    intent: str,
    force: bool,
    follower: Follower,
) -> tuple[Outcome, str]:
    stack, settings = session.stack, session.settings
    if record is None:
        if intent == "resume":
            raise BadInput(
                f"no release of {service} is in progress on {stack}",
                hint=f"`runbook status -s {stack} --service {service}` shows its latest; "
                f"`runbook retry -s {stack} --service {service}` starts a rolled-back one again",
            )
        return revert_promoted(service, session, journal, force, follower.on_turn)
    # Only what happens from now on is shown: the release's past is in `runbook status`.
    follower.release_id, follower.seen = record.id, journal.events(record.id)[-1].seq
    try:
        lease = journal.acquire(stack, holder(), force=force)
    except LockedError:
        owner = journal.lock_holder(stack)
        if owner is not None and holder_alive(owner) is False:
            raise
        # A live engine holds the stack: it acts on the intent; wait for the outcome.
        journal.record_intent(stack, service, intent, holder())
        timeout = settings.rollout.rollback_targets.api_seconds
        return _wait_for(journal, record, service, timeout, follower)
    with lease:
        journal.record_intent(stack, service, intent, holder())
        rolling_back = intent != "resume"
        outcome = resume_release(
            record, session, journal, lease, on_turn=follower.on_turn, rolling_back=rolling_back
        )
        return outcome, record.id


def _wait_for(
    journal: Journal, record: ReleaseRecord, service: str, timeout: float, follower: Follower
) -> tuple[Outcome, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        follower.pump()  # the other engine's progress, as it journals it
        latest = journal.release(record.id)
        if latest.finished:
            return Outcome(latest.outcome or Outcome.ABORTED.value), record.id
        time.sleep(WAIT_POLL_SECONDS)
    late = (
        f"release {record.id} did not finish within {timeout:g}s; see `runbook status "
        f"-s {record.stack} --service {service}`"
    )
    fail(late, ExitCode.FAILED)


def _finish(
    release_id: str,
    outcome: Outcome,
    shown: Output,
    seen: list[dict[str, object]],
    timing: RollbackTiming | None = None,
    asked: Outcome | None = None,
) -> None:
    """Say how the release ended (and, after a rollback, how long each step took); jsonl's
    events, the outcome last, were printed as they came. Exit 0 when it ended as `asked`
    (an operator's rollback that rolled back succeeded), else as a rollout's outcome would."""
    if shown is Output.JSON:
        payload: dict[str, object] = {"release": release_id, "outcome": outcome.value}
        if timing is not None:
            payload["rollback"] = timing.to_dict()
        emit_json(payload | {"events": seen})
    elif shown is Output.TEXT:
        _say_timing(timing, False)
        if not any(e.get("event") == "outcome" for e in seen):  # the log said it already
            say(f"release {release_id} {outcome.value}")
    raise typer.Exit(code=ExitCode.OK if outcome is asked else EXIT_FOR[outcome])
