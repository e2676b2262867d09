"""The real local stack the drills break, and how they drive and read it.

`drill_stack()` brings up a private local stack (`benchmarks.stack.bench_stack`: free ports,
a temp dir, this process's RUNBOOK_* pointed at it) with the admin-socket proxy in front of
HAProxy. The engine runs as the installed `runbook` CLI in a subprocess (its pid is the
engine's own python process, so kill -9 kills the engine); the router's weights are read
from HAProxy's real socket, the journal as the CLI opens it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis

from benchmarks.drills.proxy import AdminProxy
from benchmarks.stack import SERVICE, STACK, BenchStack, bench_stack
from runbooks.core.model import Weights
from runbooks.journal.base import Event, Journal
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.session import current_settings, open_journal
from stackspec.errors import RouterError
from stackspec.model import Color

CACHE_KEY = f"trading:{SERVICE}:key-version"
RUNBOOK = Path(sys.executable).with_name("runbook")
CLI_TIMEOUT = 180.0
T = TypeVar("T")

# Steps long enough to land a kill or an outage inside each, short enough for 20 releases.
DRILL_POLICY: dict[str, Any] = {
    "steps": [
        {"weight": 10, "bakeSeconds": 4},
        {"weight": 50, "bakeSeconds": 4},
        {"weight": 100, "bakeSeconds": 2},
    ],
    # Not 1 s: on a loaded box an analysis can take longer than the interval, and then a
    # tick is always due before the step's completion is considered (the step never ends).
    "analysisIntervalSeconds": 2,
    "scaleDownDelaySeconds": 1,
    "metrics": {"provider": "prometheus", "minWindowSeconds": 4},
    # The drills test what the engine does around faults, not the judge's eye for latency
    # (benchmarks/analysis does): a freshly started color reads slower for seconds on this
    # shared box, so latency under 100 ms is not judged here.
    "thresholds": {"minRequests": 20, "p95LatencyFloorMs": 100},
}


@dataclass(frozen=True)
class DrillStack:
    """A private local stack that is up, with the admin-socket proxy installed."""

    bench: BenchStack
    proxy: AdminProxy
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. the secrets drill's
    transcript: dict[str, str] = field(default_factory=dict)  # every CLI output, by label

    @property
    def env(self) -> dict[str, str]:
        """The CLI's environment: this process's, which `bench_stack` pointed at the stack."""
        env = dict(os.environ) | {"NO_COLOR": "1"} | self.extra_env
        # Bytecode used and kept as an installed runbook has it (scripts/setup compiles it):
        # compiling every module at each start takes tens of seconds on a loaded box, and
        # ten processes started together would each compile the same modules.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
        return env

    @property
    def load_url(self) -> str:
        """Users' reads through HAProxy."""
        return self.bench.load_url

    @property
    def orders_url(self) -> str:
        """Users' writes through HAProxy."""
        return self.bench.ends.haproxy_url + "/orders"

    def run(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """`runbook ARGS` to its end, output captured (and kept in the transcript)."""
        done = subprocess.run(
            [str(RUNBOOK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        label = f"runbook {' '.join(args)[:80]} #{len(self.transcript)}"
        self.transcript[label] = done.stdout + done.stderr
        return done

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """`runbook ARGS` started, not awaited (with `env` added to the CLI's environment)."""
        return subprocess.Popen(
            [str(RUNBOOK), *args],
            env=self.env | dict(env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def journal(self) -> Journal:
        """The stack's journal, opened as the CLI opens it."""
        return open_journal(STACK)

    def events(self, release_id: str) -> list[Event]:
        """Every journal event of a release, in order."""
        return self.journal().events(release_id)

    def live_weights(self) -> Weights | None:
        """HAProxy's real split (read past the proxy); None when no color has weight."""
        router = HaproxyRouter(self.proxy.real, retry_budget_seconds=0)
        try:
            return router.get_weights(SERVICE)
        except RouterError:
            return None

    def active_color(self) -> Color:
        """The color the stack state names active."""
        return current_settings(STACK).service(SERVICE).active_color

    def status(self) -> dict[str, Any]:
        """`runbook status --json` of the service: its row, or {"error": ...}."""
        try:
            done = self.run("status", "-s", STACK, "--service", SERVICE, "--json", timeout=60)
        except subprocess.TimeoutExpired:
            return {"error": "no answer within 60 s"}
        if done.returncode != 0:
            return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
        try:
            rows: list[dict[str, Any]] = json.loads(done.stdout)["services"]
        except (ValueError, KeyError, TypeError):
            return {"error": f"unreadable status: {done.stdout[:300]!r}"}
        return rows[0] if rows else {"error": "no service in status"}

    def cache_version(self) -> int | None:
        """The service's cache key version in Redis (None while the key is absent)."""
        with redis.Redis.from_url(self.bench.ends.redis_url) as client:
            raw = client.get(CACHE_KEY)
        return None if raw is None else int(raw)

    def migrated(self) -> bool:
        """Whether migration 1.2.0's expand is applied (its column exists)."""
        with psycopg.connect(self.bench.ends.postgres_dsn) as conn:
            row = conn.execute(
                "SELECT 1 FROM information_schema.columns "
                "WHERE table_name = 'orders' AND column_name = 'client_ref'"
            ).fetchone()
        return row is not None

    def newest_release(self) -> str | None:
        """The id of the service's newest release, or None."""
        latest = self.journal().latest(STACK, SERVICE)
        return latest.id if latest else None

    def settle(self) -> None:
        """No release in progress and no lock held (a killed engine leaves both behind)."""
        journal = self.journal()
        if journal.current(STACK, SERVICE) is not None or journal.lock_holder(STACK):
            self.run(*verb_args("rollback", "--force"), timeout=600)


@contextmanager
def drill_stack(policy: Mapping[str, Any] = DRILL_POLICY) -> Iterator[DrillStack]:
    """The private stack for the `with` block, proxy installed; always torn down."""
    with bench_stack(policy) as bench:
        proxy = AdminProxy.install(bench.ends.admin_socket)
        try:
            yield DrillStack(bench, proxy)
        finally:
            proxy.uninstall()


def rollout_args(version: str, *extra: str) -> tuple[str, ...]:
    """`rollout` of the service to `version`, with any extra flags."""
    return ("rollout", "-s", STACK, "--service", SERVICE, "--version", version, *extra)


def verb_args(verb: str, *extra: str) -> tuple[str, ...]:
    """An operator verb (resume, rollback, abort, ...) against the service."""
    asks = verb in ("abort", "rollback") or "--force" in extra  # they ask on a terminal
    yes = ("--yes",) if asks and "--yes" not in extra else ()
    return (verb, "-s", STACK, "--service", SERVICE, *extra, *yes)


def poll(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.02) -> T:
    """The first truthy `check()` within `timeout` seconds; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def finish(proc: subprocess.Popen[str], timeout: float = CLI_TIMEOUT) -> tuple[int, str, str]:
    """Wait for `proc`: its exit code, stdout and stderr (killed if it overruns)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return -9, out, err + f"\n(killed after {timeout:g}s)"
    return proc.returncode, out, err


def say(message: str) -> None:
    """Progress, on stderr so stdout stays JSON lines."""
    print(f"[drills {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_load() -> list[float]:
    """The 1, 5 and 15-minute load averages (what `uptime` shows)."""
    return [round(x, 2) for x in os.getloadavg()]


_RUN = time.strftime("%H%M%S")
_released = itertools.count(1)


def versions() -> Iterator[str]:
    """Fresh versions, unique to this process (never released before on this stack)."""
    while True:
        yield f"3.{next(_released)}.0-drill{_RUN}"


def tail(text: str, chars: int = 600) -> str:
    """The end of a command's output, for details."""
    return text.strip()[-chars:]


def kinds(events: Sequence[Event]) -> list[str]:
    """A compact trace of a release's events: `decision:<phase>`, `started:<type>`, ..."""
    trace = []
    for e in events:
        if e.kind == "decision":
            trace.append(f"decision:{e.data['state']['phase']}")
        elif e.kind.startswith("action."):
            trace.append(f"{e.kind.split('.')[1]}:{e.data['action']['type']}")
        else:
            trace.append(e.kind)
    return trace
