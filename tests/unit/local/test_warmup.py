"""Warming a new color: every request sent and answered, paths in turn, and bounded.

Given a tiny HTTP server on loopback that records the paths it is asked for (or answers
nothing, or 500 to everything), when `warm_up` runs against it, then it sends the asked
number of requests over every path, counts answers of any status, and a server that does
not answer ends the warm-up after one request timeout, not after the whole budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runbooks.local import warmup
from runbooks.local.warmup import warm_up


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int, hang: bool) -> None:
        self.status, self.hang, self.paths = status, hang, list[str]()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Recorder

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.paths.append(self.path)
        if self.server.hang:
            time.sleep(5)
            return
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def _serving(status: int = 200, hang: bool = False) -> Iterator[_Recorder]:
    server = _Recorder(status, hang)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ok() -> Iterator[_Recorder]:
    yield from _serving()


@pytest.fixture
def failing() -> Iterator[_Recorder]:
    yield from _serving(status=500)


@pytest.fixture
def hanging(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    monkeypatch.setattr(warmup, "REQUEST_TIMEOUT", 0.3)
    yield from _serving(hang=True)


def test_every_request_is_sent_over_every_path(ok: _Recorder) -> None:
    answered = warm_up(ok.url, ("/orders", "/quotes/X"), requests=40, workers=4)

    assert answered == 40
    assert sorted(set(ok.paths)) == ["/orders", "/quotes/X"]
    assert ok.paths.count("/orders") == ok.paths.count("/quotes/X") == 20


def test_an_error_answer_still_counts_as_warm(failing: _Recorder) -> None:
    assert warm_up(failing.url, ("/orders",), requests=12, workers=3) == 12


def test_a_server_that_does_not_answer_ends_the_warm_up_after_one_timeout(
    hanging: _Recorder,
) -> None:
    started = time.monotonic()

    answered = warm_up(hanging.url, ("/orders",), requests=60, workers=2, timeout=30)

    assert answered == 0
    assert len(hanging.paths) == 2  # one request per worker, then each stops
    assert time.monotonic() - started < 5


def test_no_paths_sends_nothing(ok: _Recorder) -> None:
    assert warm_up(ok.url, ()) == 0
    assert ok.paths == []
