"""The `runbook` command line: one verb a module, all registered on `runbooks.cli.app.app`."""

from __future__ import annotations

import importlib

from runbooks.cli.app import app

# Each name is a module of this package that registers its verb(s) on `app` when imported.
VERBS: tuple[str, ...] = (
    "plan",
    "policy",
    "rollout",
    "status",
    "operator",
    "takeover",
    "local",
    "rehearse",
    "db",
    "config",
    "docs",
    "evidence",
    "approve",
)


def main() -> None:
    """Console-script entry point."""
    for verb in VERBS:
        importlib.import_module(f"runbooks.cli.{verb}")
    app()
