"""`runbook docs`: render the on-call runbooks, or check the committed ones are current.

    runbook docs --stack production [--out docs/runbooks]   write docs/runbooks/production.md
    runbook docs                                            every stack under stacks/
    runbook docs --check [--stack S]                        exit 1 naming each stale file

The runbooks are rendered from the stack files and `runbooks/docs/templates/` (see
runbooks.docs); `--check` writes nothing and fails when a file differs from what the stack
files render now (or is missing). Exit codes: 0 done / current, 1 stale, 2 bad input (an
unknown stack, a bad stack file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import exits_cleanly, fail, say
from stackspec.errors import ExitCode

StacksOption = Annotated[
    list[str] | None,
    typer.Option("--stack", "-s", help="Stack to render (repeatable; default: every stack)."),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Directory of the runbooks (default docs/runbooks).")
]
CheckOption = Annotated[
    bool, typer.Option("--check", help="Write nothing; exit 1 naming the stale runbooks.")
]


@app.command("docs")
def docs(stack: StacksOption = None, out: OutOption = None, check: CheckOption = False) -> None:
    """Render each stack's on-call runbook (Markdown), or check they are current."""
    from runbooks.docs.render import DOCS_DIR, render, stack_names, stale

    out_dir = out or DOCS_DIR
    with exits_cleanly():
        stacks = stack or stack_names()
        if check:
            found = stale(stacks, out_dir)
        else:
            rendered = {name: render(name) for name in stacks}  # all valid before any write
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, text in rendered.items():
                (out_dir / f"{name}.md").write_text(text, encoding="utf-8")
                say(f"wrote {out_dir / f'{name}.md'}")
            return
    if found:
        names = ", ".join(str(path) for path in found)
        fail(f"stale runbooks: {names}; run `runbook docs` and commit them", ExitCode.FAILED)
    say(f"runbooks current: {', '.join(stacks)}")
