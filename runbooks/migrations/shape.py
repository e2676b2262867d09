"""What a migration's SQL does, read with PostgreSQL's own parser (pglast). Pure: no I/O.

Expand may only add, so the version still running keeps working and every row stays:
  CREATE TABLE / INDEX / SEQUENCE / VIEW, ALTER TABLE ... ADD COLUMN / ADD CONSTRAINT
  (named) / VALIDATE CONSTRAINT, COMMENT, and UPDATE of columns this same expand added
  (a backfill). Anything else (a drop, a type change, a rename, a DELETE) is refused: it
  belongs in contract.
Revert may only drop, with IF EXISTS (it runs again after a crash), and must drop exactly
what expand added: a column, index, constraint, sequence or view of a table that expand
created goes with that table.

`groups` splits a part into what runs in one transaction and what cannot (CREATE/DROP
INDEX CONCURRENTLY), in file order, so the runner can execute each group as it must.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ObjectType
from pglast.parser import ParseError

from runbooks.migrations.manifest import Migration, Part
from stackspec.errors import BadInput

DEFAULT_SCHEMA = "public"
_DROPPABLE = {
    ObjectType.OBJECT_TABLE: "table",
    ObjectType.OBJECT_INDEX: "index",
    ObjectType.OBJECT_SEQUENCE: "sequence",
    ObjectType.OBJECT_VIEW: "view",
}


@dataclass(frozen=True, order=True)
class DbObject:
    """A schema object a migration adds or drops: kind, table (schema.name), own name."""

    kind: str  # table | column | index | constraint | sequence | view
    table: str  # schema.name of the table, or of the object itself for relations
    name: str = ""
    on: str = field(default="", compare=False)  # an index's table (a drop does not name it)

    def __str__(self) -> str:
        return f"{self.kind} {self.table}" + (f".{self.name}" if self.name else "")


@dataclass(frozen=True)
class Statement:
    """One statement of a part: its text, line, and whether it must run outside a transaction."""

    sql: str
    line: int
    concurrent: bool
    index: str | None = None  # schema.name of an index built CONCURRENTLY


@dataclass(frozen=True)
class Group:
    """Statements run together: in one transaction, or one by one in autocommit."""

    transactional: bool
    statements: tuple[Statement, ...]


def statements(part: Part) -> list[tuple[Statement, Any]]:
    """Each statement of `part` with its parse tree; BadInput naming the file and line."""
    try:
        parsed = parse_sql(part.sql)
    except ParseError as err:
        where = err.args[1] if len(err.args) > 1 else None
        line = part.sql.encode()[:where].count(b"\n") + 1 if where else "?"
        raise BadInput(f"{part.path}:{line}: not valid PostgreSQL: {err.args[0]}") from None
    raw = part.sql.encode()
    found = []
    for item in parsed:
        start = item.stmt_location or 0
        end = start + item.stmt_len if item.stmt_len else len(raw)
        text = raw[start:end].decode().strip()
        line = raw[:start].count(b"\n") + 1 + _leading_newlines(raw[start:end])
        index = _concurrent_index(item.stmt)
        found.append((Statement(text, line, _concurrent(item.stmt), index), item.stmt))
    return found


def groups(part: Part) -> list[Group]:
    """`part`'s statements in file order, grouped by how they must run."""
    result: list[Group] = []
    for stmt, _ in statements(part):
        transactional = not stmt.concurrent
        if transactional and result and result[-1].transactional:
            result[-1] = Group(True, (*result[-1].statements, stmt))
        else:
            result.append(Group(transactional, (stmt,)))
    return result


def added_by(expand: Part) -> set[DbObject]:
    """What `expand` adds; BadInput naming the first statement that is not additive."""
    added: set[DbObject] = set()
    for stmt, tree in statements(expand):
        if _transaction_control(tree):
            raise _refused(expand, stmt, "transaction control: the runner owns transactions")
        if isinstance(tree, ast.UpdateStmt):
            _check_backfill(expand, stmt, tree, added)
            continue
        objects = _additions(tree)
        if objects is None:
            kind = type(tree).__name__.removesuffix("Stmt")
            raise _refused(
                expand, stmt, f"{kind} is not additive; expand may only add (put it in contract)"
            )
        added |= objects
    return added


def dropped_by(revert: Part) -> set[DbObject]:
    """What `revert` drops; BadInput for anything else or for a drop without IF EXISTS."""
    dropped: set[DbObject] = set()
    for stmt, tree in statements(revert):
        objects = _drops(tree)
        if objects is None:
            kind = type(tree).__name__.removesuffix("Stmt")
            raise _refused(revert, stmt, f"{kind}: a revert may only drop what expand added")
        if not _missing_ok(tree):
            raise _refused(revert, stmt, "drop without IF EXISTS: a revert must be re-runnable")
        dropped |= objects
    return dropped


