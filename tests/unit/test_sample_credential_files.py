"""samples.credential_files: the DSN and Redis credentials are read from their files for
every new connection, so a rotated password or token needs no restart.

No server here: these check what each new connection would be given, that a file that
cannot be used is a clear error naming option and path (never the content), and that the
services wire the files in. tests/integration/samples checks it against real servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from psycopg_pool import PoolTimeout

from samples.credential_files import (
    DsnFile,
    RedisUrlCredentials,
    SecretFileError,
    redis_client,
)
from samples.db import Pool
from samples.options import parse

OLD, NEW = "old-s3cr3t", "new-s3cr3t%2Fx"  # NEW is percent-encoded: the token is 'new-s3cr3t/x'


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POSTGRES_DSN", "POSTGRES_DSN_FILE", "REDIS_URL", "REDIS_URL_FILE"):
        monkeypatch.delenv(f"TRADING_{name}", raising=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _no_secret(message: str) -> None:
    assert "s3cr3t" not in message


def test_the_dsn_file_is_read_again_on_each_call(tmp_path: Path) -> None:
    dsn = _write(tmp_path / "postgres-dsn", f"postgresql://app:{OLD}@db.example/trading")
    source = DsnFile(dsn)
    assert source() == f"postgresql://app:{OLD}@db.example/trading"
    _write(dsn, f"postgresql://app:{NEW}@db.example/trading")
    assert source() == f"postgresql://app:{NEW}@db.example/trading"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file or directory"),
        ("", "empty"),
        (f"host=db password={OLD} = broken", "not a PostgreSQL DSN"),
        (f"postgresql://app:{OLD}@db/x?no_such_option=1", "not a PostgreSQL DSN"),
    ],
)
def test_an_unusable_dsn_file_names_option_and_path_not_the_content(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "postgres-dsn"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SecretFileError) as raised:
        DsnFile(path)()
    assert str(raised.value) == f"--postgres-dsn-file {path}: {problem}"
    _no_secret(str(raised.value))


def test_redis_credentials_follow_the_file(tmp_path: Path) -> None:
    url = _write(tmp_path / "redis-url", f"rediss://:{OLD}@cache.example:6379/0")
    credentials = RedisUrlCredentials(url)
    assert credentials.get_credentials() == (OLD,)
    _write(url, f"rediss://app:{NEW}@cache.example:6379/0")
    assert credentials.get_credentials() == ("app", "new-s3cr3t/x")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file or directory"),
        ("rediss://cache.example:6379/0", "the URL holds no token"),
        (f"http://:{OLD}@cache.example/0", "not a Redis URL"),
    ],
)
def test_unusable_redis_credentials_are_an_authentication_error_naming_the_file(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "redis-url"
    if content is not None:
        _write(path, content)
    with pytest.raises(redis.AuthenticationError) as raised:
        RedisUrlCredentials(path).get_credentials()
    assert str(raised.value) == f"--redis-url-file {path}: {problem}"
    _no_secret(str(raised.value))


def test_a_redis_client_from_a_file_takes_credentials_only_from_the_provider(
    tmp_path: Path,
) -> None:
    url = f"rediss://:{OLD}@cache.example:6380/2"
    path = _write(tmp_path / "redis-url", url)
    client = redis_client(url, path, socket_timeout=2)
    kwargs = client.connection_pool.connection_kwargs
    assert "password" not in kwargs and "username" not in kwargs
    assert kwargs["credential_provider"] == RedisUrlCredentials(path)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example", 6380, 2)
    assert kwargs["socket_timeout"] == 2
    assert client.connection_pool.connection_class is redis.SSLConnection


def test_a_plain_redis_url_or_one_without_a_token_is_used_as_it_is(tmp_path: Path) -> None:
    plain = redis_client(f"redis://:{OLD}@127.0.0.1:6379/0")
    assert plain.connection_pool.connection_kwargs["password"] == OLD
    tokenless = redis_client("redis://127.0.0.1:6379/0", _write(tmp_path / "u", "redis://x"))
    assert "credential_provider" not in tokenless.connection_pool.connection_kwargs


def test_a_pool_that_cannot_read_its_dsn_file_times_out_saying_why(tmp_path: Path) -> None:
    missing = tmp_path / "postgres-dsn"
    pool = Pool(DsnFile(missing), size=1, timeout=0.5)
    try:
        with pytest.raises(PoolTimeout) as raised, pool.connection():
            pass
    finally:
        pool.close()
    message = str(raised.value)
    assert message.endswith(
        f"new connections cannot be opened: --postgres-dsn-file {missing}: "
        "No such file or directory"
    )


def test_the_services_connect_through_the_files_given(tmp_path: Path) -> None:
    dsn = _write(tmp_path / "postgres-dsn", f"postgresql://app:{OLD}@db.example/trading")
    url = _write(tmp_path / "redis-url", f"rediss://:{OLD}@cache.example:6379/0")
    options = parse("trading-api", ["--postgres-dsn-file", str(dsn), "--redis-url-file", str(url)])
    assert options.postgres_conninfo == DsnFile(dsn)
    assert options.redis_url_file == url
    plain = parse("trading-api", ["--postgres-dsn", "postgresql://app@db/trading"])
    assert plain.postgres_conninfo == "postgresql://app@db/trading"
    assert plain.redis_url_file is None
