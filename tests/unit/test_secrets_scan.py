"""The secrets scanner (runbooks.secrets_scan): which values of a stack are secret, and
finding them in any form. Found missing before: a webhook's query-string token
(`/hook?token=...`, its path too short to count), a `{secure: ...}` webhook (SecretRef) and
a quoted libpq password."""

from __future__ import annotations

from pathlib import Path

from runbooks.outputs import StackOutputs
from runbooks.secrets_scan import Secret, scan, stack_secrets
from stackspec.model import EnvRef, Notifications, SecretRef, StackSettings
from stackspec.stackfile import load_stack

TOKEN = "q7Zt0kenValue99"


def local_with(webhook: SecretRef | EnvRef | None) -> StackSettings:
    settings = load_stack("local")
    return settings.model_copy(update={"notifications": Notifications(webhook_url=webhook)})


def values(found: list[Secret]) -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}
    for secret in found:
        named.setdefault(secret.name, set()).add(secret.value)
    return named


def test_a_webhook_query_token_is_a_secret_of_its_own() -> None:
    env = {"HOOK": f"https://hooks.example.com/hook?token={TOKEN}&channel=ops-alerts"}
    found = values(stack_secrets(local_with(EnvRef(env="HOOK")), {}, env))
    assert found["webhook URL (query token)"] == {TOKEN}
    assert found["webhook URL (path and query)"] == {f"hook?token={TOKEN}&channel=ops-alerts"}
    assert "webhook URL (path)" not in found  # `hook`: too short to tell from chance
    log = f'POST /hook?token={TOKEN} -> 200\nsent to "{TOKEN[:-1]}"\n'
    hits = scan(stack_secrets(local_with(EnvRef(env="HOOK")), {}, env), (), {"log": log})
    assert {h.secret for h in hits} == {"webhook URL (query token)"}


def test_a_secure_webhook_is_resolved_through_the_stacks_outputs() -> None:
    asked: list[tuple[object, str]] = []

    def resolve(ref: SecretRef | EnvRef, key: str) -> str:
        asked.append((ref, key))
        return f"https://hooks.slack.com/services/T0/B0/{TOKEN}"

    ref = SecretRef(secure="v1:AAAAciphertext")
    outputs = StackOutputs("staging", {}, "test", resolve_secret=resolve)
    found = values(stack_secrets(local_with(ref), outputs, {}))
    assert asked == [(ref, "notifications.webhookUrl")]
    assert found["webhook URL (path)"] == {f"services/T0/B0/{TOKEN}"}
    unresolved = values(stack_secrets(local_with(ref), StackOutputs("staging", {}, "test"), {}))
    assert not any(name.startswith("webhook") for name in unresolved)  # no driver: none


def test_connection_passwords_quoted_encoded_or_in_the_query() -> None:
    env = {
        "RUNBOOK_DATABASE_DSN": r"host=db user=trading password='pa ss\'w0rd' dbname=t",
        "RUNBOOK_JOURNAL_DSN": "postgresql://runbook:p%40ssw0rd9@db/journal?sslmode=require",
        "TRADING_POSTGRES_DSN": "postgresql://app@db/t?password=queryPass1",
        "RUNBOOK_REDIS_URL": "rediss://:cacheT0ken@cache:6380/0",
        "TRADING_REDIS_URL": "host=db dbname=none",
    }
    found = values(stack_secrets(local_with(None), {}, env))
    assert found["RUNBOOK_DATABASE_DSN password"] == {"pa ss'w0rd"}
    assert found["RUNBOOK_JOURNAL_DSN password"] == {"p@ssw0rd9", "p%40ssw0rd9"}
    assert found["TRADING_POSTGRES_DSN password"] == {"queryPass1"}
    assert found["RUNBOOK_REDIS_URL password"] == {"cacheT0ken"}
    assert "TRADING_REDIS_URL password" not in found  # none given: nothing to look for


def test_every_form_is_found_and_named_never_shown(tmp_path: Path) -> None:
    secret = Secret("cache token", "s3cr3t/tok=en")
    (tmp_path / "raw.log").write_text("auth s3cr3t/tok=en\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "url.txt").write_text("redis://:s3cr3t%2Ftok%3Den@h/0")
    (tmp_path / "journal.sqlite3").write_bytes(b"\x00\x01" + b'{"k": "s3cr3t/tok=en"}')
    hits = scan([secret], [tmp_path], {"stdout": '{"k": "s3cr3t\\/tok=en"}'})
    where = sorted(h.where.rsplit("/", 1)[-1] for h in hits)
    assert where == ["journal.sqlite3", "raw.log", "url.txt"]
    assert all(h.secret == "cache token" for h in hits)
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in repr(hits)


def test_the_negative_control_finds_nothing_where_nothing_is(tmp_path: Path) -> None:
    env = {
        "HOOK": f"https://hooks.example.com/hook?token={TOKEN}",
        "RUNBOOK_EVIDENCE_KEY": "hmac:0123456789abcdef0123",
        "RUNBOOK_DATABASE_DSN": "postgresql://trading:dbPassw0rd@db/t",
    }
    found = stack_secrets(local_with(EnvRef(env="HOOK")), {}, env)
    assert len(found) >= 5
    (tmp_path / "clean.log").write_text(
        "POST /hook?token=<redacted> -> 200\npostgresql://trading:***@db/t\nhmac:***\n"
    )
    assert scan(found, [tmp_path], {"stdout": "token q7Zt0ken dbPassw0r"}) == []
    assert len(Secret("short", "abc").forms()) >= 1
    assert stack_secrets(local_with(None), {}, {"RUNBOOK_REDIS_URL": "redis://:abc@h/0"}) == []
