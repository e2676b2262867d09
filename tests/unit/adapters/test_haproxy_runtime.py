"""The one HAProxy runtime client (runbooks.haproxy_runtime) against a Unix socket that
answers one command per connection as HAProxy's admin socket does, from a script."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbooks.haproxy_runtime import HaproxyRuntime
from stackspec.errors import RouterError

SHOW_STAT = (
    "# pxname,svname,status\n"
    "fe_http,FRONTEND,OPEN\n"
    "be_trading-api,blue,UP\n"
    "be_trading-api,green,UP\n"
    "be_trading-api,BACKEND,UP\n"
)


class ScriptedSocket:
    """Answers each command with `answers[command]` (empty when absent), then closes."""

    def __init__(self, path: Path, answers: dict[str, str]) -> None:
        self.path, self.answers, self.received = path, answers, list[str]()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                line = conn.recv(4096).decode().strip()
                self.received.append(line)
                conn.sendall(self.answers.get(line, "").encode())

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[ScriptedSocket]:
    answers = {
        "show stat": SHOW_STAT,
        "set server be_trading-api/purple state drain": "No such server.\n",
    }
    scripted = ScriptedSocket(tmp_path / "admin.sock", answers)
    yield scripted
    scripted.close()


def test_servers_lists_backend_server_pairs_without_totals(haproxy: ScriptedSocket) -> None:
    runtime = HaproxyRuntime(haproxy.path, timeout_seconds=2)

    assert runtime.servers() == [("be_trading-api", "blue"), ("be_trading-api", "green")]


def test_set_server_state_sends_one_command(haproxy: ScriptedSocket) -> None:
    HaproxyRuntime(haproxy.path, timeout_seconds=2).set_server_state(
        "be_trading-api", "green", "drain"
    )

    assert haproxy.received == ["set server be_trading-api/green state drain"]


def test_a_refused_state_change_is_a_router_error_with_haproxys_answer(
    haproxy: ScriptedSocket,
) -> None:
    with pytest.raises(RouterError, match=r"haproxy refused .*purple.*: No such server"):
        HaproxyRuntime(haproxy.path, timeout_seconds=2).set_server_state(
            "be_trading-api", "purple", "drain"
        )


def test_no_socket_is_a_router_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sock"

    with pytest.raises(RouterError, match=f"cannot talk to haproxy's admin socket {missing}"):
        HaproxyRuntime(missing, timeout_seconds=1).servers()
