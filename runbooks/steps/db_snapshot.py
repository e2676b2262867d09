"""Row counts and checksums of PostgreSQL tables: the evidence that data is intact.

A table's checksum is the md5 of its rows' md5s (of `ROW(col, ...)::text` over the listed
columns), sorted, so it does not depend on physical row order. Checksumming only the columns
that existed before a migration lets an expand migration add columns (and backfill them)
while proving that every pre-existing row and value is still there, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

# Tables the migration machinery itself changes by design.
IGNORED_TABLES = frozenset({"public.schema_migrations"})

_TABLES = """
SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
  AND n.nspname NOT LIKE 'pg\\_%'
GROUP BY n.nspname, c.relname
ORDER BY n.nspname, c.relname
"""


@dataclass(frozen=True)
class TableSum:
    """One table's evidence: its columns, row count and checksum over those columns."""

    table: str
    columns: tuple[str, ...]
    rows: int
    checksum: str

    def to_json(self) -> dict[str, Any]:
        """As stored in a backup manifest."""
        return {"columns": list(self.columns), "rows": self.rows, "checksum": self.checksum}


def user_tables(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, ...]]:
    """Every user table as "schema.table" -> its columns in order (migration table excluded)."""
    found = {f"{s}.{t}": tuple(cols) for s, t, cols in conn.execute(_TABLES).fetchall()}
    return {name: cols for name, cols in found.items() if name not in IGNORED_TABLES}


def table_sum(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...]) -> TableSum:
    """Row count and checksum of `table` over `columns` (raises psycopg.Error if one is gone)."""
    schema, name = table.split(".", 1)
    row = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
    query = sql.SQL(
        "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
        "FROM (SELECT md5({row}) AS h FROM {table}) AS rows"
    ).format(row=row, table=sql.Identifier(schema, name))
    found = conn.execute(query).fetchone()
    assert found is not None  # an aggregate always returns one row
    return TableSum(table=table, columns=columns, rows=int(found[0]), checksum=str(found[1]))


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, TableSum]:
    """The evidence for every user table, over all its current columns."""
    return {t: table_sum(conn, t, cols) for t, cols in user_tables(conn).items()}


def compare(conn: psycopg.Connection[Any], expected: dict[str, Any]) -> list[str]:
    """Differences between the database now and `expected` (a manifest's "tables").

    Only the columns recorded in `expected` are compared, so added columns and tables are
    allowed; a missing table or column, a lost or extra row or a changed value is reported.
    """
    problems: list[str] = []
    for table, want in sorted(expected.items()):
        columns = tuple(want["columns"])
        try:
            with conn.transaction():  # a savepoint: a missing table must not abort the rest
                got = table_sum(conn, table, columns)
        except psycopg.Error as err:
            problems.append(f"{table}: cannot read columns {list(columns)}: {err}".strip())
            continue
        if got.rows != want["rows"]:
            problems.append(f"{table}: {got.rows} rows, expected {want['rows']}")
        elif got.checksum != want["checksum"]:
            problems.append(f"{table}: checksum of {list(columns)} differs (rows changed)")
    return problems
