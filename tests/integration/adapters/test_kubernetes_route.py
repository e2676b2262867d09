"""The kubernetes router against RECORDED API responses (no Kubernetes API server can run
here): a local HTTP server replays JSON bodies in the shape the API server returns
(recorded/kubernetes_api.json) in a scripted order, and records what the real
`kubernetes` client sent, so the test checks both the requests and the router's reading
of the answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from runbooks.core.model import Weights
from runbooks.routers.kubernetes_route import KubernetesRouter
from stackspec.errors import RouterError

pytestmark = pytest.mark.integration

RECORDED = json.loads(
    Path(__file__).with_name("recorded").joinpath("kubernetes_api.json").read_text()
)
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/trading/httproutes/trading-api"
SERVICE = "/api/v1/namespaces/trading/services/trading-api"


@dataclass
class Replay:
    """Exchanges to answer in order: (method, path, status, recorded body name)."""

    script: list[tuple[str, str, int, str]]
    received: list[tuple[str, str, str, Any]] = field(default_factory=list)


def make_handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _exchange(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            content_type = self.headers.get("Content-Type", "")
            replay.received.append((self.command, self.path, content_type, body))
            method, path, status, name = replay.script.pop(0)
            if (method, path) != (self.command, self.path):
                status, name = 500, "route_not_found"  # off script: fail loudly
            payload = json.dumps(RECORDED[name]).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PATCH = _exchange

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[tuple[KubernetesRouter, Replay]]:
    """A router on the real kubernetes client, pointed at the replay server."""
    replay = Replay(list(request.param))
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(replay))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with client.ApiClient(config) as api_client:
            yield (
                KubernetesRouter(
                    "trading", client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
                ),
                replay,
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    "api",
    [
        [
            ("GET", ROUTE, 200, "route_100_0"),
            ("PATCH", ROUTE, 200, "route_90_10"),
            ("GET", ROUTE, 200, "route_90_10"),
        ]
    ],
    indirect=True,
)
def test_set_weights_patches_route_and_verifies(api: tuple[KubernetesRouter, Replay]) -> None:
    router, replay = api
    router.set_weights("trading-api", Weights(blue=90, green=10))

    method, path, content_type, body = replay.received[1]
    assert (method, path, content_type) == ("PATCH", ROUTE, "application/merge-patch+json")
    assert body["metadata"] == {"resourceVersion": "48213"}
    refs = body["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"], r["port"]) for r in refs] == [
        ("trading-api-blue", 90, 8080),
        ("trading-api-green", 10, 8080),
    ]
    assert (
        body["spec"]["rules"][0]["matches"]
        == RECORDED["route_100_0"]["spec"]["rules"][0]["matches"]
    )
    assert not replay.script


@pytest.mark.parametrize(
    "api",
    [
        [
            ("GET", ROUTE, 200, "route_90_10"),
            ("PATCH", ROUTE, 200, "route_0_100"),
            ("PATCH", SERVICE, 200, "service_on_green"),
            ("GET", ROUTE, 200, "route_0_100"),
        ]
    ],
    indirect=True,
)
def test_full_shift_flips_the_stable_service_selector(
    api: tuple[KubernetesRouter, Replay],
) -> None:
    router, replay = api
    router.set_weights("trading-api", Weights(blue=0, green=100))

    method, path, content_type, body = replay.received[2]
    assert (method, path) == ("PATCH", SERVICE)
    assert content_type == "application/strategic-merge-patch+json"
    assert body == {"spec": {"selector": {"color": "green"}}}


@pytest.mark.parametrize(
    "api",
    [
        [
            ("GET", ROUTE, 200, "route_100_0"),
            ("PATCH", ROUTE, 200, "route_90_10"),
            ("GET", ROUTE, 200, "route_100_0"),
        ]
    ],
    indirect=True,
)
def test_read_back_that_differs_is_a_router_error(api: tuple[KubernetesRouter, Replay]) -> None:
    router, _ = api
    with pytest.raises(RouterError, match="is at Weights\\(blue=100, green=0\\)"):
        router.set_weights("trading-api", Weights(blue=90, green=10))


@pytest.mark.parametrize(
    "api",
    [[("GET", ROUTE, 200, "route_100_0"), ("PATCH", ROUTE, 409, "route_conflict")]],
    indirect=True,
)
def test_concurrent_edit_is_a_router_error(api: tuple[KubernetesRouter, Replay]) -> None:
    router, _ = api
    with pytest.raises(RouterError, match="409 Conflict"):
        router.set_weights("trading-api", Weights(blue=50, green=50))


@pytest.mark.parametrize("api", [[("GET", ROUTE, 404, "route_not_found")]], indirect=True)
def test_missing_route_is_a_router_error(api: tuple[KubernetesRouter, Replay]) -> None:
    router, _ = api
    with pytest.raises(RouterError, match="read HTTPRoute trading-api in namespace trading: 404"):
        router.get_weights("trading-api")
