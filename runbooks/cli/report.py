"""`runbook report`: render any release of a stack from its journal as one HTML file.

runbook report 20261126T222145-7b5964 -s local [--out reports/release.html]

The page is self-contained (inline SVG and CSS, no script, no external resource), so it
can be attached to a ticket or opened offline; see runbooks.report.html for what it draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import StackOption, exits_cleanly, say
from runbooks.journal.base import Journal, ReleaseRecord
from runbooks.session import current_settings, open_journal
from stackspec.errors import BadInput, JournalError

REPORTS = Path("reports")


@app.command("report")
def report(
    release_id: Annotated[str, typer.Argument(help="The release's id (`runbook history`).")],
    stack: StackOption,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The HTML file to write (default reports/release-<id>.html)."),
    ] = None,
) -> None:
    """Render one release from its journal as an offline HTML report."""
    from runbooks.report.facts import read_facts
    from runbooks.report.html import render_report

    with exits_cleanly():
        current_settings(stack)
        journal = open_journal(stack)
        record = find_release(journal, stack, release_id)
        events = journal.events(record.id)
        facts = read_facts(record, events)
        others = [read_facts(record, events, service) for service in facts.members[1:]]
        page = render_report(facts, others=others)
        path = out or REPORTS / f"release-{record.id}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    say(f"report of release {record.id} ({record.service} {record.version}): {path}")


def find_release(journal: Journal, stack: str, release_id: str) -> ReleaseRecord:
    """The release `release_id` of `stack`, or BadInput naming where to find the ids."""
    shown = release_id if len(release_id) <= 40 else release_id[:37] + "..."
    hint = f"`runbook history -s {stack}` lists the stack's releases and their ids"
    try:
        record = journal.release(release_id)
    except JournalError as err:
        if str(err).startswith("no release"):  # the journal's own "no such id" error
            raise BadInput(
                f"no release '{shown}' in the journal of stack {stack}", hint=hint
            ) from None
        raise
    if record.stack != stack:
        raise BadInput(f"release '{shown}' is of stack {record.stack}, not {stack}", hint=hint)
    return record
