"""A small threaded HTTP server for the sample services, with metrics and fault injection.

A service is a table of routes: `(method, path prefix) -> handler(request) -> Response`.
Every answer carries `X-Version` and `X-Color`, plus what the `headers()` given to `serve`
adds (`X-Config-Version`). Business requests (everything except /health and /metrics) are
counted in `http_requests_total{service,color,code}` and timed in
`http_request_duration_seconds{service,color}`, and are subject to the injected faults.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from samples.options import Options

UNMETERED = ("/health", "/metrics")


def exponential_buckets(first: float, factor: float, last: float) -> tuple[float, ...]:
    """Upper bounds `first * factor**k` up to the first at or above `last`, each rounded to
    4 significant digits (so `le` labels read 0.001331, not 0.0013310000000000002)."""
    bounds: list[float] = []
    bound = first
    while not bounds or bounds[-1] < last:
        bounds.append(float(f"{bound:.4g}"))
        bound *= factor
    return tuple(bounds)


# 1 ms to ~10 s in steps of 10% (98 bounds): a +10% latency change moves a request by
# about one bucket at any latency, where the old 11 bounds put 30 and 42 ms in one bucket.
# Finer steps would double the series (98 x 2 colors x services, every second) for a
# resolution the judge's tests on bucket counts do not need; native histograms would be
# finer still, but prometheus_client cannot expose them in the text format.
LATENCY_BUCKETS = exponential_buckets(0.001, 1.1, 10.0)


@dataclass(frozen=True)
class Request:
    """What a handler sees of a request."""

    method: str
    path: str
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError if it is not."""
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Response:
    """What a handler answers."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: object, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(value, default=str).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[Request], Response]
Routes = Mapping[tuple[str, str], Handler]


class ServiceMetrics:
    """The RED metrics of one color of one service, in their own registry."""

    def __init__(self, service: str, color: str, version: str) -> None:
        self.registry = CollectorRegistry()
        # `version` lets the analysis judge a version, not whatever last ran in a color.
        self.labels = {"service": service, "color": color, "version": version}
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered",
            ["service", "color", "version", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["service", "color", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Export the usual series at zero from the start: a color that runs but has not
        # served yet then reads as "0 requests", not as "exports nothing" (a missing
        # series is an error for the judge), and its first requests count from a scraped 0.
        for code in ("200", "500"):
            self.requests.labels(**self.labels, code=code)
        self.duration.labels(**self.labels)

    def observe(self, code: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(**self.labels, code=str(code)).inc()
        self.duration.labels(**self.labels).observe(seconds)

    def render(self) -> Response:
        """The /metrics answer."""
        return Response(200, generate_latest(self.registry), {"Content-Type": CONTENT_TYPE_LATEST})


def dispatch(routes: Routes, request: Request) -> Response:
    """The handler whose (method, prefix) matches, longest prefix first; else 404/405."""
    matches = [
        (prefix, h)
        for (method, prefix), h in routes.items()
        if method == request.method and _matches(request.path, prefix)
    ]
    if matches:
        return max(matches, key=lambda m: len(m[0]))[1](request)
    if any(_matches(request.path, prefix) for _, prefix in routes):
        return Response.json(405, {"error": f"{request.method} not allowed on {request.path}"})
    return Response.json(404, {"error": f"no route {request.path}"})


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or (prefix.endswith("/") and path.startswith(prefix))


class _Server(ThreadingHTTPServer):
    # The default accept backlog of 5 drops connections under load before a thread takes
    # them: users would see resets that no version caused.
    request_queue_size = 128


def serve(
    options: Options,
    service: str,
    routes: Routes,
    metrics: ServiceMetrics,
    headers: Callable[[], Mapping[str, str]] = dict,
) -> None:
    """Serve `routes` on 127.0.0.1:`options.port` until the process is stopped.

    `headers()` is called per answer: headers that change while the process runs.
    """
    handler = _handler_class(options, service, routes, metrics, headers)
    server = _Server(("127.0.0.1", options.port), handler)
    server.daemon_threads = True
    server.serve_forever()


def _handler_class(
    options: Options,
    service: str,
    routes: Routes,
    metrics: ServiceMetrics,
    live_headers: Callable[[], Mapping[str, str]],
) -> type[BaseHTTPRequestHandler]:
    faults = options.faults
    identity = {"X-Version": options.version, "X-Color": options.color, "X-Service": service}

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and the peer's delayed ACK add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            started = time.perf_counter()
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, path, self.rfile.read(length) if length else b"")
            metered = path not in UNMETERED
            if metered and faults.added_latency_ms:
                time.sleep(faults.added_latency_ms / 1000)  # the injected fault itself
            if metered and random.random() < faults.error_rate:
                response = Response.json(500, {"error": "injected fault"})
            else:
                response = _safely(routes, request)
            self._send(response)
            if metered:
                metrics.observe(response.status, time.perf_counter() - started)

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            # Uncacheable unless the handler says otherwise: the edge must not keep errors.
            headers = {
                "Cache-Control": "no-store",
                **identity,
                **live_headers(),
                **response.headers,
            }
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # access logs would drown the service's own log under load

    return _Handler


def _safely(routes: Routes, request: Request) -> Response:
    try:
        return dispatch(routes, request)
    except Exception as err:  # a bug or a dead dependency is a 500, never a dropped socket
        return Response.json(500, {"error": f"{type(err).__name__}: {err}"})
