"""The `runbook` command line: one verb a module, all registered on `runbooks.cli.app.app`.

`main` imports no verb module: the root group loads a verb's module when that verb is asked
for (runbooks.cli.app.VERB_TABLE), so `runbook --help`, `--version` and a verb refusing bad
input answer without importing the libraries other verbs need. A rollout on a local stack
whose runtime another process is releasing is refused (exit 4) before even typer is loaded
(`runbooks.cli.early_lock`): ten started together answer within a second each.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Console-script entry point."""
    from runbooks.cli.early_lock import STACK_ENV, runtime_lock_for_argv
    from stackspec.errors import LockedError

    try:
        with runtime_lock_for_argv(sys.argv[1:], STACK_ENV):
            from runbooks.cli.app import app

            app()
    except LockedError as err:  # only the early lock: the verbs turn theirs into exit 4
        from runbooks.steps.redact import mask_url

        print(f"error: {mask_url(str(err))}", file=sys.stderr)
        raise SystemExit(int(err.exit_code)) from None
    except KeyboardInterrupt:  # during the early lock; click says the same for the verbs'
        print("Aborted!", file=sys.stderr)
        raise SystemExit(1) from None


def __getattr__(name: str) -> Any:
    # VERBS: each name is a module of this package that registers its verb(s) on `app` when
    # imported (tests import them all to see the whole command tree). Computed on demand, so
    # `main` does not import typer before the early lock.
    if name == "VERBS":
        from runbooks.cli.app import VERB_TABLE

        return tuple(dict.fromkeys(verb.module for verb in VERB_TABLE.values()))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
