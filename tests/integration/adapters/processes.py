"""Starting and stopping the real servers the adapter tests run against."""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from runbooks.local.process import free_port

__all__ = ["backend", "free_port", "running", "stop", "wait_until"]

BACKEND_SCRIPT = Path(__file__).with_name("backend_server.py")


def wait_until(check: Callable[[], bool], what: str, deadline_seconds: float = 15.0) -> None:
    """Poll `check` until it is true; fail the test naming `what` after the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_seconds}s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[str]) -> None:
    """Terminate `process`, kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def running(args: list[str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """Run `args` with output to `log` for the duration of the block; always stopped."""
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            yield process
        finally:
            stop(process)


@contextlib.contextmanager
def backend(
    service: str, color: str, fail_ratio: float = 0.0, latency_ms: float = 0.0
) -> Iterator[int]:
    """Run backend_server.py for one color; yields the port it bound."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(BACKEND_SCRIPT),
            "--service",
            service,
            "--color",
            color,
            "--fail-ratio",
            str(fail_ratio),
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, f"backend {service}/{color} printed no port within 15s"
        yield int(process.stdout.readline())
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()
