"""The webhook notifier against a real HTTP server on 127.0.0.1 (stdlib, in a thread)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runbooks.local.servers import free_port
from runbooks.notifiers.base import EventKind, ReleaseEvent
from runbooks.notifiers.webhook import WebhookNotifier

pytestmark = pytest.mark.integration

TOKEN_PATH = "/services/T0001/B0002/s3cr3t-token"
EVENT = ReleaseEvent(
    EventKind.STEP,
    "staging",
    "trading-api",
    "1.5.0",
    "25% of traffic on green",
    {"step": "2/4", "green": 25},
)


@dataclass
class Hook:
    """What the server received, and what it answers (statuses in turn, then 200)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hang: threading.Event | None = None


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = Hook(url=f"http://127.0.0.1:{server.server_address[1]}{TOKEN_PATH}")
    server.hook = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    if state.hang is not None:
        state.hang.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hook: Hook = self.server.hook  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        hook.received.append((self.path, body))
        if hook.hang is not None:
            hook.hang.wait(timeout=30)
        self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return


def test_posts_slack_compatible_json(hook: Hook) -> None:
    WebhookNotifier(hook.url).notify(EVENT)

    assert len(hook.received) == 1
    path, body = hook.received[0]
    assert path == TOKEN_PATH
    assert body["text"] == "[staging] trading-api 1.5.0: step — 25% of traffic on green"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#439FE0"
    assert {"title": "step", "value": "2/4", "short": True} in attachment["fields"]
    assert {"title": "green", "value": "25", "short": True} in attachment["fields"]


def test_retries_server_errors_then_delivers(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    hook.statuses = [500, 503]
    caplog.set_level(logging.DEBUG)

    WebhookNotifier(hook.url, attempts=3).notify(EVENT)

    assert len(hook.received) == 3
    assert "not delivered" not in caplog.text


def test_a_failing_webhook_is_logged_without_its_url_and_never_raises(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.statuses = [500, 500, 500]
    caplog.set_level(logging.DEBUG)

    WebhookNotifier(hook.url, attempts=3).notify(EVENT)

    assert len(hook.received) == 3
    assert "'step' for staging/trading-api was not delivered after 3 attempt(s): HTTP 500" in (
        caplog.text
    )
    assert "HTTP Request: POST" in caplog.text  # httpx did log each request...
    assert TOKEN_PATH not in caplog.text and "s3cr3t" not in caplog.text  # ...redacted


def test_client_errors_are_not_retried(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    hook.statuses = [404]

    WebhookNotifier(hook.url, attempts=3).notify(EVENT)

    assert len(hook.received) == 1
    assert "HTTP 404" in caplog.text


def test_an_unreachable_or_hanging_webhook_does_not_fail_the_release(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    closed = f"http://127.0.0.1:{free_port()}{TOKEN_PATH}"
    WebhookNotifier(closed, timeout_seconds=1, attempts=2).notify(EVENT)
    assert "ConnectError" in caplog.text

    hook.hang = threading.Event()
    WebhookNotifier(hook.url, timeout_seconds=0.2, attempts=1).notify(EVENT)
    assert "ReadTimeout" in caplog.text
    assert TOKEN_PATH not in caplog.text
