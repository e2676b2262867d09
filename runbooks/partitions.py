"""Consumer releases by partition shares: the pure decisions (no I/O).

A consumer service (`kind: consumer`) is released by moving partitions, not requests. Both
colors consume in ONE offset group, `<service>`, with explicit assignment (`assign()`,
never `subscribe()`), and commit each record's offset after its write: committed offsets
are shared, so a partition handed from one color to the other continues exactly where the
first stopped. The engine is the assignor; its decision is an `Assignment` record
(`runbooks.partition_store` keeps it in Redis, the consumers follow it):

    {"epoch": 7, "base": "blue", "weights": {"blue": 50, "green": 50},
     "topics": {"order-events": 6},
     "assignment": {"blue": ["order-events:3", ...], "green": ["order-events:0", ...]}}

Shares: `base` is the color that last held everything; the other (the new) color gets
`ceil(weight * P / 100)` partitions of each topic of P partitions, lowest numbers first
(0 % none, 100 % all), the base color the rest. A weight of 100 makes that color the base.

Hand-over is two-phase (`handover`), so a partition is never owned by two colors: the first
record owns every moving partition by nobody; once every live member of both colors has
acknowledged it (a releasing member finishes and commits the record in hand, then stops
fetching), the second gives them to their new color. A phase that would change nothing is
left out; a request for what is already live is no phase at all.

Members of one color (replicas > 1) split the color's partitions by sorted member id
(`member_share`: member k of n takes every n-th). While members come and go they may
briefly disagree, so within a color delivery is at-least-once; consumers' writes are
idempotent (keyed by the event's id) for that reason.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbooks.core.model import Weights
from stackspec.model import Color

__all__ = [
    "HEARTBEAT_TTL",
    "Assignment",
    "handover",
    "initial",
    "member_share",
    "new_share",
    "partition_id",
    "receivers",
    "share_problems",
    "target_owners",
    "unowned",
]

# Seconds without a heartbeat (an ack, `runbooks.partition_store`) after which a member is
# dead; also how old a consumer's last sync may get before its samples are errors
# (`runbooks.metrics.prometheus`).
HEARTBEAT_TTL = 10.0

Owners = Mapping[Color, tuple[str, ...]]


def partition_id(topic: str, partition: int) -> str:
    """The id of one partition in a record: "topic:partition"."""
    return f"{topic}:{partition}"


def split_id(pid: str) -> tuple[str, int]:
    """("topic", partition) of "topic:partition"."""
    topic, _, number = pid.rpartition(":")
    return topic, int(number)


def _ordered(pids: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(pids), key=split_id))


def all_partitions(topics: Mapping[str, int]) -> tuple[str, ...]:
    """Every partition of `topics` (name -> partition count), in order."""
    return _ordered(partition_id(t, p) for t, count in topics.items() for p in range(count))


def new_share(weight: int, partitions: int) -> int:
    """How many of a topic's `partitions` the new color consumes at `weight` percent."""
    return math.ceil(weight * partitions / 100)


@dataclass(frozen=True)
class Assignment:
    """Who consumes which partition, as one record: see the module docstring."""

    epoch: int
    base: Color
    weights: Weights
    topics: Mapping[str, int]
    owners: Owners = field(default_factory=dict)

    def owned_by(self, color: Color) -> tuple[str, ...]:
        """The partitions `color` consumes."""
        return self.owners.get(color, ())

    def owner_of(self, pid: str) -> Color | None:
        """The color consuming `pid`, or None while it is handed over."""
        return next((c for c in Color if pid in self.owned_by(c)), None)

    def as_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "epoch": self.epoch,
            "base": self.base.value,
            "weights": {"blue": self.weights.blue, "green": self.weights.green},
            "topics": dict(self.topics),
            "assignment": {c.value: list(self.owned_by(c)) for c in Color},
        }

    @classmethod
    def of_json(cls, data: Mapping[str, Any]) -> Assignment:
        """The record read back; ValueError/KeyError/TypeError when it is malformed."""
        weights = data["weights"]
        owners = data["assignment"]
        return cls(
            epoch=int(data["epoch"]),
            base=Color(data["base"]),
            weights=Weights(blue=int(weights["blue"]), green=int(weights["green"])),
            topics={str(t): int(n) for t, n in data["topics"].items()},
            owners={c: _ordered(owners.get(c.value, ())) for c in Color},
        )


