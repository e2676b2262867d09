"""The one client of HAProxy's runtime API: one command per connection on the admin socket.

Used by the haproxy traffic router (weights), the haproxy-stats metric provider (`show
stat`) and the local stack itself (drain and ready a server around a deploy, drain all on
`down`). HAProxy must expose `stats socket <path> mode 600 level admin`; in non-interactive
mode it answers one command and closes the connection, so a command is: connect, send, read
to EOF. Every failure (unreachable socket, refused command, unexpected answer) is a
RouterError: HAProxy is the local stack's router.

Every command is checked before it is sent (`safe_command`): words of letters, digits and
`. _ : / -` separated by single spaces. A name carrying a newline, `;` or a space would
otherwise start a second command on the socket (`set server be/blue;shutdown sessions`),
so such a command is a BadInput and never reaches HAProxy.
"""

from __future__ import annotations

import csv
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from stackspec.errors import BadInput, RouterError
from stackspec.names import haproxy_name

_WORD = r"[A-Za-z0-9._:/-]{1,128}"
_COMMAND = re.compile(rf"{_WORD}( {_WORD})*")
SERVER_STATES = ("ready", "drain", "maint")
_HINT = "is haproxy running with `stats socket <path> level admin`, and is the path right?"


@dataclass(frozen=True)
class HaproxyRuntime:
    """Sends runtime-API commands to the admin socket at `socket_path`."""

    socket_path: Path
    timeout_seconds: float = 5.0

    def command(self, line: str) -> str:
        """Run one command and return HAProxy's answer; RouterError if unreachable,
        BadInput (nothing sent) if the line is not `safe_command`."""
        safe_command(line)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_seconds)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                return _read_to_eof(sock)
        except OSError as exc:
            raise RouterError(
                f"cannot talk to haproxy's admin socket {self.socket_path}: {exc}", hint=_HINT
            ) from exc

    def change(self, line: str) -> None:
        """Run a command that changes state; HAProxy answers nothing when it worked."""
        answer = self.command(line).strip()
        if answer:
            raise RouterError(
                f"haproxy refused '{line}': {answer}",
                hint="check that the backend and server names exist in haproxy.cfg",
            )

    def set_server_state(self, backend: str, server: str, state: str) -> None:
        """`set server <backend>/<server> state <ready|drain|maint>`; RouterError if refused."""
        haproxy_name(backend, "haproxy backend")
        haproxy_name(server, "haproxy server")
        if state not in SERVER_STATES:
            raise BadInput(f"haproxy server state {state[:40]!r}", hint=f"allowed: {SERVER_STATES}")
        self.change(f"set server {backend}/{server} state {state}")

    def servers(self) -> list[tuple[str, str]]:
        """Every (backend, server) pair HAProxy knows, from `show stat` (no totals rows)."""
        return [
            (row["pxname"], row["svname"])
            for row in self.show_stat()
            if row.get("svname") not in ("FRONTEND", "BACKEND")
        ]

    def show_stat(self) -> list[dict[str, str]]:
        """`show stat` as one dict per proxy/server row, keyed by the CSV header."""
        return parse_csv_table(self.command("show stat"))

    def show_servers_state(self, backend: str) -> list[dict[str, str]]:
        """`show servers state <backend>` as one dict per server."""
        haproxy_name(backend, "haproxy backend")
        answer = self.command(f"show servers state {backend}")
        lines = [line for line in answer.splitlines() if line.strip()]
        # The first line is the format version; the header is the "# "-prefixed line.
        if not lines or not lines[0].strip().isdigit():
            raise RouterError(
                f"haproxy cannot show backend {backend}: {answer.strip()}",
                hint=f"haproxy.cfg needs `backend {backend}` with servers blue and green",
            )
        return parse_space_table(lines[1:])


def safe_command(line: str) -> str:
    """`line` if it is one runtime-API command of plain words, else BadInput."""
    if not _COMMAND.fullmatch(line):
        shown = repr(line[:60] + ("..." if len(line) > 60 else ""))
        raise BadInput(
            f"refusing to send {shown} to haproxy's admin socket",
            hint="names may hold letters, digits and . _ : / - only (no spaces, newlines or ';')",
        )
    return line


def _read_to_eof(sock: socket.socket) -> str:
    chunks: list[bytes] = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def parse_csv_table(text: str) -> list[dict[str, str]]:
    """Parse HAProxy's `# a,b,c` CSV output into rows keyed by column name."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise RouterError(f"unexpected answer from haproxy: {text[:200]!r}")
    lines[0] = lines[0][2:]
    return [dict(row) for row in csv.DictReader(lines)]


def parse_space_table(lines: list[str]) -> list[dict[str, str]]:
    """Parse a `# a b c` header followed by space-separated rows."""
    if not lines or not lines[0].startswith("# "):
        raise RouterError(f"unexpected answer from haproxy: {lines[:2]!r}")
    header = lines[0][2:].split()
    return [dict(zip(header, line.split(), strict=False)) for line in lines[1:]]
