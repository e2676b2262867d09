"""A tiny blue/green backend for the adapter tests, run as its own process.

    python backend_server.py --service trading-api --color green --fail-ratio 0.25

Binds 127.0.0.1 on a free port and prints that port on its first stdout line. Serves:
- `/health`: always 200 (what HAProxy's `option httpchk` asks);
- `/metrics`: Prometheus exposition of `http_requests_total{service,color,code}` and the
  `http_request_duration_seconds` histogram;
- anything else: the "app", answering its color's name, with a 500 on exactly
  `--fail-ratio` of requests (deterministic: every k-th), after `--latency-ms`.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("http_requests", "Requests served", ["service", "color", "code"])
LATENCY = Histogram("http_request_duration_seconds", "Request latency", ["service", "color"])


class FailurePlan:
    """Decides, deterministically, which request numbers fail."""

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    def next_fails(self) -> bool:
        with self._lock:
            n = next(self._numbers)
        return int((n + 1) * self._ratio) > int(n * self._ratio)


def make_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    plan = FailurePlan(args.fail_ratio)
    labels = {"service": args.service, "color": args.color}
    for code in ("200", "500"):  # series exist at 0 before traffic, so increase() sees it all
        REQUESTS.labels(code=code, **labels)
    LATENCY.labels(**labels)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, b"ok", "text/plain")
            elif self.path == "/metrics":
                self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._serve_app()

        def _serve_app(self) -> None:
            started = time.perf_counter()
            time.sleep(args.latency_ms / 1000)
            code = 500 if plan.next_fails() else 200
            self._answer(code, args.color.encode(), "text/plain")
            REQUESTS.labels(code=str(code), **labels).inc()
            LATENCY.labels(**labels).observe(time.perf_counter() - started)

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--color", required=True)
    parser.add_argument("--fail-ratio", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
