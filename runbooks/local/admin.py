"""The few HAProxy runtime-API commands the local stack itself needs (drain, ready)."""

from __future__ import annotations

import csv
import socket
from pathlib import Path


def command(admin_socket: Path, line: str, timeout: float = 5) -> str:
    """Send one command over the admin socket and return HAProxy's answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(admin_socket))
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def servers(admin_socket: Path) -> list[tuple[str, str]]:
    """Every (backend, server) pair HAProxy knows, from `show stat`."""
    rows = csv.reader(command(admin_socket, "show stat").lstrip("# ").splitlines())
    return [
        (r[0], r[1]) for r in list(rows)[1:] if len(r) > 1 and r[1] not in ("FRONTEND", "BACKEND")
    ]


def set_state(admin_socket: Path, backend: str, server: str, state: str) -> None:
    """`set server <backend>/<server> state <ready|drain|maint>`; raises on refusal."""
    answer = command(admin_socket, f"set server {backend}/{server} state {state}").strip()
    if answer:
        raise RuntimeError(f"haproxy refused {state} of {backend}/{server}: {answer}")
