"""CacheBump against a real redis-server."""

from __future__ import annotations

import uuid

import pytest
import redis

from runbooks.steps.base import StepContext
from runbooks.steps.cache_bump import CacheBump, cache_key
from tests.integration.steps.conftest import context

pytestmark = pytest.mark.integration


def _ctx(redis_url: str) -> StepContext:
    # A key of its own per test, so tests share the server but not the state.
    return context(redis_url=redis_url, cache_key_template=f"t{uuid.uuid4().hex}:{{service}}:kv")


def test_bump_then_undo_round_trip(redis_url: str) -> None:
    ctx = _ctx(redis_url)
    key = cache_key(ctx)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.set(key, 7)

    applied = CacheBump().apply(ctx)
    assert applied.ok and applied.data["previous"] == 7 and applied.data["new"] == 8
    assert client.get(key) == "8"
    assert CacheBump().verify(ctx).data["version"] == 8

    assert CacheBump().undo(ctx, applied).ok
    assert client.get(key) == "7"
    again = CacheBump().undo(ctx, applied)
    assert again.ok and "already" in again.message
    assert client.get(key) == "7"


def test_bump_of_an_absent_key_starts_from_the_initial_version(redis_url: str) -> None:
    ctx = context(**{**_ctx(redis_url).options, "cache_initial_version": 3})

    applied = CacheBump().apply(ctx)

    assert applied.data == {"key": cache_key(ctx), "previous": 3, "new": 4, "existed": False}


def test_undo_never_clobbers_a_later_bump(redis_url: str) -> None:
    ctx = _ctx(redis_url)
    applied = CacheBump().apply(ctx)
    CacheBump().apply(ctx)  # someone else's release bumps again

    outcome = CacheBump().undo(ctx, applied)

    assert not outcome.ok and "bumped again" in outcome.message
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.get(cache_key(ctx)) == "3"


def test_unreachable_redis_is_an_outcome_without_the_password(redis_url: str) -> None:
    ctx = context(redis_url="redis://:hunter2-pw@127.0.0.1:1/0")

    outcome = CacheBump().apply(ctx)

    assert not outcome.ok and "hunter2-pw" not in outcome.message
