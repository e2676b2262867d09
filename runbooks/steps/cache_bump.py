"""Cache key-version bump: the new version reads and writes fresh cache keys.

The sample services read quotes under `quotes:v{N}:...`, where N is the integer stored at
`trading:<service>:key-version` in Redis. `apply` increments N atomically and journals the
previous value; `undo` puts the previous value back, but only if the key still holds the
value `apply` wrote (or already holds the previous one): a later bump by someone else is
never clobbered.

A bump made for a release is also recorded in Redis, in the same script (`<key>`'s bumps:
release id -> "previous:new", in the hash `{<key>}:bumps`, same hash slot). An engine killed
after the bump and before it journaled the outcome thus loses nothing: a resumed `apply`
finds the bump already made and returns it (no second bump), and an `undo` with no
journaled outcome finds what to put back.

Options (StepContext.options):
- `redis_url` (required): e.g. redis://127.0.0.1:6379/0 (a password in it is never shown);
- `cache_key_template`: default "trading:{service}:key-version";
- `cache_initial_version`: the version services use while the key is absent; default 1.
"""

from __future__ import annotations

from typing import Any

import redis

from runbooks.steps.base import NoContract, StepContext, StepOutcome
from runbooks.steps.redact import redact

DEFAULT_KEY_TEMPLATE = "trading:{service}:key-version"
# Redis down, or the redis_url option missing: expected failures, reported as ok=False.
_ERRORS = (redis.RedisError, ValueError)

BUMPS_TTL_SECONDS = 30 * 86400  # a release's record outlives any rollback of it
# Atomic read-increment-write, so two bumps can never both read the same previous value;
# with a release id (ARGV[2]) the bump is recorded, and a second call for it is a replay.
_BUMP = """
if ARGV[2] ~= '' then
  local done = redis.call('HGET', KEYS[2], ARGV[2])
  if done then
    local previous, new = string.match(done, '^(%d+):(%d+)$')
    return {1, tonumber(previous), tonumber(new), 1}
  end
end
local current = redis.call('GET', KEYS[1])
local existed = current and 1 or 0
if not current then current = ARGV[1] end
local new = tonumber(current) + 1
redis.call('SET', KEYS[1], new)
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[2], current .. ':' .. new)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return {existed, tonumber(current), new, 0}
"""
# Compare-and-set back: 1 = restored, 2 = was already restored, 0 = changed by someone else.
_RESTORE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[2] then redis.call('SET', KEYS[1], ARGV[2]) return 2 end
if current == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0
"""


def cache_key(ctx: StepContext) -> str:
    """The Redis key holding `ctx.service`'s cache key version."""
    template: str = ctx.option("cache_key_template", DEFAULT_KEY_TEMPLATE)
    return template.format(service=ctx.service, stack=ctx.stack)


def bumps_key(key: str) -> str:
    """The hash of `key`'s bumps by release, in `key`'s hash slot (Redis Cluster hashes only
    the first `{...}` of a name: the whole key, or the key's own tag if it has one)."""
    return f"{key}:bumps" if "{" in key else f"{{{key}}}:bumps"


class CacheBump(NoContract):
    """Increments the service's cache key version; undo restores the journaled previous one."""

    name = "cache-bump"

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Bump the key version; data: key, previous, new, existed."""
        key = cache_key(ctx)
        initial = int(ctx.option("cache_initial_version", 1))
        try:
            with _client(ctx) as client:
                existed, previous, new, replay = client.eval(
                    _BUMP, 2, key, bumps_key(key), initial, ctx.release, BUMPS_TTL_SECONDS
                )
        except _ERRORS as err:
            return StepOutcome.failure(self.name, _msg(ctx, f"cannot bump {key}: {err}"))
        again = f" (bumped for release {ctx.release} before: not bumped again)" if replay else ""
        return StepOutcome.success(
            self.name,
            f"{key}: {previous} -> {new}{again}",
            key=key,
            previous=int(previous),
            new=int(new),
            existed=bool(existed),
        )

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Set the key back to `applied.data['previous']` unless someone bumped it since."""
        data = applied.data
        if "previous" not in data and ctx.release:
            try:
                data = self._recorded(ctx)
            except _ERRORS as err:
                failed = f"cannot read the bump of release {ctx.release}: {err}"
                return StepOutcome.failure(self.name, _msg(ctx, failed))
        if "previous" not in data:
            return StepOutcome.success(self.name, "apply changed nothing; nothing to undo")
        key, previous, new = data["key"], str(data["previous"]), str(data["new"])
        try:
            with _client(ctx) as client:
                result = int(client.eval(_RESTORE, 1, key, new, previous))
        except _ERRORS as err:
            return StepOutcome.failure(self.name, _msg(ctx, f"cannot restore {key}: {err}"))
        if result == 0:
            return StepOutcome.failure(
                self.name, f"{key} no longer holds {new} (bumped again since?); left as is"
            )
        said = "already" if result == 2 else "set back to"
        return StepOutcome.success(self.name, f"{key} {said} {previous}", key=key)

    def _recorded(self, ctx: StepContext) -> dict[str, Any]:
        """The bump Redis recorded for this release when none was journaled (the engine
        was killed in between); {} when there is none (redis errors are raised)."""
        key = cache_key(ctx)
        with _client(ctx) as client:
            done = client.hget(bumps_key(key), ctx.release)
        previous, _, new = (done or "").partition(":")
        if not (previous.isdigit() and new.isdigit()):
            return {}
        return {"key": key, "previous": int(previous), "new": int(new)}

    def verify(self, ctx: StepContext) -> StepOutcome:
        """The key holds a positive integer version."""
        key = cache_key(ctx)
        try:
            with _client(ctx) as client:
                raw = client.get(key)
        except _ERRORS as err:
            return StepOutcome.failure(self.name, _msg(ctx, f"cannot read {key}: {err}"))
        if raw is None or not raw.isdigit() or int(raw) < 1:
            return StepOutcome.failure(self.name, f"{key} holds {raw!r}, not a version >= 1")
        return StepOutcome.success(self.name, f"{key} = {int(raw)}", version=int(raw))


def _client(ctx: StepContext) -> Any:
    url = ctx.option("redis_url")
    if not url:
        raise ValueError("option redis_url is not set")
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


def _msg(ctx: StepContext, text: str) -> str:
    return redact(text, [ctx.option("redis_url")])
