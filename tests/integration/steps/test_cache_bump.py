"""CacheBump against a real redis-server."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import redis
from redis.crc import key_slot

from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.cache_bump import CacheBump, bumps_key, cache_key
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


def _release_ctx(redis_url: str, release: str) -> StepContext:
    return replace(_ctx(redis_url), release=release)


def test_a_releases_bump_is_made_once_however_often_it_is_applied(redis_url: str) -> None:
    """Found by the crash drill: an engine killed after the bump and before it journaled
    the outcome is resumed, and the resumed apply bumped a second time (4 -> 6)."""
    ctx = _release_ctx(redis_url, "r-once")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.set(cache_key(ctx), 4)

    first, replayed = CacheBump().apply(ctx), CacheBump().apply(ctx)

    assert (first.data["previous"], first.data["new"]) == (4, 5)
    assert (replayed.data["previous"], replayed.data["new"]) == (4, 5)
    assert "not bumped again" in replayed.message
    assert client.get(cache_key(ctx)) == "5"
    other = CacheBump().apply(replace(ctx, release="r-next"))  # another release bumps
    assert client.get(cache_key(ctx)) == "6" and other.data["previous"] == 5


def test_an_undo_with_no_journaled_outcome_puts_back_what_redis_recorded(redis_url: str) -> None:
    """Found by the crash drill: killed after the bump, before `action.done`; the rollback's
    undo had no outcome ("apply changed nothing") and left the key bumped (4 -> 5)."""
    ctx = _release_ctx(redis_url, "r-killed")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.set(cache_key(ctx), 4)
    CacheBump().apply(ctx)  # its outcome never reached the journal

    outcome = CacheBump().undo(ctx, StepOutcome(CacheBump.name, False, "not recorded"))

    assert outcome.ok, outcome.message
    assert client.get(cache_key(ctx)) == "4"
    never = CacheBump().undo(replace(ctx, release="r-never"), StepOutcome("cache-bump", False, ""))
    assert never.ok and "nothing to undo" in never.message and client.get(cache_key(ctx)) == "4"


@pytest.mark.parametrize("key", ["trading:trading-api:key-version", "{trading}:api:kv"])
def test_the_bumps_live_in_the_keys_hash_slot(key: str) -> None:
    """One script touches both keys: on Redis Cluster they must share a slot."""
    assert key_slot(key.encode()) == key_slot(bumps_key(key).encode())
