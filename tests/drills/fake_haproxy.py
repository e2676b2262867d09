"""A stateful stand-in for HAProxy's admin socket: enough of the runtime API for the router.

It answers `show servers state <backend>` and `set server <backend>/<server> weight|state`
one command per connection, as HAProxy does in non-interactive mode, and can be made to
vanish (its socket file removed) and come back, as in an admin-socket blip.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

_DRAIN = 0x08
HEADER = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"


class FakeHaproxy:
    """Servers `blue` (weight 100) and `green` (drained, weight 0) of `backend`."""

    def __init__(self, path: Path, backend: str = "be_trading-api") -> None:
        self.path, self.backend = path, backend
        self.servers = {"blue": [100, 0], "green": [0, _DRAIN]}  # weight, admin state
        self.received: list[str] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeHaproxy:
        """Listen at `path` (again, after `vanish`)."""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen()
        self._thread = threading.Thread(target=self._serve, args=(self._listener,), daemon=True)
        self._thread.start()
        return self

    def vanish(self) -> None:
        """Close the socket and remove its file: connecting fails as if HAProxy were gone."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.path.unlink(missing_ok=True)

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                line = conn.recv(4096).decode().strip()
                self.received.append(line)
                conn.sendall(self.answer(line).encode())

    def answer(self, line: str) -> str:
        """HAProxy's answer to one command (empty for a change that worked)."""
        words = line.split()
        if words[:3] == ["show", "servers", "state"] and words[3:] != [self.backend]:
            return "Can't find backend.\n"
        if words[:3] == ["show", "servers", "state"]:
            rows = [
                f"1 {self.backend} {i} {name} 127.0.0.1 2 {admin} {weight}"
                for i, (name, (weight, admin)) in enumerate(self.servers.items(), 1)
            ]
            return "\n".join(["1", HEADER, *rows]) + "\n"
        if words[:2] == ["set", "server"] and len(words) == 5:
            server = self.servers[words[2].split("/")[1]]
            if words[3] == "weight":
                server[0] = int(words[4])
            else:
                server[1] = _DRAIN if words[4] == "drain" else 0
            return ""
        return "Unknown command.\n"
