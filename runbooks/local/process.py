"""A started server as data, and the few helpers every launcher needs.

A `Server` holds only a pid, so it can be written to a file by one command and stopped by
another: nothing here needs the `Popen` object that started it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackspec.errors import RunbookError


class LaunchError(RunbookError):
    """A server could not be started: bad config, or it exited while starting."""


@dataclass
class Server:
    """One server process listening on 127.0.0.1:`port`, logging to `log_path`.

    `stop_signal` is what asks it to shut down cleanly (PostgreSQL wants SIGINT: SIGTERM
    would wait for every client to leave).
    """

    name: str
    pid: int
    port: int
    log_path: Path
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        """Whether the process still runs (a zombie child counts as gone, and is reaped)."""
        return pid_alive(self.pid)

    def stop(self, timeout: float = 10) -> None:
        """Ask the process to stop, wait up to `timeout` s, then kill it. Idempotent."""
        if not self.alive():
            return
        _signal(self.pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return
            time.sleep(0.05)
        _signal(self.pid, signal.SIGKILL)
        wait_until(lambda: not self.alive(), 5, f"{self.name} (pid {self.pid}) to die")


# Children this process started, kept so that they are reaped through their Popen (a Popen
# dropped while its child runs warns; a child reaped behind its Popen's back confuses it).
_children: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running (not zombie) process; reaps it if it is our exited child."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Call `check` every `interval` s until it returns True.

    An exception from `check` counts as "not yet". Raises TimeoutError naming `what` and
    the last error seen once `timeout` s have passed.
    """
    deadline = time.monotonic() + timeout
    last_error = "check returned False"
    while True:
        try:
            if check():
                return
        except Exception as err:  # any failure of a probe just means "not ready yet"
            last_error = f"{type(err).__name__}: {err}"
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout:g}s waiting for {what}; last: {last_error}"
            )
        time.sleep(interval)


PRIVATE_PORTS = (20000, 21000)  # lowest port picked, and the least room kept below ephemeral
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, not handed out before by this process.

    Picked below the kernel's ephemeral range: a port picked there can be taken by any
    outgoing connection (a connection pool opens dozens) between picking and binding.
    """
    return free_port_block(1)


def free_port_block(width: int, taken: set[int] | None = None) -> int:
    """The first of `width` consecutive free ports below the ephemeral range, none in `taken`.

    Raises LaunchError when 200 random tries find no such block.
    """
    avoid = _handed_out | (taken or set())
    low, high = PRIVATE_PORTS[0], _ephemeral_low() - width
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high)
        block = range(base, base + width)
        if not avoid & set(block) and all(map(_bindable, block)):
            _handed_out.update(block)
            return base
    raise LaunchError(
        f"no {width} free port(s) between {low} and {high + width}",
        hint="stop what holds the ports, or free some of the range",
    )


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return max(PRIVATE_PORTS[1], int(text.split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    port: int,
    user: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Start `argv` in its own session (it outlives the caller), output to `log_path`.

    `user` switches to that user in the child before exec, so the pid is the server's own.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            env=env,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    _children[proc.pid] = proc
    return Server(name=name, pid=proc.pid, port=port, log_path=log_path)


def started_or_stopped(server: Server, check: Callable[[], bool], timeout: float) -> Server:
    """Wait until `check` passes; on failure stop `server` and raise naming its log.

    Raises TimeoutError (or LaunchError when the process died) with the log's tail.
    """

    def ready_or_dead() -> bool:
        return not server.alive() or check()

    try:
        wait_until(ready_or_dead, timeout, f"{server.name} on port {server.port}")
    except TimeoutError as err:
        server.stop()
        raise TimeoutError(f"{err}\n{_tail(server.log_path)}") from None
    if not server.alive():
        raise LaunchError(
            f"{server.name} exited while starting\n{_tail(server.log_path)}",
            hint=f"read {server.log_path}",
        )
    return server


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"(no log at {path})"
    return f"last lines of {path}:\n" + "\n".join(f"  {line}" for line in text)
