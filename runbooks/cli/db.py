"""`runbook db`: the stack's database migrations and backups, by hand.

    runbook db status   --stack local [--json]     applied versions, pending contracts, backups
    runbook db backups  --stack local [--json]
    runbook db lint     --migration 1.2.0          shape + squawk; no database needed
    runbook db migrate  --stack local --migration 1.2.0     back up, then expand
    runbook db contract --stack local --migration 1.1.0 [--force] [--yes]
    runbook db restore  --stack local --backup-id ID [--yes]

A release does migrate, revert and contract by itself (`--step db-migration`); these verbs
are for running a contract later (production waits for a human or CI), for a migration
outside a release, and for the last resort: a restore, which first reports the rows it
would lose and, on a terminal, asks; elsewhere it does nothing without `--yes`. A contract
(it drops what the old version used) asks too, or needs `--yes`. Each verb that changes the
database takes the stack's lock, so it never races a release. Exit codes as `runbook --help`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from runbooks.cli.app import app
from runbooks.cli.common import (
    STACK_ENV,
    ForceOption,
    JsonOption,
    StackOption,
    again_with_yes,
    confirm,
    emit_json,
    exits_cleanly,
    fail,
    one_line,
    say,
)
from runbooks.steps.base import StepContext, StepOutcome
from stackspec.errors import BadInput, ExitCode

db = typer.Typer(
    name="db",
    help="Database migrations and backups of a stack: status, backups, lint, migrate, "
    "contract, restore.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(db)

MigrationOption = Annotated[
    str, typer.Option("--migration", help="Folder of migrations/ (a version, e.g. 1.2.0).")
]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        help="Do it without asking (needed when not on a terminal): a restore's "
        "losses, a contract's drops.",
    ),
]


@db.command("status")
def status(stack: StackOption, as_json: JsonOption = False) -> None:
    """Applied versions and their state, pending contracts, available migrations, backups."""
    with exits_cleanly():
        ctx = _context(stack)
        from runbooks.migrations import ledger  # psycopg: once the stack is known
        from runbooks.migrations.backup import list_backups
        from runbooks.migrations.manifest import available

        entries = [e.as_dict() for e in _ledger(ctx, ledger.entries)]
        backups = list_backups(Path(ctx.options["backup_dir"]))
        applied = {e["version"] for e in entries if e["state"] != "reverted"}
        report: dict[str, Any] = {
            "applied": entries,
            "pending_contracts": [e["version"] for e in entries if e["state"] == "expanded"],
            "not_applied": [
                v for v in available(Path(ctx.options["migrations_dir"])) if v not in applied
            ],
            "backups": {"count": len(backups), "latest": backups[-1]["id"] if backups else None},
        }
    if as_json:
        emit_json(report)
        return
    for entry in entries:
        say(f"{entry['version']:<12} {entry['state']:<12} backup {entry['backup_id']}")
    say(f"pending contracts: {', '.join(report['pending_contracts']) or 'none'}")
    say(f"not applied: {', '.join(report['not_applied']) or 'none'}")
    say(f"backups: {len(backups)} (latest {report['backups']['latest']})")


@db.command("backups")
def backups(stack: StackOption, as_json: JsonOption = False) -> None:
    """The stack's database backups, oldest first."""
    from runbooks.migrations.backup import list_backups

    with exits_cleanly():
        found = list_backups(Path(_context(stack).options["backup_dir"]))
    if as_json:
        emit_json([{k: v for k, v in m.items() if k != "tables"} | _rows(m) for m in found])
        return
    for manifest in found:
        size = int(manifest["size"]) / 1e6
        say(f"{manifest['id']}  {manifest['taken_at']}  {size:.1f} MB  {_rows(manifest)['rows']}")
    if not found:
        say("no backups")


@db.command("lint")
def lint(
    migration: MigrationOption,
    stack: Annotated[str, typer.Option("--stack", "-s", envvar=STACK_ENV)] = "local",
) -> None:
    """Check a migration (additive expand, matching revert, squawk); nothing runs."""
    from runbooks.migrations.operations import checked

    with exits_cleanly():
        ctx = _context(stack, need_database=False)
        found = checked(Path(ctx.options["migrations_dir"]), migration, ctx.options["pg_version"])
    say(f"{found.version}: expand is additive, revert matches it, lint clean")


@db.command("migrate")
def migrate(stack: StackOption, migration: MigrationOption, force: ForceOption = False) -> None:
    """Back up (writers keep writing), then expand; outside a release."""
    from runbooks.steps.db_migration import DbMigration

    _locked(stack, force, lambda ctx: DbMigration().apply(_with(ctx, migration)))


@db.command("contract")
def contract(
    stack: StackOption,
    migration: MigrationOption,
    force: ForceOption = False,
    yes: YesOption = False,
) -> None:
    """Run a migration's contract, once the release that expanded it is promoted and baked."""
    from runbooks.steps.db_migration import DbMigration

    def run(ctx: StepContext) -> Any:
        _check_contract_due(stack, migration)
        confirm(
            f"contract {migration} on stack {stack} (what the old version used is dropped)", yes
        )
        return DbMigration().contract(_with(ctx, migration))

    _locked(stack, force, run)


