"""What every output of a release shares, kept free of heavy imports (a verb's `--help`
and its refusals load this, not rich, pydantic or the engine): the `--output` choices, ISO
8601 times, the step marks and the public spelling of a verdict. runbooks.cli.events,
live, view and status all use these, so a release reads the same in each."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from stackspec.errors import BadInput


class Output(StrEnum):
    """How a verb shows a release."""

    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"


OutputOption = Annotated[
    Output | None,
    typer.Option(
        "--output",
        "-o",
        help="text (a live view on a terminal, else a plain log), json (one document at the "
        "end) or jsonl (one event a line as it runs). --json is --output json.",
    ),
]

# A step's mark: done, the current one, still to come, or given up (undone by a rollback).
MARKS = {"done": "✓", "current": "▶", "pending": "·", "abandoned": "✗"}


def output_of(output: Output | None, as_json: bool) -> Output:
    """The output asked for; `--json` is an alias of `--output json` (BadInput if both
    are given and disagree)."""
    if as_json and output not in (None, Output.JSON):
        raise BadInput(f"--json and --output {output} disagree", hint="give one of them")
    return Output.JSON if as_json else output or Output.TEXT


def iso(at: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC with milliseconds (`2026-11-26T22:18:11.042Z`)."""
    if at is None:
        return None
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def verdict_name(verdict: str) -> str:
    """A verdict as every output spells it: lowercase (`Successful` -> `successful`)."""
    return verdict.lower()
