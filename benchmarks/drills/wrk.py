"""wrk (Debian's `wrk`) as the drills' closed-loop load: as many requests as the machine
sustains through HAProxy, its summary parsed into requests, failures and the rate."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

THREADS = 2
CONNECTIONS = 32
LONGEST_SECONDS = 600  # a run is stopped by SIGINT long before (wrk then prints its summary)


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run reported."""

    requests: int
    seconds: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]

    @property
    def failed(self) -> int:
        """Requests answered 4xx/5xx or not at all (connect, read, write errors, timeouts)."""
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def rate(self) -> float:
        """Requests per second achieved."""
        return round(self.requests / self.seconds, 1) if self.seconds else 0.0


def parse(summary: str) -> WrkRun:
    """wrk's summary as a WrkRun; ValueError when it has no request count."""
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", summary)
    if done is None:
        raise ValueError(f"no wrk summary in: {summary[-500:]!r}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", summary)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", summary
    )
    names = ("connect", "read", "write", "timeout")
    return WrkRun(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * scale,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(names, map(int, errors.groups()), strict=True)) if errors else {},
    )


def flat_out(url: str, seconds: float) -> WrkRun:
    """wrk at full speed against `url` for `seconds`."""
    done = subprocess.run(
        _argv(url, seconds), capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    return parse(done.stdout)


@contextmanager
def running(url: str) -> Iterator[list[WrkRun]]:
    """wrk at full speed for the `with` block; the list holds its run once the block ends."""
    proc = subprocess.Popen(_argv(url, LONGEST_SECONDS), stdout=subprocess.PIPE, text=True)
    result: list[WrkRun] = []
    try:
        yield result
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        result.append(parse(out))


def _argv(url: str, seconds: float) -> list[str]:
    return ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "2s", url]
