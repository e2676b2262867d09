"""The one safe loader of users' YAML and JSON (stackspec.safeload), and the stack-file
defects it fixes: an alias bomb grew past 2.8 GB into a MemoryError traceback, a 10 MB file
was read whole, duplicate keys were silently last-wins, a non-UTF-8 file was a traceback.
Each is now a StackFileError (exit 2) naming the file and the key, found in well under 1 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from stackspec import safeload
from stackspec.errors import BadInput, ExitCode
from stackspec.safeload import StackFileError, load_json, load_yaml, parse_yaml
from stackspec.stackfile import load_stack_file, stack_path

LOCAL = stack_path("local").read_text(encoding="utf-8")


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": 9 levels of 9 aliases each is 9**9 strings once expanded."""
    lines = ["config:", '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        items = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"  l{level}: &l{level} [{items}]")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "Pulumi.local.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def refused(path: Path) -> StackFileError:
    started = time.perf_counter()
    with pytest.raises(StackFileError) as caught:
        load_stack_file(path)
    assert time.perf_counter() - started < 5  # generous under load; ~0.01 s alone
    assert str(path) in str(caught.value)
    return caught.value


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    error = refused(write(tmp_path, alias_bomb()))
    assert "config.l1[0]: got alias *l0 at line 3" in str(error)
    assert "no YAML aliases" in str(error)


def test_no_project_yaml_file_uses_an_alias() -> None:
    root = stack_path("local").parent.parent
    files = [*root.glob("stacks/*.yaml"), *root.glob("config/*/*.yaml")]
    files += [*root.glob("migrations/*/*.yaml")]
    assert len(files) >= 4
    for path in files:
        load_yaml(path, "file")  # would raise on an alias or a duplicate key


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, LOCAL + "#" * 10_000_000)
    with mock.patch.object(Path, "read_text", side_effect=AssertionError("read whole")):
        error = refused(path)
    assert "(file): got 10" in str(error)
    assert "at most 1000000 bytes" in str(error)


def test_a_file_growing_while_read_is_cut_at_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\n" * 100)
    with pytest.raises(StackFileError, match="at most 50 bytes"):
        safeload.read_text(path, "test file", max_bytes=50)


def test_duplicate_keys_are_refused_naming_the_key_and_both_lines(tmp_path: Path) -> None:
    doubled = LOCAL.replace("minRequests: 20", "minRequests: 5\n      minRequests: 500000", 1)
    assert doubled != LOCAL
    line = LOCAL[: LOCAL.index("minRequests: 20")].count("\n") + 1
    error = refused(write(tmp_path, doubled))
    assert f"minRequests: got the key twice, at line {line} and line {line + 1}" in str(error)
    assert "config.trading-platform:rollout" in str(error)


def test_a_non_utf8_file_is_refused_naming_the_byte_offset(tmp_path: Path) -> None:
    data = LOCAL.encode() + b"# caf\xe9\n"
    error = refused(write(tmp_path, data))
    assert f"not UTF-8: byte 0xe9 at offset {len(LOCAL.encode()) + 5}" in str(error)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "config: " + "[" * 200 + "]" * 200 + "\n"))
    assert "nest" in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "a": 2}', "a: got the key twice"),
        ('{"a": NaN}', "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ("[" * 100_000 + "]" * 100_000, "(json)"),
        ('{"a": ', "unparsable"),
    ],
)
def test_json_is_refused_alike(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "record.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StackFileError, match="invalid evidence file") as caught:
        load_json(path, "evidence file")
    assert expected in str(caught.value)


def test_a_refusal_is_bad_input() -> None:
    with pytest.raises(BadInput):
        parse_yaml("a: *b\n", "inline", "test")


@pytest.mark.parametrize(
    "content",
    [
        alias_bomb(),
        LOCAL.replace("minRequests: 20", "minRequests: 5\n      minRequests: 500000", 1),
        LOCAL.encode() + b"\xff",
    ],
    ids=["alias-bomb", "duplicate-key", "latin-1"],
)
def test_the_cli_exits_2_in_one_message_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes
) -> None:
    path = write(tmp_path, content)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    args = ["rollout", "-s", "local", "--service", "trading-api", "--version", "9.0.0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert str(path) in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "state").exists()  # nothing recorded
