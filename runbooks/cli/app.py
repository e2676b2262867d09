"""The `runbook` Typer application that every verb module registers on.

Every verb runs inside `exits_cleanly` (the group's `invoke` wraps them all), so an expected
failure ends in one line and an `ExitCode`, never a traceback; the help text's table of exit
codes is rendered from `ExitCode`.
"""

from __future__ import annotations

from typing import Any

import typer
from typer._click.core import Context  # typer 0.29 vendors click: its Context is this one
from typer.core import TyperGroup

from runbooks.cli.common import exits_cleanly
from stackspec.errors import ExitCode


def exit_codes_help() -> str:
    """The help text's table of exit codes, one line per ExitCode member."""
    lines = (f"  {code.value}  {code.meaning}" for code in ExitCode)
    return "\b\nExit codes:\n" + "\n".join(lines)


EXIT_CODES = exit_codes_help()  # for sub-apps whose help shows the table too


class GuardedGroup(TyperGroup):
    """The root command group: runs whichever verb was asked inside `exits_cleanly`."""

    def invoke(self, ctx: Context) -> Any:
        with exits_cleanly():
            return super().invoke(ctx)


app = typer.Typer(
    name="runbook",
    cls=GuardedGroup,
    help="Plan stacks, and release, judge and roll back versions across the whole stack.\n\n"
    + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Keeps `runbook <verb>` a group even while only one verb is registered."""
