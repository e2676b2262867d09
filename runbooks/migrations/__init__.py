"""Expand/contract database migrations: declared, linted, applied without stalling writers.

manifest.py  a migration folder (migration.yaml + expand/revert/contract SQL), loaded safely
shape.py     pure: what an expand adds, that its revert drops exactly that, statement groups
lint.py      squawk on each part: long locks and table rewrites refused unless declared
backup.py    a backup from an exported snapshot (pg_dump --snapshot), plus row evidence
evidence.py  row counts, checksums and per-row evidence; what a later check compares
ledger.py    `public.schema_migrations`: each version's state (expanded, contracted, ...)
runner.py    runs a part's statements with lock_timeout/statement_timeout, retrying locks
restore.py   the last resort: what a restore would lose, then an atomic, validated restore
"""
