"""KafkaConsumerCanary against the real tansu broker (one record per batch, see DESIGN.md)."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from runbooks.local.servers import create_topics
from runbooks.steps.base import StepContext
from runbooks.steps.kafka_consumer import KafkaConsumerCanary, committed
from stackspec.model import Color

pytestmark = pytest.mark.integration

PARTITIONS = 2
RECORDS = 6


def _topic_with_records(bootstrap: str) -> str:
    topic = f"quotes-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [(topic, PARTITIONS)])
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(RECORDS):
        producer.produce(topic, value=f"q{i}".encode(), partition=i % PARTITIONS)
        producer.flush(10)  # one record per batch: tansu's end offsets count batches
    return topic


def _consume_and_commit(bootstrap: str, group: str, topic: str, count: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen, deadline = 0, time.monotonic() + 20
    while seen < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen += 1
    consumer.commit(asynchronous=False)
    consumer.close()
    assert seen == count


def _ctx(bootstrap: str, topic: str, service: str, **options: object) -> StepContext:
    return StepContext(
        stack="local",
        service=service,
        version="1.1.0",
        old_color=Color.BLUE,
        new_color=Color.GREEN,
        options={"bootstrap_servers": bootstrap, "kafka_topics": [topic], **options},
    )


def test_canary_passes_when_the_new_group_caught_up_and_undo_deletes_it(bootstrap: str) -> None:
    topic, service = _topic_with_records(bootstrap), f"svc{uuid.uuid4().hex[:6]}"
    _consume_and_commit(bootstrap, f"{service}-blue", topic, RECORDS)
    _consume_and_commit(bootstrap, f"{service}-green", topic, RECORDS)
    ctx = _ctx(bootstrap, topic, service, kafka_max_lag=0)

    applied = KafkaConsumerCanary().apply(ctx)

    assert applied.ok, applied.message
    assert applied.data["old_offsets"] == {f"{topic}:0": 3, f"{topic}:1": 3}
    assert applied.data["lag"] == 0 and applied.data["new_offsets_before"] == {
        f"{topic}:0": 3,
        f"{topic}:1": 3,
    }
    assert KafkaConsumerCanary().verify(ctx).ok


def test_canary_fails_on_lag_and_undo_rewinds_the_new_group(bootstrap: str) -> None:
    topic, service = _topic_with_records(bootstrap), f"svc{uuid.uuid4().hex[:6]}"
    _consume_and_commit(bootstrap, f"{service}-blue", topic, RECORDS)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    ctx = _ctx(bootstrap, topic, service, kafka_max_lag=1, kafka_canary_timeout=1)

    applied = KafkaConsumerCanary().apply(ctx)  # green has consumed nothing

    assert not applied.ok and "lag 6 > 1" in applied.message
    assert applied.data["new_offsets_before"] == {}
    _consume_and_commit(bootstrap, f"{service}-green", topic, RECORDS)  # green ran meanwhile
    assert committed(admin, f"{service}-green")

    first, second = (KafkaConsumerCanary().undo(ctx, applied) for _ in range(2))

    assert first.ok and second.ok, (first.message, second.message)
    assert committed(admin, f"{service}-green") == {}
    assert committed(admin, f"{service}-blue") == {f"{topic}:0": 3, f"{topic}:1": 3}
