"""The `runbook` command line: one verb a module, all registered on `runbooks.cli.app.app`.

`main` imports no verb module: the root group loads a verb's module when that verb is asked
for (runbooks.cli.app.VERB_TABLE), so `runbook --help`, `--version` and a verb refusing bad
input answer without importing the libraries other verbs need.
"""

from __future__ import annotations

from runbooks.cli.app import VERB_TABLE, app

# Each name is a module of this package that registers its verb(s) on `app` when imported
# (tests import them all to see the whole command tree).
VERBS: tuple[str, ...] = tuple(dict.fromkeys(verb.module for verb in VERB_TABLE.values()))


def main() -> None:
    """Console-script entry point."""
    app()
