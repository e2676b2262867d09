"""Secrets (issue 14 item 8): a release and one rolled back, on a private local stack run
with every secret the stack can use set (the release webhook URL with a secret path and a
query-string token, the evidence signing key, a database password and a cache token), leave
no secret value in the journal, the servers' logs, the state dir, the evidence file or any
captured CLI output; the journal is created 0600 in a 0700 folder.

The local stack's PostgreSQL has no password and its Redis no AUTH, so the database password
and the cache token are set through RUNBOOK_DATABASE_DSN and RUNBOOK_REDIS_URL, the values
the runbooks read for a stack's database and cache (runbooks.steps.stack_options): on the
local stack its outputs' DSN/URL come first, so these are in every run's environment but
not used to connect. The test requires the scanner to find them (and the webhook's token).

Cheap by design: one stack for the module, a one-step policy (1 s bake, 1 s analysis), and
a modest load: 62 s wall for this file at load 8 (482 s at load 45-65; 565 s with the
three-step engine policy at load 40-45).
"""

from __future__ import annotations

import secrets
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from runbooks.local.load import steady_load
from runbooks.secrets_scan import scan, stack_secrets
from tests.integration.engine.harness import Stack, await_measured, private_stack, rollout_args

RUN_TIMEOUT = 600.0  # a release takes seconds alone; minutes on two cores shared with a full suite
POLICY = {"steps": [{"weight": 100, "bakeSeconds": 1}], "analysisIntervalSeconds": 1}
LOAD_RATE = 60.0


class _Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(self.rfile.read(length))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test's output is scanned too."""


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    """A webhook receiver on loopback; its URL carries a secret path, as Slack's do, and a
    token in its query string."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = f"hooks/T{secrets.token_hex(12)}"
    yield f"http://127.0.0.1:{server.server_port}/{path}?token={secrets.token_hex(12)}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_stack("secrets-it-", POLICY) as up:
        yield up


@pytest.mark.timeout(1800)  # two one-step releases: under a minute alone, longer when loaded
def test_a_release_and_a_rollback_leave_no_secret_anywhere(stack: Stack, webhook: str) -> None:
    token, password = secrets.token_hex(16), secrets.token_hex(16)
    env = stack.env | {
        "TRADING_WEBHOOK_URL": webhook,
        "RUNBOOK_EVIDENCE_KEY": f"hmac:{secrets.token_hex(24)}",
        "RUNBOOK_DATABASE_DSN": f"host=127.0.0.1 port=1 user=trading password='{password}'",
        "RUNBOOK_REDIS_URL": f"redis://:{token}@127.0.0.1:1/0",
    }
    found = stack_secrets(stack.settings(), {}, env)
    assert {s.name for s in found} >= {
        "webhook URL",
        "webhook URL (path)",
        "webhook URL (query token)",
        "RUNBOOK_EVIDENCE_KEY",
        "RUNBOOK_DATABASE_DSN password",
        "RUNBOOK_REDIS_URL password",
    }
    outputs: dict[str, str] = {}
    evidence = stack.base / "evidence.json"
    export = ("evidence", "export", "-s", "local", "--service", "trading-api")
    runs = [
        ("release", rollout_args("9.1.0")),
        ("status", ("status", "-s", "local", "--service", "trading-api", "--json")),
        ("export", (*export, "--version", "9.1.0", "--out", str(evidence))),
        ("verify", ("evidence", "verify", str(evidence), "--stack", "local")),
        ("rolled-back", rollout_args("9.2.0", "--fault", "error-rate=0.6")),
        ("history", ("history", "-s", "local", "--json")),
    ]
    codes: dict[str, int] = {}
    with steady_load(stack.load_url, LOAD_RATE):
        await_measured(stack)  # found in CI: the first rollout's preflight outran the scrape
        for label, args in runs:
            if label in ("export", "verify") and codes["release"] != 0:
                continue  # a loaded machine can fail the first release's latency check
            done = stack.run(*args, env=env, timeout=RUN_TIMEOUT)
            codes[label] = done.returncode
            outputs[f"{label} stdout"], outputs[f"{label} stderr"] = done.stdout, done.stderr
    shown = {k: v[-1500:] for k, v in outputs.items()}
    assert codes.pop("release") in (0, 3) and codes.pop("rolled-back") == 3, shown
    assert set(codes.values()) == {0}, shown
    assert _Hooks.received  # the webhook was used, so its URL was live in the run

    hits = scan(found, [stack.base], outputs)
    assert hits == [], [f"{h.secret} in {h.where}" for h in hits]

    state = stack.base / "runbook" / "local"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    journal = state / "journal.sqlite3"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


def test_the_scanner_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The negative control: each form of a secret is found, and named, not shown."""
    from runbooks.secrets_scan import Secret

    secret = Secret("cache token", "s3cr3t/tok=en")
    (tmp_path / "raw.log").write_text("auth s3cr3t/tok=en\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "url.txt").write_text("redis://:s3cr3t%2Ftok%3Den@h/0")
    (tmp_path / "clean.txt").write_text("nothing here")
    hits = scan([secret], [tmp_path], {"stdout": '{"k": "s3cr3t/tok=en"}'})
    assert sorted(h.where.rsplit("/", 1)[-1] for h in hits) == ["raw.log", "stdout", "url.txt"]
    assert "s3cr3t" not in repr(secret)
