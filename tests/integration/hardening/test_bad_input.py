"""The bad-input corpus (issue 14 item 7, `benchmarks.drills.corpus`): at least 60 malformed
inputs across stack files, CLI arguments, migration folders, evidence records and provider
and router responses. Each is refused (exit 2 / BadInput), or becomes an ERROR measurement
or a RouterError for a provider's or router's garbage, with a message naming what and where,
never a traceback. The CLI cases run against ONE private local stack that is up, whose
journal, router weights, database schema and cache are the same after every case.

The seconds per case are measured, and only a generous bound is asserted (the machine is
shared); `make drills` reports the real figures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
import redis
from typer.testing import CliRunner

from benchmarks.drills.corpus import Case, Result, cases, run
from runbooks.cli.app import app
from runbooks.routers.haproxy import HaproxyRouter
from tests.integration.engine.harness import Stack, private_stack

BOUND_SECONDS = 5.0
ALL = cases()
CLI = [c for c in ALL if c.area == "cli"]
OFFLINE = [c for c in ALL if c.area != "cli"]
POLICY = {"steps": [{"weight": 100, "bakeSeconds": 1}], "analysisIntervalSeconds": 1}


def test_the_corpus_is_large_and_covers_every_area() -> None:
    assert len(ALL) >= 60
    assert {c.area for c in ALL} == {"stack-file", "cli", "migration", "evidence", "provider"}
    assert len({c.id for c in ALL}) == len(ALL)


def _check(result: Result) -> None:
    assert result.outcome == result.case.expect, (result.outcome, result.message[:500])
    assert result.case.says.lower() in result.message.lower(), result.message[:500]
    assert "Traceback" not in result.message
    assert len(result.message) < 3000  # never a 5000-character value echoed whole
    assert result.seconds < BOUND_SECONDS, f"{result.seconds:.2f} s"


@pytest.fixture(scope="module")
def warm() -> None:
    """Import what the cases use once, so a case's seconds are its own."""
    for case in OFFLINE:
        run(case, _no_cli)


def _no_cli(args: Sequence[str]) -> tuple[int, str]:
    raise AssertionError("an offline case ran the CLI")


@pytest.mark.parametrize("case", OFFLINE, ids=[c.id for c in OFFLINE])
def test_offline_input_is_refused_naming_what_and_where(warm: None, case: Case) -> None:
    _check(run(case, _no_cli))


# -- CLI cases, against one stack that is up -------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_stack("bad-input-it-", POLICY) as up:
        yield up


def _invoke(stack: Stack) -> Any:
    env = {k: v for k, v in stack.env.items() if k.startswith(("RUNBOOK_", "NO_COLOR"))}
    env["RUNBOOK_JOURNAL_DSN"] = None  # type: ignore[assignment] - CliRunner unsets None

    def invoke(args: Sequence[str]) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    return invoke


def _world(stack: Stack) -> dict[str, Any]:
    """What a refused input must not change: journal, lock, router, database, cache."""
    journal = stack.journal()
    with psycopg.connect(stack.ends.postgres_dsn, connect_timeout=5) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
    cache = redis.Redis.from_url(stack.ends.redis_url, socket_timeout=5)
    try:
        keys = cache.dbsize()
    finally:
        cache.close()
    return {
        "releases": [r.id for r in journal.history("local", limit=100)],
        "lock": journal.lock_holder("local"),
        "weights": HaproxyRouter(stack.ends.admin_socket).get_weights("trading-api"),
        "columns": columns,
        "cache keys": keys,
    }


@pytest.fixture(scope="module")
def invoke(stack: Stack) -> Any:
    runner = _invoke(stack)
    runner(["status", "-s", "local", "--json"])  # imports, once
    return runner


@pytest.mark.parametrize("case", CLI, ids=[c.id for c in CLI])
def test_cli_input_is_refused_and_changes_nothing(stack: Stack, invoke: Any, case: Case) -> None:
    before = _world(stack)
    result = run(case, invoke)
    _check(result)
    assert _world(stack) == before
    assert os.environ.get("RUNBOOK_STACKS_DIR") != str(stack.base / "stacks")  # not leaked
