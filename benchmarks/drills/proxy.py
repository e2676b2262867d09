"""A Unix-socket proxy in front of HAProxy's admin socket, for the drills to break.

`AdminProxy.install(admin_socket)` moves the real socket aside (`admin.sock.real`; HAProxy
keeps listening on it: a rename keeps the inode) and listens at the old path, forwarding one
command per connection as HAProxy answers them. Everything that reaches HAProxy through the
stack's recorded path — the engine, the CLI, the local stack itself — goes through it, while
the drills read the real weights from the real socket. The drills can then:
- `vanish()` / `restore()`: the socket file gone, as in an admin-socket blip;
- `hold(matches, nth)`: stop the nth matching command before it reaches HAProxy until
  `release()`, so the engine can be killed in the middle of a weight change;
- `blip_on(matches, seconds)`: at the next matching command, reset its connection (the
  client reads ECONNRESET: the command is left unread, which a Unix socket reports so) and
  vanish for `seconds`, so an outage begins exactly inside a weight change.
`uninstall()` puts the real socket back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from runbooks.haproxy_runtime import HaproxyRuntime
from stackspec.errors import RouterError

Matcher = Callable[[str], bool]


class AdminProxy:
    """Forwards runtime-API commands from `path` to the real socket at `real`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.real = path.with_name(path.name + ".real")
        self.commands: list[str] = []  # every command forwarded, in order
        self.holding = threading.Event()  # set while a command is held
        self._released = threading.Event()
        self._hold: tuple[Matcher, int] | None = None
        self._blip: tuple[Matcher, float] | None = None
        self._on_hold: Callable[[], None] | None = None
        self.blips: list[tuple[float, float]] = []  # (start, seconds) of each blip made
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    @classmethod
    def install(cls, admin_socket: Path) -> AdminProxy:
        """Move the real socket aside and listen in its place."""
        proxy = cls(admin_socket)
        os.replace(admin_socket, proxy.real)
        proxy.restore()
        return proxy

    def uninstall(self) -> None:
        """Stop listening and put the real socket back at its path."""
        self.release()
        self.vanish()
        os.replace(self.real, self.path)

    def runtime(self) -> HaproxyRuntime:
        """A runtime client of the real socket (what HAProxy really has)."""
        return HaproxyRuntime(self.real)

    def vanish(self) -> None:
        """The socket file is gone: connecting fails with 'No such file or directory'."""
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            self.path.unlink(missing_ok=True)

    def restore(self) -> None:
        """Listen at the path again."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.path))
            os.chmod(self.path, 0o600)
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def hold(
        self, matches: Matcher, nth: int = 1, on_hold: Callable[[], None] | None = None
    ) -> None:
        """Hold the `nth` command (counted from now) for which `matches(command)` holds;
        `on_hold` runs as soon as it is held (on the proxy's thread: a kill lands at once,
        before the client's socket timeout makes it retry)."""
        with self._lock:
            self.holding.clear()
            self._released.clear()
            self._hold = (matches, nth)
            self._on_hold = on_hold

    def blip_on(self, matches: Matcher, seconds: float) -> None:
        """At the next command for which `matches(command)` holds, vanish for `seconds`."""
        with self._lock:
            self._blip = (matches, seconds)

    def blip(self, seconds: float) -> None:
        """Vanish now, and come back after `seconds` (on a timer thread)."""
        self.blips.append((time.time(), seconds))
        self.vanish()
        timer = threading.Timer(seconds, self.restore)
        timer.daemon = True
        timer.start()

    def release(self) -> None:
        """Drop the held command without forwarding it (its sender is gone) and stop holding."""
        with self._lock:
            self._hold = None
        self._released.set()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # a client gone mid-command is no error here
            line = _peek_line(conn)
            if self._held(line):
                if self._on_hold is not None:
                    self._on_hold()
                self.holding.set()
                self._released.wait()
                return  # closed with the command unread: the client reads ECONNRESET
            blip = self._blipped(line)
            if blip is not None:
                self.blip(blip)
                return
            conn.recv(65536)  # consume the command that was peeked (one line per connection)
            try:
                answer = self.runtime().command(line)
            except RouterError:
                return  # the client sees a closed connection, as when HAProxy is gone
            self.commands.append(line)
            conn.sendall(answer.encode())

    def _held(self, line: str) -> bool:
        with self._lock:
            if self._hold is None or not self._hold[0](line):
                return False
            matches, left = self._hold
            if left > 1:
                self._hold = (matches, left - 1)
                return False
            self._hold = None
            return True

    def _blipped(self, line: str) -> float | None:
        with self._lock:
            if self._blip is None or not self._blip[0](line):
                return None
            seconds = self._blip[1]
            self._blip = None
            return seconds


def _peek_line(conn: socket.socket) -> str:
    """The command line, left unread in the socket (MSG_PEEK) until the proxy decides."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096, socket.MSG_PEEK)
        if not chunk:  # the client closed before a whole line
            break
        if len(chunk) == len(data):  # the rest of the line is still on its way
            time.sleep(0.001)
        data = chunk
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()
