"""The `runbook` Typer application that every verb module registers on.

Every verb runs inside `exits_cleanly` (the group's `invoke` wraps them all), so an expected
failure ends in one line and an `ExitCode`, never a traceback; the help text's table of exit
codes is rendered from `ExitCode`.

The verbs are loaded lazily (click's LazyGroup pattern): `VERB_TABLE` names each verb's
module and one-line help, `runbook --help` and shell completion read the table, and a verb's
module (with the libraries it needs: pulumi, boto3, kubernetes, ...) is imported only when
that verb is invoked or its own help is asked for. tests/unit/test_cli_startup.py checks the
table against the commands the modules really register.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Annotated, Any

import typer
from typer._click.core import Command, Context  # typer 0.29 vendors click: these are its
from typer._click.exceptions import MissingParameter, UsageError
from typer._click.formatting import HelpFormatter
from typer._click.shell_completion import CompletionItem
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup

from runbooks.cli.common import NO_STACK, exits_cleanly
from stackspec.errors import ExitCode

PACKAGE = "trading-platform"  # the distribution whose version `--version` prints


@dataclass(frozen=True)
class Verb:
    """A verb of the root group: the module of runbooks.cli registering it, its one-line help."""

    module: str
    help: str


# In the order `runbook --help` lists them. A new verb gets a row here (the unit test fails
# until it does); `help` is the first sentence of its docstring (or its sub-app's help).
VERB_TABLE: dict[str, Verb] = {
    "plan": Verb(
        "plan", "Plan a stack offline (--stack), or compare two stacks' shape (--parity A B)."
    ),
    "rollout": Verb(
        "rollout",
        "Release VERSION of SERVICE: phased traffic, analysis, promotion or automatic rollback.",
    ),
    "status": Verb(
        "status",
        "Show each service's release in progress (or its latest) as a tree, with live weights.",
    ),
    "history": Verb(
        "status",
        "List the stack's releases, newest first: versions, duration, outcome, reason, who.",
    ),
    "report": Verb("report", "Render one release from its journal as an offline HTML report."),
    "export": Verb(
        "export", "Export a Grafana dashboard or Prometheus alert rules for a stack's releases."
    ),
    "pause": Verb(
        "operator",
        "Hold the release at its current step (analysis, and so rollback, keeps running).",
    ),
    "abort": Verb("operator", "Stop the release and roll it back."),
    "promote": Verb("operator", "Pass the manual promotion gate, or end the current step now."),
    "resume": Verb(
        "takeover", "Continue a paused release, or an interrupted one from its journal."
    ),
    "retry": Verb(
        "retry",
        "Start the service's rolled-back release again from its first step, as it was started.",
    ),
    "rollback": Verb(
        "takeover",
        "Roll the service's release back: traffic first, then its release steps, newest first.",
    ),
    "rehearse": Verb(
        "rehearse",
        "Rehearse a healthy release and an automatic rollback on the local stack.",
    ),
    "docs": Verb(
        "docs", "Render each stack's on-call runbook (Markdown), or check they are current."
    ),
    "approve": Verb("approve", "Approve VERSION of SERVICE for promotion to STACK."),
    "policy": Verb("policy", "The policy pack (policy/) applied offline to a stack's plan."),
    "local": Verb("local", "Bring the local rehearsal stack up and down."),
    "db": Verb(
        "db",
        "Database migrations and backups of a stack: status, backups, lint, migrate, "
        "contract, restore.",
    ),
    "config": Verb("config", "Validate, convert and compare versioned service configuration."),
    "evidence": Verb("evidence", "Export and verify signed evidence of a promoted release."),
}


def exit_codes_help() -> str:
    """The help text's table of exit codes, one line per ExitCode member."""
    lines = (f"  {code.value}  {code.meaning}" for code in ExitCode)
    return "\b\nExit codes:\n" + "\n".join(lines)


EXIT_CODES = exit_codes_help()  # for sub-apps whose help shows the table too


class GuardedGroup(TyperGroup):
    """The root command group: loads a verb's module when the verb is asked for, and runs
    whichever verb was asked inside `exits_cleanly`."""

    def invoke(self, ctx: Context) -> Any:
        try:
            with exits_cleanly():
                return super().invoke(ctx)
        except MissingParameter as err:  # say where else a stack can come from
            if err.param is not None and err.param.name == "stack":
                err.message = NO_STACK
            raise

    def list_commands(self, ctx: Context) -> list[str]:
        return list(dict.fromkeys([*VERB_TABLE, *super().list_commands(ctx)]))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        verb = VERB_TABLE.get(cmd_name)
        if cmd_name not in self.commands and verb is not None:
            self._load(verb.module)
        return super().get_command(ctx, cmd_name)

    def _load(self, module: str) -> None:
        """Import runbooks.cli.`module` (it registers its verbs on `app`) and take the
        commands it registered."""
        importlib.import_module(f"runbooks.cli.{module}")
        for name, command in typer.main.get_group(app).commands.items():
            self.commands.setdefault(name, command)

    def verb_help(self, ctx: Context, name: str, limit: int) -> str | None:
        """A verb's one-line help without importing it; None for a hidden or unknown one."""
        verb = VERB_TABLE.get(name)
        if verb is not None and name not in self.commands:
            return make_default_short_help(verb.help, limit)
        command = self.get_command(ctx, name)
        if command is None or command.hidden:
            return None
        return command.get_short_help_str(limit)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self.verb_help(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, text in rows if text is not None])

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        results = [
            CompletionItem(name, help=self.verb_help(ctx, name, 45))
            for name in self.list_commands(ctx)
            if name.startswith(incomplete)
        ]
        return results + Command.shell_complete(self, ctx, incomplete)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as err:  # suggest among every verb, not only the loaded ones
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches:
                err.message = err.message.rstrip(".") + f". Did you mean {matches[0]!r}?"
            raise


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"runbook {version(PACKAGE)}")
        raise typer.Exit()


app = typer.Typer(
    name="runbook",
    cls=GuardedGroup,
    help="Plan stacks, and release, judge and roll back versions across the whole stack.\n\n"
    + EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Keeps `runbook <verb>` a group even while only one verb is registered."""
