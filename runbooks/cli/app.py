"""The `runbook` Typer application that every verb module registers on."""

from __future__ import annotations

import typer

EXIT_CODES = """\b
Exit codes:
  0  done (promoted, or the command succeeded)
  1  other error
  2  bad input (bad flags, bad stack file, unknown name); nothing was changed
  3  rolled back
  4  locked: another run holds the stack's lock"""

app = typer.Typer(
    name="runbook",
    help="Plan stacks, and release, judge and roll back versions across the whole stack.\n\n"
    + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Keeps `runbook <verb>` a group even while only one verb is registered."""