def unowned(record: Assignment) -> tuple[str, ...]:
    """The partitions of `record`'s topics that no color owns: a hand-over's first phase
    is live and its second not yet (in progress, or the engine stopped between the two)."""
    return tuple(p for p in all_partitions(record.topics) if record.owner_of(p) is None)


def receivers(before: Assignment | None, after: Assignment) -> tuple[Color, ...]:
    """The colors that own in `after` a partition they did not own in `before` (None: every
    color owning any): each needs a live member reading them."""
    return tuple(
        c
        for c in Color
        if set(after.owned_by(c)) - set(before.owned_by(c) if before is not None else ())
    )


def initial(base: Color, topics: Mapping[str, int]) -> Assignment:
    """Epoch 0: every partition on `base`, the color serving before any release."""
    return Assignment(
        0, base, Weights.all_on(base), dict(topics), {base: all_partitions(topics), base.other: ()}
    )


def target_owners(base: Color, weights: Weights, topics: Mapping[str, int]) -> Owners:
    """Who should own what at `weights`: the new color the lowest `new_share` of each topic."""
    new = base.other
    owners: dict[Color, list[str]] = {base: [], new: []}
    for topic, count in sorted(topics.items()):
        taken = new_share(weights.of(new), count)
        for p in range(count):
            owners[new if p < taken else base].append(partition_id(topic, p))
    return {color: _ordered(pids) for color, pids in owners.items()}


def handover(
    current: Assignment, weights: Weights, topics: Mapping[str, int]
) -> tuple[Assignment, ...]:
    """The records to write, in order, to go from `current` to `weights` over `topics`.

    `()` when nothing would change; else (release, take), the release left out when no
    partition leaves a color (only unowned ones move, e.g. after a run killed between the
    two). The release keeps the current weights and base: it is not yet what was asked.
    """
    target = target_owners(current.base, weights, topics)
    base = next((c for c in Color if weights.of(c) == 100), current.base)
    wanted = {pid: c for c, pids in target.items() for pid in pids}
    known = set(all_partitions(current.topics)) | set(wanted)
    moving = {pid for pid in known if current.owner_of(pid) != wanted.get(pid)}
    unchanged = current.weights == weights and current.base == base
    if not moving and unchanged and dict(current.topics) == dict(topics):
        return ()
    phases: list[Assignment] = []
    kept = {c: _ordered(set(current.owned_by(c)) - moving) for c in Color}
    if any(kept[c] != current.owned_by(c) for c in Color):
        phases.append(
            Assignment(current.epoch + 1, current.base, current.weights, current.topics, kept)
        )
    take = Assignment(current.epoch + len(phases) + 1, base, weights, dict(topics), dict(target))
    return (*phases, take)


def member_share(pids: Sequence[str], members: Collection[str], me: str) -> tuple[str, ...]:
    """The partitions member `me` of a color consumes of its color's `pids`: sorted by id,
    member k of n takes every n-th (`me` counts even before the others see it)."""
    everyone = sorted(set(members) | {me})
    return _ordered(pids)[everyone.index(me) :: len(everyone)]


def share_problems(topics: Mapping[str, int], step_weights: Sequence[int]) -> list[str]:
    """Why `topics` (name -> partitions) cannot carry a plan whose steps give the new color
    `step_weights` percent: a step above 0 % with no partition, or two steps of different
    weights with the same share (the second would move nothing). Empty when they can."""
    weights = sorted(set(step_weights))
    problems = []
    for topic, count in sorted(topics.items()):
        shares = [new_share(w, count) for w in weights]
        starved = [w for w, s in zip(weights, shares, strict=True) if w > 0 and s == 0]
        if starved or len(set(shares)) < len(shares):
            problems.append(
                f"topic '{topic}' has {count} partition(s); steps "
                f"{', '.join(f'{w}%' for w in weights)} give the new color "
                f"{', '.join(map(str, shares))} of them, and each step needs a share of its "
                f"own: at least {partitions_needed(weights)} partitions"
            )
    return problems


def partitions_needed(step_weights: Sequence[int], most: int = 1000) -> int:
    """The fewest partitions giving every step of `step_weights` a distinct, non-empty share
    (`most`, the broker's limit, when none up to it does)."""
    weights = sorted(set(step_weights))
    for count in range(1, most + 1):
        shares = [new_share(w, count) for w in weights]
        if len(set(shares)) == len(shares) and all(
            s > 0 for w, s in zip(weights, shares, strict=True) if w
        ):
            return count
    return most