@db.command("restore")
def restore(
    stack: StackOption,
    backup_id: Annotated[str, typer.Option("--backup-id", help="The backup to restore.")],
    yes: YesOption = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Last resort: put the database back as the backup holds it (rows since are lost)."""
    outcome = restore_backup(stack, backup_id, yes, force, as_json)
    raise typer.Exit(code=ExitCode.OK if outcome.ok else ExitCode.FAILED)


def restore_backup(
    stack: str, backup_id: str, yes: bool, force: bool, as_json: bool
) -> StepOutcome:
    """Report what restoring `backup_id` loses; with `yes`, restore it (validated) and say
    how it went. Without `yes`, exit 2 having changed nothing."""
    from runbooks.migrations.restore import backup_manifest, preview
    from runbooks.migrations.restore import restore as do_restore
    from runbooks.session import holder, open_journal

    with exits_cleanly():
        ctx = _context(stack)
        backup_dir, dsn = Path(ctx.options["backup_dir"]), str(ctx.options["postgres_dsn"])
        manifest = backup_manifest(backup_dir, backup_id)
        losses = preview(dsn, manifest)
        lost = sum(loss.lost for loss in losses)
        _say_losses(backup_id, losses, as_json and not yes)
        if not yes and sys.stdin.isatty():
            confirm(f"restore {backup_id}, losing {lost} rows", yes)
        elif not yes:
            raise BadInput(
                f"restoring {backup_id} would lose {lost} rows written since "
                f"{manifest['taken_at']}; nothing was changed",
                hint=f"run `{again_with_yes()}` to restore anyway",
            )
        with open_journal(stack).acquire(stack, holder(), force=force):
            outcome = do_restore(dsn, backup_dir, backup_id)
    if as_json:
        emit_json({"backup_id": backup_id, "ok": outcome.ok, "lost_rows": lost, **outcome.data})
    else:
        dropped = f"; {lost} rows written since the backup were dropped" if outcome.ok else ""
        say(outcome.message + dropped)
    return outcome


def _say_losses(backup_id: str, losses: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json({"backup_id": backup_id, "would_lose": [vars(loss) for loss in losses]})
        return
    say(f"restoring {backup_id} would, per table:")
    for loss in losses:
        bound = "" if loss.exact else " (at least; from row counts)"
        now = "gone" if loss.now is None else f"{loss.now} rows now"
        say(f"  {loss.table}: {now}, {loss.at_backup} in the backup; loses {loss.lost}{bound}")


def _context(stack: str, need_database: bool = True) -> StepContext:
    """The stack's step options as a context (the db verbs act on no particular service)."""
    from runbooks.session import Session
    from runbooks.steps.stack_options import step_options
    from stackspec.model import Color

    session = Session.open(stack)
    options = step_options(session.settings, session.outputs)
    if need_database and not options.get("postgres_dsn"):
        raise BadInput(
            f"stack {stack}: no database this machine reaches",
            hint="export RUNBOOK_DATABASE_DSN=postgresql://... for a cloud stack's database",
        )
    return StepContext(stack, "", "", Color.BLUE, Color.GREEN, options)


def _with(ctx: StepContext, migration: str) -> StepContext:
    from runbooks.session import holder

    by = f"runbook db by {holder()}"
    return StepContext(
        ctx.stack,
        ctx.service,
        by,
        ctx.old_color,
        ctx.new_color,
        {**ctx.options, "migration": migration},
    )


def _locked(stack: str, force: bool, run: Any) -> None:
    from runbooks.session import holder, open_journal

    with exits_cleanly():
        ctx = _context(stack)
        with open_journal(stack).acquire(stack, holder(), force=force):
            outcome = run(ctx)
    if not outcome.ok:
        fail(outcome.message, ExitCode.FAILED)
    say(outcome.message)


def _check_contract_due(stack: str, migration: str) -> None:
    """BadInput unless the latest release carrying `migration` was promoted and has baked."""
    from runbooks.session import current_settings, open_journal

    settings = current_settings(stack)
    journal = open_journal(stack)
    carrying = [
        r
        for r in journal.history(stack, None, limit=500)
        if r.plan.get("migration") == migration and "reverts" not in r.plan
    ]
    if not carrying:
        return  # migrated by hand (`db migrate`), not by a release: the operator decides
    latest = max(carrying, key=lambda r: r.started_at)
    if latest.outcome != "promoted":
        raise BadInput(
            f"the release that carries {migration} ({latest.id}) is {latest.outcome or 'running'}",
            hint="a contract runs only after its release is promoted",
        )
    policy = settings.rollout
    bake = max(policy.scale_down_delay_seconds, policy.migrations.contract_after_seconds or 0.0)
    due = (latest.finished_at or time.time()) + bake
    if time.time() < due:
        raise BadInput(
            f"{migration} bakes for {due - time.time():.0f}s more after its promotion",
            hint="run it again then",
        )


def _ledger(ctx: StepContext, read: Any) -> Any:
    import psycopg

    from stackspec.errors import RunbookError

    try:
        with psycopg.connect(
            str(ctx.options["postgres_dsn"]), autocommit=True, connect_timeout=5
        ) as conn:
            return read(conn)
    except psycopg.Error as err:
        raise RunbookError(
            f"cannot read the migration ledger: {one_line(err)}",
            hint="is the stack's database up? (`runbook local status` for the local stack)",
        ) from None


def _rows(manifest: dict[str, Any]) -> dict[str, Any]:
    return {"rows": {t: v["rows"] for t, v in manifest.get("tables", {}).items()}}