def check_shape(migration: Migration) -> set[DbObject]:
    """What the migration's expand adds, once its revert is proven to drop exactly that."""
    added = added_by(migration.expand)
    dropped = dropped_by(migration.revert)
    if migration.contract is not None:
        statements(migration.contract)  # parses, or BadInput naming file and line
    new_tables = {o.table for o in added if o.kind == "table"}
    # Dropping a table that expand created drops what expand put on it too.
    expected = {o for o in added if o.kind == "table" or not {o.table, o.on} & new_tables}
    missing, extra = sorted(expected - dropped), sorted(dropped - expected)
    if missing or extra:
        problems = []
        if missing:
            problems.append("does not drop " + ", ".join(map(str, missing)))
        if extra:
            problems.append("drops what expand did not add: " + ", ".join(map(str, extra)))
        raise BadInput(
            f"{migration.revert.path}: does not match {migration.expand.path}: "
            + "; ".join(problems),
            hint="revert.sql drops exactly what expand.sql adds, each with IF EXISTS",
        )
    return added


# -- expand ---------------------------------------------------------------------------------


def _additions(tree: Any) -> set[DbObject] | None:
    if isinstance(tree, ast.CreateStmt):
        return {DbObject("table", _rel(tree.relation))}
    if isinstance(tree, ast.IndexStmt):
        if not tree.idxname:
            return None  # an unnamed index cannot be reverted by name
        index = _schema_of(tree.relation) + "." + tree.idxname
        return {DbObject("index", index, on=_rel(tree.relation))}
    if isinstance(tree, ast.CreateSeqStmt):
        return {DbObject("sequence", _rel(tree.sequence))}
    if isinstance(tree, ast.ViewStmt) and not tree.replace:
        return {DbObject("view", _rel(tree.view))}
    if isinstance(tree, ast.CommentStmt):
        return set()
    if isinstance(tree, ast.AlterTableStmt):
        return _alter_additions(tree)
    return None


def _alter_additions(tree: ast.AlterTableStmt) -> set[DbObject] | None:
    table, added = _rel(tree.relation), set()
    for cmd in tree.cmds or ():
        if cmd.subtype == AlterTableType.AT_AddColumn:
            added.add(DbObject("column", table, cmd.def_.colname))
        elif cmd.subtype == AlterTableType.AT_AddConstraint and cmd.def_.conname:
            added.add(DbObject("constraint", table, cmd.def_.conname))
        elif cmd.subtype != AlterTableType.AT_ValidateConstraint:
            return None
    return added


def _check_backfill(
    part: Part, stmt: Statement, tree: ast.UpdateStmt, added: set[DbObject]
) -> None:
    table = _rel(tree.relation)
    targets = {t.name for t in tree.targetList or ()}
    new_columns = {o.name for o in added if o.kind == "column" and o.table == table}
    if not targets <= new_columns:
        raise _refused(
            part,
            stmt,
            f"UPDATE of {sorted(targets - new_columns)} in {table}: expand may only "
            "backfill columns it added above",
        )


# -- revert ---------------------------------------------------------------------------------


def _drops(tree: Any) -> set[DbObject] | None:
    if isinstance(tree, ast.DropStmt) and tree.removeType in _DROPPABLE:
        kind = _DROPPABLE[ObjectType(tree.removeType)]
        return {DbObject(kind, _qualified(obj)) for obj in tree.objects or ()}
    if isinstance(tree, ast.AlterTableStmt):
        table, dropped = _rel(tree.relation), set()
        for cmd in tree.cmds or ():
            if cmd.subtype == AlterTableType.AT_DropColumn:
                dropped.add(DbObject("column", table, cmd.name))
            elif cmd.subtype == AlterTableType.AT_DropConstraint:
                dropped.add(DbObject("constraint", table, cmd.name))
            else:
                return None
        return dropped
    return None


def _missing_ok(tree: Any) -> bool:
    if isinstance(tree, ast.DropStmt):
        return bool(tree.missing_ok)
    return all(cmd.missing_ok for cmd in tree.cmds or ())


# -- helpers --------------------------------------------------------------------------------


def _concurrent(tree: Any) -> bool:
    return isinstance(tree, ast.IndexStmt | ast.DropStmt) and bool(tree.concurrent)


def _concurrent_index(tree: Any) -> str | None:
    if isinstance(tree, ast.IndexStmt) and tree.concurrent and tree.idxname:
        return f"{_schema_of(tree.relation)}.{tree.idxname}"
    return None


def _transaction_control(tree: Any) -> bool:
    return isinstance(tree, ast.TransactionStmt)


def _rel(relation: ast.RangeVar | None) -> str:
    assert relation is not None  # the parser always names the relation of these statements
    return f"{_schema_of(relation)}.{relation.relname}"


def _schema_of(relation: ast.RangeVar | None) -> str:
    return (relation.schemaname if relation is not None else None) or DEFAULT_SCHEMA


def _qualified(names: Any) -> str:
    parts = [n.sval for n in names]
    return ".".join(parts) if len(parts) > 1 else f"{DEFAULT_SCHEMA}.{parts[0]}"


def _leading_newlines(raw: bytes) -> int:
    """Lines before the statement's first word (blank lines and `--` comments)."""
    for count, line in enumerate(raw.split(b"\n")):
        if line.strip() and not line.strip().startswith(b"--"):
            return count
    return 0


def _refused(part: Part, stmt: Statement, why: str) -> BadInput:
    return BadInput(f"{part.path}:{stmt.line}: {why}", hint=_first_line(stmt.sql))


def _first_line(sql: str) -> str:
    line = next(iter(_lines(sql)), "")
    return line if len(line) <= 100 else line[:97] + "..."


def _lines(sql: str) -> Iterator[str]:
    return (line.strip() for line in sql.splitlines() if line.strip())
