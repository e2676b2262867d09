"""Names and versions typed by users (stackspec.names) and the HAProxy socket's guard: a
5000-character version was echoed back whole; a name with a newline or ';' could have sent a
second command down HAProxy's admin socket; a stack name could have become any path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.haproxy_runtime import HaproxyRuntime, safe_command
from stackspec import names
from stackspec.errors import BadInput, ExitCode
from stackspec.stackfile import stack_path

LONG = "1." + "9" * 5000


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (names.version, LONG),
        (names.version, "1.0.0\n"),
        (names.version, "../../etc"),
        (names.version, "1.0.0; rm -rf /"),
        (names.version, ""),
        (names.stack_name, "../../etc"),
        (names.stack_name, "Local"),
        (names.stack_name, "a" * 41),
        (names.service_name, "trading api"),
        (names.service_name, "x" * 64),
        (names.haproxy_name, "blue\nshutdown sessions"),
        (names.haproxy_name, "blue;disable server"),
        (names.haproxy_name, "blue green"),
    ],
)
def test_bad_names_are_refused_and_shown_short(check: object, value: str) -> None:
    with pytest.raises(BadInput) as caught:
        check(value)  # type: ignore[operator]
    message = str(caught.value) + (caught.value.hint or "")
    assert "allowed:" in message
    assert len(message) < 400


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (names.version, "1.2.0"),
        (names.version, "2024.01.02+build.7"),
        (names.stack_name, "production"),
        (names.service_name, "trading-api"),
        (names.haproxy_name, "be_trading-api"),
    ],
)
def test_good_names_pass(check: object, value: str) -> None:
    assert check(value) == value  # type: ignore[operator]


def test_a_stack_name_never_becomes_a_path_outside_the_stacks_folder() -> None:
    with pytest.raises(BadInput, match="--stack"):
        stack_path("../../etc/passwd")


@pytest.mark.parametrize(
    "line",
    [
        "set server be_x/blue state ready\nshutdown sessions server be_x/green",
        "set server be_x/blue;shutdown state ready",
        "set server be_x/blue  weight 10",
        "show stat\r",
    ],
)
def test_nothing_unsafe_reaches_the_haproxy_socket(tmp_path: Path, line: str) -> None:
    runtime = HaproxyRuntime(tmp_path / "absent.sock")  # a RouterError if it were sent
    with pytest.raises(BadInput, match="admin socket"):
        runtime.command(line)


def test_server_names_and_states_are_checked(tmp_path: Path) -> None:
    runtime = HaproxyRuntime(tmp_path / "absent.sock")
    with pytest.raises(BadInput, match="haproxy server"):
        runtime.set_server_state("be_x", "blue\nshutdown", "ready")
    with pytest.raises(BadInput, match="state"):
        runtime.set_server_state("be_x", "blue", "stopped")
    assert safe_command("set server be_x/blue weight 10")


def test_a_5000_character_version_is_not_echoed_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbooks.local.isolated import isolated_stack

    isolated_stack(tmp_path)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))
    args = ["rollout", "-s", "local", "--service", "trading-api", "--version", LONG]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "5002 characters" in result.output
    assert "9" * 100 not in result.output
    assert len(result.output) < 600
