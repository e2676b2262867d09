"""Drill 8 (issue item 8): no secret value of the stack in anything the drills wrote.

With a webhook URL carrying a token (TRADING_WEBHOOK_URL, to a sink in this process) and
an evidence signing key (RUNBOOK_EVIDENCE_KEY, HMAC) set for the CLI, a release is rolled
out and its evidence exported. Then every secret value of the stack
(`runbooks.secrets_scan.stack_secrets`: webhook URL, database password, cache token,
evidence keys) is looked for in every file under the drill stack's directory (journal,
logs, state, reports, evidence) and in every CLI output the drills captured, and the
journal's files must have mode 0600.
Figures: secrets found (target 0); journal files not 0600 (target 0).
"""

from __future__ import annotations

import importlib
import secrets as random_secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.drills.harness import DrillStack, rollout_args, versions
from benchmarks.drills.result import Measure, at_most
from benchmarks.stack import SERVICE, STACK
from runbooks.local.load import steady_load
from runbooks.session import Session, runbook_state_dir

LOAD_RATE = 150.0


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """A release with secrets set, then the scan of everything written."""
    # H6's scanner (issue 14 item 8), looked up when the drill runs: a drill run without it
    # is reported as not completed, the others still run.
    scanner = importlib.import_module("runbooks.secrets_scan")

    with _webhook_sink() as url:
        token = random_secrets.token_urlsafe(24)
        stack.extra_env.update(
            TRADING_WEBHOOK_URL=f"{url}/hook?token={token}",
            RUNBOOK_EVIDENCE_KEY=f"hmac:{random_secrets.token_urlsafe(32)}",
        )
        try:
            version = next(versions())
            with steady_load(stack.load_url, LOAD_RATE):
                stack.settle()
                released = stack.run(*rollout_args(version))
            exported = stack.run(
                "evidence", "export", "-s", STACK, "--service", SERVICE, "--version", version
            )
            session = Session.open(STACK)
            found = scanner.stack_secrets(session.settings, session.outputs.values, stack.env)
        finally:
            for key in ("TRADING_WEBHOOK_URL", "RUNBOOK_EVIDENCE_KEY"):
                stack.extra_env.pop(key, None)
    hits = scanner.scan(found, [stack.bench.base_dir], stack.transcript)
    loose = _loose_journal_files(stack)
    figures = {
        "secrets_found": at_most(len(hits), 0, "places"),
        "journal_files_not_0600": at_most(len(loose), 0, "files"),
        "secrets_scanned": Measure(len(found), "secret values", ">= 2", len(found) >= 2),
    }
    details = {
        "secrets": sorted(s.name for s in found),
        "hits": [{"secret": h.secret, "where": h.where} for h in hits][:20],
        "outputs_scanned": len(stack.transcript),
        "loose_journal_files": loose,
        "release_exit": released.returncode,
        "evidence_exit": exported.returncode,
    }
    return figures, details


def _loose_journal_files(stack: DrillStack) -> list[str]:
    """The journal's own files (the journal database and its sidecars, the identity file:
    the files directly in its state dir) readable or writable by anyone but their owner.
    Evidence records and the metrics textfile in its subfolders are outputs, meant to be
    read."""
    journal_dir = runbook_state_dir(STACK)
    return [
        f"{path} {stat.filemode(path.stat().st_mode)}"
        for path in journal_dir.iterdir()
        if path.is_file() and path.stat().st_mode & 0o077
    ]


@contextmanager
def _webhook_sink() -> Iterator[str]:
    """An HTTP server taking the release webhooks (answers 204); its base URL."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: stdout holds the JSON lines

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
