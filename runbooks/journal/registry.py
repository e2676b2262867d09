"""The journal backends by name: `JOURNALS.create("sqlite", state_dir=...)` or
`JOURNALS.create("postgres", dsn=...)`. An unknown name raises UnknownName."""

from __future__ import annotations

from pathlib import Path

from runbooks.journal.base import Journal
from runbooks.registry import Registry
from stackspec.errors import BadInput


def _sqlite(state_dir: Path | str | None = None, path: Path | str | None = None) -> Journal:
    """The SQLite journal at `path`, or at `<state_dir>/journal.sqlite3`."""
    from runbooks.journal.sqlite import SqliteJournal

    if path is not None:
        return SqliteJournal(path)
    if state_dir is not None:
        return SqliteJournal.in_state_dir(state_dir)
    raise BadInput("the sqlite journal needs a state_dir or a path", hint="pass state_dir=...")


def _postgres(dsn: str | None = None) -> Journal:
    """The PostgreSQL journal in the database at `dsn`."""
    if not dsn:
        raise BadInput(
            "the postgres journal needs a DSN",
            hint="set it as postgresql://user@host:port/dbname (keep any password in the env)",
        )
    from runbooks.journal.postgres import PostgresJournal  # psycopg only when used

    return PostgresJournal(dsn)


JOURNALS: Registry[Journal] = Registry("journal", {"sqlite": _sqlite, "postgres": _postgres})
