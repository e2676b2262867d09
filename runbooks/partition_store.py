"""Where a consumer service's partition assignment lives: Redis, shared by the engine and
the consumers (every stack has Redis; see `runbooks.partitions` for the record).

    runbook:partitions:<service>                       the Assignment record (JSON)
    runbook:partitions:<service>:ack:<color>:<member>  {"epoch", "partitions", "at"}

A member's ack is also its heartbeat: written on every sync (about every 0.5 s) with a
time to live of `HEARTBEAT_TTL` seconds, so a member that died (kill -9) disappears on its
own and is waited for by nobody; a member stopping cleanly deletes its key (`leave`).
A member registers (acks epoch -1, nothing owned) BEFORE it first reads the record: an
engine that wrote a record and then found no ack from it is sure the member reads that
record or a later one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from runbooks.partitions import HEARTBEAT_TTL, Assignment
from stackspec.model import Color

__all__ = [
    "HEARTBEAT_TTL",
    "REGISTERING",
    "Ack",
    "PartitionStore",
    "StaleRecord",
    "record_key",
    "topics_of",
]

REGISTERING = -1  # the epoch a member acks before it has read any record

# SET the record only if the stored epoch is the one the writer read (or none is stored):
# two writers (an engine and a `local up`) never overwrite each other's newer record.
_WRITE = """
local current = redis.call('GET', KEYS[1])
if current then
  local epoch = cjson.decode(current)['epoch']
  if tonumber(epoch) ~= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Ack:
    """What one live member last acknowledged."""

    color: Color
    member: str
    epoch: int
    partitions: tuple[str, ...]


def record_key(service: str) -> str:
    """The Redis key of `service`'s assignment record."""
    return f"runbook:partitions:{service}"


class StaleRecord(Exception):
    """The record changed since it was read (another writer); read it again."""


class PartitionStore:
    """The assignment record and the members' acks of one consumer service."""

    def __init__(self, client: Any, service: str, heartbeat_ttl: float = HEARTBEAT_TTL) -> None:
        self._redis = client
        self.service = service
        self.heartbeat_ttl = heartbeat_ttl

    @classmethod
    def from_url(cls, url: str, service: str, timeout: float = 5.0) -> PartitionStore:
        """A store on the Redis at `url` (a password in it is never shown by this class)."""
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout)
        return cls(client, service)

    def read(self) -> Assignment | None:
        """The record, or None when there is none yet. ValueError when it is malformed."""
        raw = self._redis.get(record_key(self.service))
        if raw is None:
            return None
        try:
            return Assignment.of_json(json.loads(raw))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{record_key(self.service)} is malformed: {err}") from None

    def write(self, record: Assignment, read_epoch: int | None) -> None:
        """Store `record` if the stored one is still at `read_epoch` (None: none was stored);
        StaleRecord otherwise."""
        expected = -1 if read_epoch is None else read_epoch
        body = json.dumps(record.as_json(), sort_keys=True)
        if read_epoch is None:
            if not self._redis.set(record_key(self.service), body, nx=True):
                raise StaleRecord(f"{record_key(self.service)} was created meanwhile")
            return
        if not int(self._redis.eval(_WRITE, 1, record_key(self.service), body, expected)):
            raise StaleRecord(f"{record_key(self.service)} moved past epoch {read_epoch}")

    def initialise(self, record: Assignment) -> Assignment:
        """Store `record` unless a record exists; the record stored afterwards."""
        self._redis.set(record_key(self.service), json.dumps(record.as_json()), nx=True)
        stored = self.read()
        assert stored is not None  # just set, or set by someone else before
        return stored

    def ack(self, color: Color, member: str, epoch: int, partitions: Sequence[str]) -> None:
        """Acknowledge `epoch` with what the member now owns; also its heartbeat."""
        body = {"epoch": epoch, "partitions": list(partitions), "at": time.time()}
        ttl_ms = int(self.heartbeat_ttl * 1000)
        self._redis.set(self._ack_key(color, member), json.dumps(body), px=ttl_ms)

    def leave(self, color: Color, member: str) -> None:
        """Remove a member stopping cleanly (it owns nothing any more)."""
        self._redis.delete(self._ack_key(color, member))

    def acks(self) -> list[Ack]:
        """Every live member's last ack (members whose heartbeat expired are gone)."""
        prefix = f"{record_key(self.service)}:ack:"
        keys = sorted(self._redis.scan_iter(match=f"{prefix}*", count=100))
        found = []
        for key, raw in zip(keys, self._redis.mget(keys) if keys else [], strict=True):
            if raw is None:
                continue  # expired between the scan and the read
            color, _, member = key[len(prefix) :].partition(":")
            data = json.loads(raw)
            found.append(Ack(Color(color), member, int(data["epoch"]), tuple(data["partitions"])))
        return found

    def members(self, color: Color) -> list[str]:
        """The live members of `color`, sorted."""
        return sorted(a.member for a in self.acks() if a.color is color)

    def _ack_key(self, color: Color, member: str) -> str:
        return f"{record_key(self.service)}:ack:{color.value}:{member}"

    def clear(self) -> None:
        """Delete the record and every ack (tests and a torn-down stack)."""
        keys = list(self._redis.scan_iter(match=f"{record_key(self.service)}*", count=100))
        if keys:
            self._redis.delete(*keys)

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


def topics_of(consumes: Sequence[str], declared: Mapping[str, int]) -> dict[str, int]:
    """The partition count of each topic a service consumes (`declared`: every topic's)."""
    return {topic: declared[topic] for topic in consumes}
