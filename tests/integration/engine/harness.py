"""Driving the `runbook` CLI against a private local stack, and reading what it did.

Everything here talks to real processes: the CLI runs as a subprocess (the console script
of this venv, so a Popen's pid is the engine's own python process), the weights are read
live from HAProxy's admin socket and the journal from its SQLite file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from runbooks.core.model import Weights
from runbooks.journal.base import Event, Journal
from runbooks.journal.registry import JOURNALS
from runbooks.local import stack as local_stack
from runbooks.local.endpoints import LocalEndpoints, endpoints, state_dir_of
from runbooks.local.isolated import isolated_stack
from runbooks.local.load import Hit, Load
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.session import current_settings
from stackspec.model import Color, StackSettings

RUNBOOK = Path(sys.executable).with_name("runbook")
STACK = "local"
SERVICE = "trading-api"
CLI_TIMEOUT = 120.0
T = TypeVar("T")


def run_runbook(
    env: Mapping[str, str], args: Sequence[str], timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """The installed `runbook ARGS` run to its end in `env`, its output captured."""
    return subprocess.run(
        [str(RUNBOOK), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Stack:
    """A private local stack that is up: where it lives and how to reach it."""

    base: Path
    ends: LocalEndpoints
    journal_dsn: str | None = None  # PostgreSQL journal instead of the SQLite file

    @property
    def env(self) -> dict[str, str]:
        """The environment pointing the CLI at this stack and its journal."""
        env = os.environ | {
            "RUNBOOK_STACKS_DIR": str(self.base / "stacks"),
            "RUNBOOK_STATE_DIR": str(self.base / "runbook"),
            "NO_COLOR": "1",
        }
        env.pop("RUNBOOK_JOURNAL_DSN", None)
        return env | ({"RUNBOOK_JOURNAL_DSN": self.journal_dsn} if self.journal_dsn else {})

    @property
    def load_url(self) -> str:
        """The users' URL through HAProxy."""
        return self.ends.haproxy_url + "/orders"

    def settings(self) -> StackSettings:
        """The stack's settings with the release state the local driver recorded."""
        return current_settings(STACK, self.base / "stacks")

    def active_color(self) -> Color:
        """The color serving the service now, as the stack state records it."""
        return self.settings().service(SERVICE).active_color

    def weights(self) -> Weights:
        """The live split in HAProxy."""
        return HaproxyRouter(socket_path=self.ends.admin_socket).get_weights(SERVICE)

    def journal(self) -> Journal:
        """The stack's journal, as the CLI opens it."""
        if self.journal_dsn:
            return JOURNALS.create("postgres", dsn=self.journal_dsn)
        return JOURNALS.create("sqlite", state_dir=self.base / "runbook" / STACK)

    def run(
        self, *args: str, timeout: float = CLI_TIMEOUT, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `runbook ARGS` to its end (with `env` added to the stack's environment)."""
        return run_runbook(self.env | dict(env or {}), args, timeout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `runbook ARGS` without waiting; its pid is the engine's python process."""
        return subprocess.Popen(
            [str(RUNBOOK), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def status(self) -> dict[str, Any]:
        """`runbook status --json` of the service."""
        done = self.run("status", "-s", STACK, "--service", SERVICE, "--json")
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)["services"]
        return rows[0]


@contextmanager
def private_stack(prefix: str, policy: Mapping[str, Any]) -> Iterator[Stack]:
    """An isolated local stack with `policy`, up; always torn down and removed afterwards."""
    # PostgreSQL runs as user postgres: the base dir must be under /tmp and enterable.
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix=prefix))
    base.chmod(0o755)
    try:
        settings = isolated_stack(base, policy)
        try:
            status = local_stack.up(settings, state_dir_of(settings))
            assert status.healthy, status.as_dict()
            yield stack_of(base)
        finally:
            local_stack.down(state_dir_of(settings))
    finally:
        shutil.rmtree(base, ignore_errors=True)  # also when the stack file was refused


def settle(stack: Stack) -> None:
    """No release in progress and no lock held: a killed test's engine leaves both behind,
    which would fail every later test of the module for the wrong reason."""
    journal = stack.journal()
    if journal.current(STACK, SERVICE) is not None or journal.lock_holder(STACK):
        stack.run(*verb_args("rollback", "--force"))


def await_measured(stack: Stack, timeout: float = 60.0) -> None:
    """Until Prometheus has the active color's request series with some requests: the
    engine's preflight refuses a release without (exit 1), and a fresh stack's first scrape
    of a load just started can take longer than its patience on a loaded machine."""
    from runbooks.core.model import Target
    from runbooks.drivers.registry import open_driver
    from runbooks.metrics.registry import METRICS

    settings = stack.settings()
    service = settings.service(SERVICE)
    target = Target(SERVICE, service.active_color, service.versions.of(service.active_color))
    outputs = open_driver(STACK, settings).read_outputs(STACK)
    provider = METRICS.from_stack(settings.rollout.metrics.provider, settings, outputs)

    def measured() -> bool:
        sample = provider.sample(target, 5.0)
        return sample.error is None and sample.has_series and sample.requests > 0

    poll(measured, timeout, f"Prometheus to measure {SERVICE} {target.color}", every=0.5)


def stack_of(base: Path) -> Stack:
    """The Stack written under `base` by `isolated_stack`."""
    settings = current_settings(STACK, base / "stacks")
    return Stack(base, endpoints(settings))


def rollout_args(version: str, *extra: str) -> tuple[str, ...]:
    """`rollout` of the service to `version`, with any extra flags."""
    return ("rollout", "-s", STACK, "--service", SERVICE, "--version", version, *extra)


def verb_args(verb: str, *extra: str) -> tuple[str, ...]:
    """An operator verb (pause, resume, abort, rollback, ...) against the service; with --yes
    where it would ask on a terminal (abort, rollback, --force), as a script must, except
    with --restore-db, whose --yes accepts a restore's losses (a test gives it)."""
    asks = verb in ("abort", "rollback") or "--force" in extra
    yes = ("--yes",) if asks and "--restore-db" not in extra and "--yes" not in extra else ()
    return (verb, "-s", STACK, "--service", SERVICE, *extra, *yes)


def poll(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """The first truthy `check()` within `timeout` seconds; AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def finish(proc: subprocess.Popen[str], timeout: float = CLI_TIMEOUT) -> tuple[int, str, str]:
    """Wait for `proc`; its exit code, stdout and stderr (killed if it overruns)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(
            f"{proc.args!r} did not finish in {timeout:g}s: {err[-2000:]}"
        ) from None
    return proc.returncode, out, err


def newest_release(journal: Journal) -> str | None:
    """The id of the stack's newest release of the service, or None."""
    latest = journal.latest(STACK, SERVICE)
    return latest.id if latest else None


def decisions(events: Sequence[Event]) -> list[Mapping[str, Any]]:
    """The journaled states of every decision, in order."""
    return [e.data["state"] for e in events if e.kind == "decision"]


def done_actions(events: Sequence[Event], kind: str) -> list[Mapping[str, Any]]:
    """The actions of type `kind` that completed, in order."""
    return [
        e.data["action"]
        for e in events
        if e.kind == "action.done" and e.data["action"]["type"] == kind
    ]


def in_progress_on_step(stack: Stack, release_id: str, step_index: int) -> bool:
    """Whether the release's last decision is `progressing` on `step_index` (0-based)."""
    states = decisions(stack.journal().events(release_id))
    return bool(states) and (
        states[-1]["phase"] == "progressing" and states[-1]["step_index"] == step_index
    )


def hits_after(load: Load, since: float, count: int = 50) -> list[Hit]:
    """At least `count` of the load's hits at or after `since` (waits for them)."""

    def enough() -> list[Hit] | None:
        hits = load.hits(since)
        return hits if len(hits) >= count else None

    return poll(
        enough,
        timeout=10,
        what=f"{count} responses after {since:.1f}",
    )


def await_new_release(
    stack: Stack,
    before: str | None,
    timeout: float = 30,
    proc: subprocess.Popen[str] | None = None,
) -> str:
    """The id of the first release recorded after `before` (the newest one until then).

    With `proc` (the rollout), fails at once with its output if it exits without one.
    """

    def recorded() -> str | None:
        new = newest_release(stack.journal())
        if new == before and proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"rollout exited {proc.returncode}: {err[-2000:]}{out[-1000:]}")
        return new if new != before else None

    return poll(recorded, timeout, "a rollout to record its release")


def color_pids(stack: Stack, color: Color) -> list[int]:
    """Pids of the sample-service processes serving `color` of the service (by their argv)."""
    port = stack.ends.service_url(SERVICE, color).rsplit(":", 1)[1]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"samples.trading_api" in argv and f"{port}".encode() in argv:
            found.append(int(proc.name))
    return found
