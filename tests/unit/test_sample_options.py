"""samples.options: connection strings read from files (`--postgres-dsn-file`, `--redis-url-file`).

On aws stacks the pods get their DSN and Redis URL as files rendered by ESO; these tests
check the good path, each way a file can be wrong (one line on stderr, exit 2, the secret
never shown) and that a file option excludes its plain one, by flag or variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from samples.options import LOCAL_POSTGRES_DSN, LOCAL_REDIS_URL, parse

SECRET = "s3cr3t-p%40ss"
DSN = f"postgresql://admin:{SECRET}@db.example:5432/trading?sslmode=require"
REDIS = f"rediss://:{SECRET}@cache.example:6379/0"
VARIABLES = (
    "TRADING_POSTGRES_DSN",
    "TRADING_POSTGRES_DSN_FILE",
    "TRADING_REDIS_URL",
    "TRADING_REDIS_URL_FILE",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Parse `argv`, expect exit 2, return stderr (and check it holds no secret)."""
    with pytest.raises(SystemExit) as exited:
        parse("trading-api", argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "s3cr3t" not in err
    return err


def test_files_give_the_connection_strings_without_the_trailing_newline(tmp_path: Path) -> None:
    dsn = _file(tmp_path, "postgres-dsn", DSN + "\n")
    redis = _file(tmp_path, "redis-url", REDIS)
    options = parse(
        "trading-api", ["--postgres-dsn-file", str(dsn), "--redis-url-file", str(redis)]
    )
    assert options.postgres_dsn == DSN
    assert options.redis_url == REDIS


def test_variables_name_the_files_as_pods_set_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADING_POSTGRES_DSN_FILE", str(_file(tmp_path, "postgres-dsn", DSN)))
    monkeypatch.setenv("TRADING_REDIS_URL_FILE", str(_file(tmp_path, "redis-url", REDIS)))
    options = parse("market-data", [])
    assert (options.postgres_dsn, options.redis_url) == (DSN, REDIS)


def test_without_any_option_the_local_defaults_stay() -> None:
    options = parse("trading-api", [])
    assert (options.postgres_dsn, options.redis_url) == (LOCAL_POSTGRES_DSN, LOCAL_REDIS_URL)


def test_the_options_repr_hides_the_connection_strings(tmp_path: Path) -> None:
    options = parse("trading-api", ["--postgres-dsn-file", str(_file(tmp_path, "d", DSN))])
    assert SECRET not in repr(options)


def test_a_missing_file_is_one_line_naming_option_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent"
    err = _usage_error(["--postgres-dsn-file", str(missing)], capsys)
    assert err.count("\n") == 1
    assert "--postgres-dsn-file" in err and str(missing) in err
    assert "No such file or directory" in err
    assert "Traceback" not in err


def test_a_directory_is_unreadable_as_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error(["--redis-url-file", str(tmp_path)], capsys)
    assert err.count("\n") == 1 and "--redis-url-file" in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "empty"),
        ("  \n", "empty"),
        (f"{DSN}\n{DSN}\n", "more than one line"),
        (b"postgresql://admin:\xff" + SECRET.encode() + b"@db/trading", "not UTF-8 text"),
    ],
)
def test_a_bad_file_is_refused_without_its_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, problem: str
) -> None:
    path = _file(tmp_path, "postgres-dsn", content)
    err = _usage_error(["--postgres-dsn-file", str(path)], capsys)
    assert err.strip().endswith(f"--postgres-dsn-file {path}: {problem}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--postgres-dsn", DSN, "--postgres-dsn-file", "{file}"], {}),
        (["--postgres-dsn-file", "{file}"], {"TRADING_POSTGRES_DSN": DSN}),
        (["--postgres-dsn", DSN], {"TRADING_POSTGRES_DSN_FILE": "{file}"}),
        (["--redis-url", REDIS, "--redis-url-file", "{file}"], {}),
        ([], {"TRADING_REDIS_URL": REDIS, "TRADING_REDIS_URL_FILE": "{file}"}),
    ],
)
def test_a_file_option_and_its_plain_one_are_exclusive(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
) -> None:
    path = str(_file(tmp_path, "conn", DSN))
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(file=path))
    err = _usage_error([a.format(file=path) for a in argv], capsys)
    assert "are exclusive" in err
