"""The evidence that data is intact: table checksums and per-row evidence of a backup.

Two kinds, both taken inside the backup's snapshot (so they describe exactly what the dump
holds) and over the columns each table had then:

- `TableSum`: row count and checksum of a whole table (md5 of its rows' md5s, sorted, so it
  does not depend on physical order). It proves a *restore*: the restored table must equal
  the backup, and that is checked inside the restore's own transaction, where nobody else
  writes.
- row evidence (`runbook_evidence.rows`): for each row, its key (the primary key, or the
  whole row for a table without one) and the md5 of its columns. It proves a change made
  *while writers keep writing* (an expand, its revert): `check_rows` joins today's table
  with the evidence and counts rows of the backup that are gone (`lost`) or differ in a
  column they had then (`changed`). Rows written since the backup have no evidence and are
  counted, not compared. This is sound for the trading tables because they are append-only
  (the services insert orders and fills, never update or delete them), so any lost or
  changed row can only be the migration's doing; a table that the application updates in
  place would show its own updates as `changed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

EVIDENCE_SCHEMA = "runbook_evidence"
# Tables the migration machinery itself changes by design.
IGNORED_TABLES = frozenset({"public.schema_migrations"})

_TABLES = """
SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('information_schema', %s)
  AND n.nspname NOT LIKE 'pg\\_%%'
GROUP BY n.nspname, c.relname
ORDER BY n.nspname, c.relname
"""
_KEY = """
SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s::regclass AND i.indisprimary
"""
_EVIDENCE_TABLE = f"""
CREATE SCHEMA IF NOT EXISTS {EVIDENCE_SCHEMA};
CREATE TABLE IF NOT EXISTS {EVIDENCE_SCHEMA}.rows (
  backup_id text NOT NULL, tbl text NOT NULL, key text NOT NULL, h text NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_backup_tbl_idx ON {EVIDENCE_SCHEMA}.rows (backup_id, tbl);
"""


@dataclass(frozen=True)
class TableSum:
    """One table's evidence: its columns, key, row count and checksum over those columns."""

    table: str
    columns: tuple[str, ...]
    rows: int
    checksum: str
    key: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As stored in a backup manifest."""
        return {
            "columns": list(self.columns),
            "key": list(self.key),
            "rows": self.rows,
            "checksum": self.checksum,
        }


@dataclass(frozen=True)
class RowCheck:
    """A table today against the row evidence of a backup."""

    table: str
    compared: int  # rows the backup had
    lost: int  # of those, gone
    changed: int  # of those, different in a column they had then
    now: int  # rows in the table now

    @property
    def written_since(self) -> int:
        """Rows in the table now that the backup did not have."""
        return self.now - (self.compared - self.lost)

    @property
    def intact(self) -> bool:
        """Every row of the backup is still there, unchanged."""
        return self.lost == 0 and self.changed == 0


def user_tables(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, ...]]:
    """Every user table as "schema.table" -> its columns (machinery tables excluded)."""
    rows = conn.execute(_TABLES, (EVIDENCE_SCHEMA,)).fetchall()
    found = {f"{s}.{t}": tuple(cols) for s, t, cols in rows}
    return {name: cols for name, cols in found.items() if name not in IGNORED_TABLES}


def key_columns(conn: psycopg.Connection[Any], table: str) -> tuple[str, ...]:
    """The primary key's columns of `table`, or () when it has none."""
    schema, name = table.split(".", 1)
    regclass = sql.Identifier(schema, name).as_string(conn)
    row = conn.execute(_KEY, (regclass,)).fetchone()
    return tuple(row[0]) if row and row[0] else ()


def table_sum(
    conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], key: tuple[str, ...] = ()
) -> TableSum:
    """Row count and checksum of `table` over `columns` (psycopg.Error if one is gone)."""
    found = conn.execute(_sum_query(table, columns)).fetchone()
    assert found is not None  # an aggregate always returns one row
    return TableSum(table, columns, int(found[0]), str(found[1]), key)


def sum_sql(table: str, columns: tuple[str, ...]) -> sql.Composed:
    """The query `table_sum` runs: (count, checksum) — also used inside a restore."""
    return _sum_query(table, columns)


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, TableSum]:
    """The evidence for every user table, over all its current columns."""
    return {
        t: table_sum(conn, t, cols, key_columns(conn, t)) for t, cols in user_tables(conn).items()
    }


def ensure_evidence_table(conn: psycopg.Connection[Any]) -> None:
    """Create the row-evidence table if needed (autocommit connection)."""
    conn.execute(_EVIDENCE_TABLE)


def record_rows(conn: psycopg.Connection[Any], backup_id: str, summed: TableSum) -> None:
    """Store the key and row hash of every row of `summed.table` as the backup sees it."""
    query = sql.SQL(
        "INSERT INTO {ev} (backup_id, tbl, key, h) SELECT {bid}, {tbl}, {key}, {h} FROM {t}"
    ).format(
        ev=sql.Identifier(EVIDENCE_SCHEMA, "rows"),
        bid=sql.Literal(backup_id),
        tbl=sql.Literal(summed.table),
        key=_row_text(summed.key or summed.columns),
        h=_row_hash(summed.columns),
        t=sql.Identifier(*summed.table.split(".", 1)),
    )
    conn.execute(query)


def check_rows(conn: psycopg.Connection[Any], backup_id: str, summed: TableSum) -> RowCheck | None:
    """`summed.table` now against the row evidence of `backup_id`; None without evidence."""
    evidence = sql.Identifier(EVIDENCE_SCHEMA, "rows")
    has = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE backup_id = %s AND tbl = %s").format(evidence),
        (backup_id, summed.table),
    ).fetchone()
    if summed.rows and (has is None or int(has[0]) != summed.rows):
        return None
    query = sql.SQL(
        "SELECT count(e.key), count(e.key) FILTER (WHERE t.key IS NULL),"
        " count(e.key) FILTER (WHERE t.key IS NOT NULL AND t.h <> e.h),"
        " (SELECT count(*) FROM {t})"
        " FROM (SELECT key, h FROM {ev} WHERE backup_id = %s AND tbl = %s) e"
        " LEFT JOIN (SELECT {key} AS key, {h} AS h FROM {t}) t ON t.key = e.key"
    ).format(
        t=sql.Identifier(*summed.table.split(".", 1)),
        ev=evidence,
        key=_row_text(summed.key or summed.columns),
        h=_row_hash(summed.columns),
    )
    row = conn.execute(query, (backup_id, summed.table)).fetchone()
    assert row is not None  # aggregates always return one row
    return RowCheck(summed.table, int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def forget(conn: psycopg.Connection[Any], keep: set[str]) -> None:
    """Delete the row evidence of every backup not in `keep`."""
    exists = conn.execute("SELECT to_regclass(%s)", (f"{EVIDENCE_SCHEMA}.rows",)).fetchone()
    if exists and exists[0]:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE NOT (backup_id = ANY(%s))").format(
                sql.Identifier(EVIDENCE_SCHEMA, "rows")
            ),
            (sorted(keep),),
        )


def _sum_query(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(
        "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
        "FROM (SELECT {h} AS h FROM {table}) AS rows"
    ).format(h=_row_hash(columns), table=sql.Identifier(*table.split(".", 1)))


def _row_text(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(map(sql.Identifier, columns)))


def _row_hash(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("md5({})").format(_row_text(columns))
