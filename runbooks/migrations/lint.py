"""Lint a migration with squawk before anything runs: long locks and rewrites are refused.

squawk (squawk-cli from PyPI, a locked dependency) knows which statements take an ACCESS
EXCLUSIVE lock for long or rewrite a table: a non-concurrent index build, a column type
change, a constraint validated in the same statement, a volatile default, ... Every rule it
reports refuses the migration, unless the manifest's `allow.<part>.<rule>` says why it is
safe there. Not checked here, on purpose:
- lock_timeout / statement_timeout: the runner always sets both, from the rollout policy;
- naming and type style (bigint, text, timestamptz, identity): they hold no lock;
- in revert and contract, drops: dropping is what those parts are for (the shape check
  proves a revert drops only what its expand added).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from runbooks.migrations.manifest import Migration, Part
from runbooks.migrations.shape import groups
from stackspec.errors import BadInput, RunbookError

SET_BY_RUNNER = ("require-lock-timeout", "require-statement-timeout")
STYLE_ONLY = (
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
)
DROPS = ("ban-drop-column", "ban-drop-table", "ban-drop-not-null", "ban-truncate-cascade")
LINT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Violation:
    """One squawk finding: where, which rule, and what it means."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def lint(migration: Migration, pg_version: str = "15") -> None:
    """BadInput listing every finding not allowed by the manifest; nothing is applied."""
    found: list[Violation] = []
    for part in (migration.expand, migration.revert, migration.contract):
        if part is None:
            continue
        allowed = migration.allowed(part.name)
        found += [v for v in violations(part, pg_version) if v.rule not in allowed]
    if found:
        raise BadInput(
            f"migration {migration.version} refused by the lint (nothing applied):\n    "
            + "\n    ".join(map(str, found)),
            hint="fix the statement (e.g. CREATE INDEX CONCURRENTLY), or declare why it is "
            f"safe under `allow: {{<part>: {{<rule>: <why>}}}}` in {migration.folder}/"
            "migration.yaml",
        )


def violations(part: Part, pg_version: str = "15") -> list[Violation]:
    """What squawk reports for `part`, less the rules this module does not enforce.

    A part without CONCURRENTLY statements runs in one transaction (its ledger entry in the
    same one), so it is judged both as plain statements (e.g. an index built without
    CONCURRENTLY) and as one transaction (e.g. a constraint added and validated together,
    holding its lock for the scan); its statements need not be re-runnable on their own.
    """
    excluded = [*SET_BY_RUNNER, *STYLE_ONLY, *(DROPS if part.name != "expand" else ())]
    in_transaction = all(g.transactional for g in groups(part))
    if in_transaction:
        excluded.append("prefer-robust-stmts")
    found: dict[tuple[int, str], Violation] = {}
    for assume in (False, True) if in_transaction else (False,):
        for violation in _squawk(part, pg_version, excluded, assume):
            found.setdefault((violation.line, violation.rule), violation)
    return sorted(found.values(), key=lambda v: (v.line, v.rule))


def _squawk(
    part: Part, pg_version: str, excluded: list[str], in_transaction: bool
) -> list[Violation]:
    command = [
        squawk_binary(),
        *(["--assume-in-transaction"] if in_transaction else []),
        f"--pg-version={pg_version}",
        "--reporter=json",
        f"--exclude={','.join(excluded)}",
        str(part.path),
    ]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=LINT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as err:
        raise RunbookError(f"squawk could not run on {part.path}: {err}") from err
    try:
        # squawk exits 1 when it found something; any other failure has no report at all.
        if run.returncode not in (0, 1) or not run.stdout.strip():
            raise json.JSONDecodeError("no report", run.stdout, 0)
        findings = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise RunbookError(
            f"squawk gave no report for {part.path} (exit {run.returncode}): "
            + (run.stderr.strip() or run.stdout.strip())[:300]
        ) from None
    return [
        Violation(str(part.path), int(f["line"]) + 1, str(f["rule_name"]), str(f["message"]))
        for f in findings
    ]


def squawk_binary() -> str:
    """The squawk installed beside this Python (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.exists():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise RunbookError(
            "squawk is not installed", hint="run `make setup` (squawk-cli is in uv.lock)"
        )
    return found
