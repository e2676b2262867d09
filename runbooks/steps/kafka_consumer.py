"""Kafka consumer canary: the new color's consumer group keeps up before traffic moves.

Each color consumes with its own group, `<service>-<color>`, so both see every record.
`apply` journals the committed offsets of the old color's group and of the new color's
group, then polls until the new group has committed and its lag (end offset minus committed
offset, summed over the partitions of the topics) is at most `kafka_max_lag`, or the
deadline passes (ok=False with the lag it saw).

`undo` puts the new group back where it was before the canary (the journaled offsets), or
deletes the group if it had committed nothing before, so a later release starts the new
color from a known position instead of after records it may have mishandled; consumers must
be idempotent, as replays are normal in Kafka. Kafka only allows this while the group has no
active member: if the new color still consumes, undo returns ok=False saying so (stop the
new color's consumers, then undo again). The old group is never touched. Running undo twice
is harmless.

On the local broker (tansu) end offsets count record batches, so lag is right only when
producers send one record per batch (linger.ms=0 and one flush per record).

Options: `bootstrap_servers` (required), `kafka_security` (`plaintext`, the default, or
`msk-iam`: SASL_SSL with MSK IAM tokens, see `runbooks.kafka_client`), `aws_region` (for
msk-iam), `kafka_topics` (default: the topics the old group has committed on),
`kafka_max_lag` (default 10), `kafka_canary_timeout` (seconds, default 30).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from runbooks.kafka_client import KafkaConnection, client_config
from runbooks.steps.base import NoContract, StepContext, StepOutcome

REQUEST_TIMEOUT = 10.0
POLL_INTERVAL = 0.5

_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]

Offsets = dict[str, int]  # "topic:partition" -> committed offset (JSON-friendly for journals)


def group_of(ctx: StepContext, new: bool) -> str:
    """The consumer group of the new (or old) color of `ctx.service`."""
    return f"{ctx.service}-{ctx.new_color if new else ctx.old_color}"


def committed(admin: AdminClient, group: str) -> Offsets:
    """The offsets `group` has committed (empty for an unknown group)."""
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    found = future.result(timeout=REQUEST_TIMEOUT).topic_partitions or []
    return {f"{tp.topic}:{tp.partition}": tp.offset for tp in found if tp.offset >= 0}


def end_offsets(admin: AdminClient, topics: list[str]) -> Offsets:
    """The end (high watermark) offset of every partition of `topics`."""
    meta = admin.list_topics(timeout=REQUEST_TIMEOUT).topics
    wanted = {
        TopicPartition(t, p): _LATEST for t in topics if t in meta for p in meta[t].partitions
    }
    if not wanted:
        return {}
    done = admin.list_offsets(wanted, request_timeout=REQUEST_TIMEOUT)
    return {f"{tp.topic}:{tp.partition}": f.result().offset for tp, f in done.items()}


def lag(ends: Offsets, commits: Offsets) -> int:
    """Records not yet consumed: a partition without a commit counts from offset 0."""
    return sum(max(0, end - commits.get(key, 0)) for key, end in ends.items())


class KafkaConsumerCanary(NoContract):
    """Checks that the new color's consumer group commits and keeps up; undo rewinds it."""

    name = "kafka-consumer"

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Journal both groups' offsets, then wait for the new group's lag to be small."""
        old, new = group_of(ctx, new=False), group_of(ctx, new=True)
        try:
            admin = _admin(ctx)
            old_offsets, new_before = committed(admin, old), committed(admin, new)
            topics = list(
                ctx.option("kafka_topics", sorted({k.rsplit(":", 1)[0] for k in old_offsets}))
            )
            seen = self._wait_caught_up(ctx, admin, new, topics)
        except (KafkaException, ValueError) as err:
            return StepOutcome.failure(self.name, f"consumer canary {new}: {err}")
        data = {
            "old_group": old,
            "new_group": new,
            "old_offsets": old_offsets,
            "new_offsets_before": new_before,
            "topics": topics,
            **seen,
        }
        if not seen["caught_up"]:
            return StepOutcome.failure(
                self.name,
                f"{new}: lag {seen['lag']} > "
                f"{ctx.option('kafka_max_lag', 10)} or no commit on "
                f"{topics} within the deadline",
                **data,
            )
        return StepOutcome.success(
            self.name, f"{new} caught up on {topics}: lag {seen['lag']}", **data
        )

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Rewind the new group to its journaled offsets (delete it if it had none)."""
        group = applied.data.get("new_group", group_of(ctx, new=True))
        before: Offsets = applied.data.get("new_offsets_before", {})
        try:
            admin = _admin(ctx)
            if before:
                _alter(admin, group, before)
                return StepOutcome.success(self.name, f"{group} rewound to {before}")
            _delete(admin, group)
        except (KafkaException, ValueError) as err:
            return StepOutcome.failure(
                self.name,
                f"cannot rewind {group} (are the new color's "
                f"consumers still running? stop them first): {err}",
            )
        return StepOutcome.success(self.name, f"{group} had no offsets before; deleted")

    def verify(self, ctx: StepContext) -> StepOutcome:
        """The new group's lag is at most `kafka_max_lag` now."""
        group, max_lag = group_of(ctx, new=True), int(ctx.option("kafka_max_lag", 10))
        try:
            admin = _admin(ctx)
            commits = committed(admin, group)
            topics = list(
                ctx.option("kafka_topics", sorted({k.rsplit(":", 1)[0] for k in commits}))
            )
            now = lag(end_offsets(admin, topics), commits)
        except (KafkaException, ValueError) as err:
            return StepOutcome.failure(self.name, f"cannot measure {group}'s lag: {err}")
        if not commits or now > max_lag:
            return StepOutcome.failure(
                self.name, f"{group}: lag {now} > {max_lag} or no commit", lag=now
            )
        return StepOutcome.success(self.name, f"{group}: lag {now} <= {max_lag}", lag=now)

    def _wait_caught_up(
        self, ctx: StepContext, admin: AdminClient, group: str, topics: list[str]
    ) -> dict[str, Any]:
        max_lag = int(ctx.option("kafka_max_lag", 10))
        deadline = time.monotonic() + float(ctx.option("kafka_canary_timeout", 30))
        while True:
            commits = committed(admin, group)
            now = lag(end_offsets(admin, topics), commits)
            mine = {k: v for k, v in commits.items() if k.rsplit(":", 1)[0] in topics}
            caught_up = bool(mine) and now <= max_lag
            if caught_up or time.monotonic() >= deadline:
                return {"caught_up": caught_up, "lag": now, "new_offsets": mine}
            time.sleep(POLL_INTERVAL)  # polling the broker at a bounded rate, not synchronising


def _admin(ctx: StepContext) -> AdminClient:
    connection = KafkaConnection(
        ctx.option("bootstrap_servers", ""),
        ctx.option("kafka_security", "plaintext"),
        ctx.option("aws_region"),
    )
    return AdminClient(client_config(connection))


def _alter(admin: AdminClient, group: str, offsets: Offsets) -> None:
    parts = [
        TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1]), v) for k, v in offsets.items()
    ]
    future = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, parts)])
    future[group].result(timeout=REQUEST_TIMEOUT)


def _delete(admin: AdminClient, group: str) -> None:
    try:
        admin.delete_consumer_groups([group])[group].result(timeout=REQUEST_TIMEOUT)
    except KafkaException as err:
        if "GROUP_ID_NOT_FOUND" not in str(err):  # already gone: undo ran before
            raise
