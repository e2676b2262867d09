"""VarnishPurge against a real varnishd in front of a small origin served by this test."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from runbooks.local.servers import free_port, start_varnish
from runbooks.steps.edge_purge import VARNISH_BAN_VCL, EdgePurge
from tests.integration.steps.conftest import context

pytestmark = pytest.mark.integration

VCL = """vcl 4.1;
acl purgers { "127.0.0.1"; }
backend default { .host = "127.0.0.1"; .port = "%(origin)d"; }
sub vcl_recv {
%(ban)s
}
sub vcl_deliver {
    if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; }
}
"""


class _Origin(BaseHTTPRequestHandler):
    counter = itertools.count(1)

    def do_GET(self) -> None:
        body = f"render {next(self.counter)}".encode()
        self.send_response(200)
        self.send_header("Cache-Control", "max-age=300")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def edge_url(state_dir: Path) -> Iterator[str]:
    """varnishd (with the documented BAN rule) in front of an in-process origin."""
    origin = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    port = free_port()
    vcl = VCL.replace("%(origin)d", str(origin.server_port)).replace("%(ban)s", VARNISH_BAN_VCL)
    server = start_varnish(state_dir, port, vcl)
    yield f"http://127.0.0.1:{port}"
    server.stop()
    origin.shutdown()
    origin.server_close()
    thread.join(timeout=5)


def test_ban_evicts_a_cached_object(edge_url: str) -> None:
    first = httpx.get(f"{edge_url}/quotes/AAPL")
    second = httpx.get(f"{edge_url}/quotes/AAPL")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.text == first.text

    outcome = EdgePurge().apply(context(edge_url=edge_url))

    assert outcome.ok, outcome.message
    third = httpx.get(f"{edge_url}/quotes/AAPL")
    assert third.headers["X-Cache"] == "MISS"
    assert third.text != first.text


def test_undo_bans_again(edge_url: str) -> None:
    ctx = context(edge_url=edge_url)
    applied = EdgePurge().apply(ctx)
    httpx.get(f"{edge_url}/orders")
    assert httpx.get(f"{edge_url}/orders").headers["X-Cache"] == "HIT"

    assert EdgePurge().undo(ctx, applied).ok

    assert httpx.get(f"{edge_url}/orders").headers["X-Cache"] == "MISS"
    assert EdgePurge().verify(ctx).ok


def test_a_refused_ban_is_a_failed_outcome(edge_url: str) -> None:
    """PURGE is not in the VCL: Varnish passes it to the origin, which answers 501."""
    outcome = EdgePurge().apply(context(edge_url=edge_url, edge_ban_method="PURGE"))

    assert not outcome.ok
    assert "refused" in outcome.message
