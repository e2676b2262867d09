"""The shape check as tables: what an expand may do, and whether its revert matches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.migrations.manifest import Migration, Part
from runbooks.migrations.shape import DbObject, added_by, check_shape, dropped_by, groups
from stackspec.errors import BadInput


def part(name: str, sql: str) -> Part:
    return Part(name, Path(f"migrations/9.0.0/{name}.sql"), sql)  # type: ignore[arg-type]


def migration(expand: str, revert: str) -> Migration:
    return Migration(
        "9.0.0", Path("migrations/9.0.0"), "t", part("expand", expand), part("revert", revert)
    )


ADDITIVE = [
    (
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS venue text;",
        {DbObject("column", "public.orders", "venue")},
    ),
    (
        "CREATE TABLE IF NOT EXISTS risk.limits (id bigint PRIMARY KEY);",
        {DbObject("table", "risk.limits")},
    ),
    (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS o_idx ON public.orders (symbol);",
        {DbObject("index", "public.o_idx")},
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (quantity > 0) NOT VALID;",
        {DbObject("constraint", "public.orders", "qty_positive")},
    ),
    (
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS v text;"
        " UPDATE orders SET v = 'x' WHERE v IS NULL;",
        {DbObject("column", "public.orders", "v")},
    ),
    ("CREATE SEQUENCE IF NOT EXISTS order_refs;", {DbObject("sequence", "public.order_refs")}),
    ("COMMENT ON TABLE orders IS 'orders';", set()),
]


@pytest.mark.parametrize(("sql", "added"), ADDITIVE)
def test_additive_statements_say_what_they_add(sql: str, added: set[DbObject]) -> None:
    assert added_by(part("expand", sql)) == added


NOT_ADDITIVE = [
    ("ALTER TABLE orders DROP COLUMN color;", "is not additive"),
    ("ALTER TABLE orders ALTER COLUMN price TYPE float8;", "is not additive"),
    ("ALTER TABLE orders RENAME COLUMN color TO colour;", "Rename is not additive"),
    ("DROP TABLE fills;", "Drop is not additive"),
    ("DELETE FROM orders WHERE quantity = 0;", "Delete is not additive"),
    ("UPDATE orders SET price = 1;", "UPDATE of ['price'] in public.orders"),
    ("CREATE INDEX ON orders (symbol);", "is not additive"),  # unnamed: cannot be reverted
    ("BEGIN; ALTER TABLE orders ADD COLUMN a text; COMMIT;", "transaction control"),
]


@pytest.mark.parametrize(("sql", "says"), NOT_ADDITIVE)
def test_statements_that_are_not_additive_are_refused_naming_file_and_line(
    sql: str, says: str
) -> None:
    with pytest.raises(BadInput) as refused:
        added_by(part("expand", "-- a comment first\n" + sql))
    assert says in refused.value.message
    assert "expand.sql:2:" in refused.value.message


def test_revert_drops_must_be_re_runnable() -> None:
    with pytest.raises(BadInput, match="without IF EXISTS"):
        dropped_by(part("revert", "ALTER TABLE orders DROP COLUMN venue;"))


def test_revert_may_only_drop() -> None:
    with pytest.raises(BadInput, match="a revert may only drop"):
        dropped_by(part("revert", "DELETE FROM orders;"))


MATCHING = [
    (
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS a text;"
        " CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON orders (a);",
        "DROP INDEX CONCURRENTLY IF EXISTS a_idx; ALTER TABLE orders DROP COLUMN IF EXISTS a;",
    ),
    (
        # what expand puts on a table it created goes with the table
        "CREATE TABLE IF NOT EXISTS venues (code text PRIMARY KEY);"
        " ALTER TABLE venues ADD COLUMN IF NOT EXISTS name text;"
        " CREATE INDEX IF NOT EXISTS venues_name ON venues (name);",
        "DROP TABLE IF EXISTS public.venues;",
    ),
]


@pytest.mark.parametrize(("expand", "revert"), MATCHING)
def test_a_revert_that_drops_exactly_what_expand_added_passes(expand: str, revert: str) -> None:
    check_shape(migration(expand, revert))


MISMATCHED = [
    (
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS a text;",
        "ALTER TABLE orders DROP COLUMN IF EXISTS b;",
        "does not drop column public.orders.a; drops what expand did not add: "
        "column public.orders.b",
    ),
    (
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS a text;"
        " CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON orders (a);",
        "ALTER TABLE orders DROP COLUMN IF EXISTS a;",
        "does not drop index public.a_idx",
    ),
    (
        "CREATE TABLE IF NOT EXISTS venues (code text);",
        "DROP TABLE IF EXISTS venues, orders;",
        "drops what expand did not add: table public.orders",
    ),
]


@pytest.mark.parametrize(("expand", "revert", "says"), MISMATCHED)
def test_a_revert_that_does_not_match_its_expand_is_refused(
    expand: str, revert: str, says: str
) -> None:
    with pytest.raises(BadInput) as refused:
        check_shape(migration(expand, revert))
    assert says in refused.value.message
    assert "revert.sql: does not match" in refused.value.message


def test_statements_are_grouped_by_how_they_must_run() -> None:
    found = groups(
        part(
            "expand",
            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS a text;\n"
            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS b text;\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON orders (a);\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS b_idx ON risk.limits (b);\n",
        )
    )
    assert [(g.transactional, len(g.statements)) for g in found] == [
        (True, 2),
        (False, 1),
        (False, 1),
    ]
    assert [s.index for g in found for s in g.statements] == [
        None,
        None,
        "public.a_idx",
        "risk.b_idx",
    ]
    assert [s.line for g in found for s in g.statements] == [1, 2, 3, 4]


def test_sql_that_does_not_parse_names_the_file_and_line() -> None:
    with pytest.raises(BadInput, match=r"expand.sql:2: not valid PostgreSQL"):
        added_by(part("expand", "SELECT 1;\nALTR TABLE orders ADD COLUMN a text;"))
