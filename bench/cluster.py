"""The broker side of the benchmark: topics, the pre-produced input, reading progress and counts.

Progress is read the same way for every consumer under test (validator, passthrough, peer):
the committed offsets of its consumer group on the input topic. Under exactly-once those are
written by the same transaction as the outputs, so "committed" means "decided and visible
downstream".
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.demo.samples import generate_claims
from consumer.settings import Settings
from consumer.stream.producing import produce_claims, wait_until_led

TIMEOUT = 30.0


class Cluster:
    """Admin operations on the benchmark broker."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        # log_level 2: no notices about the partitions of the topics the benchmark deletes, nor
        # connection errors once a local broker has stopped at the end (the client lives until
        # exit); the admin operations' own failures still raise from their futures.
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})

    def create(
        self, topics: dict[str, int], configs: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        """Create topics (name → partitions; `configs`: name → topic configs for some of them)
        and wait until every partition has a leader."""
        configs = configs or {}
        new = [
            NewTopic(name, n, 1, config=dict(configs.get(name, {}))) for name, n in topics.items()
        ]
        for future in self.admin.create_topics(new, request_timeout=TIMEOUT).values():
            future.result(TIMEOUT)
        wait_until_led(self.admin, topics, TIMEOUT)

    def delete(self, topics: Iterable[str]) -> None:
        names = list(topics)
        if not names:
            return
        for future in self.admin.delete_topics(names, request_timeout=TIMEOUT).values():
            with contextlib.suppress(KafkaException):  # already gone
                future.result(TIMEOUT)

    def group_members(self, group: str) -> int:
        """Members of `group` holding at least one partition once the group is stable, else 0."""
        try:
            futures = self.admin.describe_consumer_groups([group], request_timeout=5)
            description = futures[group].result(5)
        except KafkaException:
            return 0
        if str(description.state).split(".")[-1] != "STABLE":
            return 0
        return sum(1 for m in description.members if m.assignment and m.assignment.topic_partitions)


def client_settings(bootstrap: str, input_topic: str) -> Settings:
    return Settings(
        kafka={"bootstrap_servers": bootstrap},  # type: ignore[arg-type]
        topics={"input": input_topic},  # type: ignore[arg-type]
    )


def produce_sample(
    bootstrap: str,
    topic: str,
    count: int,
    seed: int,
    lines: int,
    wrap: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> int:
    """The product's own producer and sample generator: `count` claims of `lines` lines
    (each passed through `wrap` on its way, e.g. to count its event ids)."""
    settings = client_settings(bootstrap, topic)
    # A sample claim of n lines reaches up to 3n days, so at 20+ lines a member's claims span
    # years and outrun the 400-day retention: a re-send of an expired event is rightly decided
    # again, and the expected output count no longer follows from the input. Those inputs
    # carry no history events; their rows measure the cost per line.
    history_events = lines < 20
    claims = generate_claims(count, seed, lines_per_claim=lines, history_events=history_events)
    return produce_claims(settings, map(wrap, claims) if wrap else claims)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), TIMEOUT)[1]
            for p in sorted(partitions)
        }
    finally:
        consumer.close()


class GroupProgress:
    """Sum of a group's committed offsets on one topic (a consumer that never joins)."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        partitions = self._consumer.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions
        self._tps = [TopicPartition(topic, p) for p in sorted(partitions)]

    def committed(self) -> int | None:
        """None when the coordinator cannot answer right now (loading, moving)."""
        try:
            return sum(max(tp.offset, 0) for tp in self._consumer.committed(self._tps, 10))
        except KafkaException:
            return None

    def close(self) -> None:
        self._consumer.close()


def read_values(bootstrap: str, topic: str, limit: int) -> list[tuple[bytes | None, bytes]]:
    """Up to `limit` (key, value) pairs from the start of `topic` (for re-producing them)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    ends = end_offsets(bootstrap, topic)
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    out: list[tuple[bytes | None, bytes]] = []
    at_end: set[int] = {p for p, end in ends.items() if end == 0}
    try:
        while len(out) < limit and len(at_end) < len(ends):
            for msg in consumer.consume(10_000, 1.0):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition() or 0)
                        continue
                    raise KafkaException(error)
                out.append((msg.key(), msg.value() or b""))
    finally:
        consumer.close()
    return out[:limit]


def count_committed(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """Records per topic as a read_committed consumer sees them (what downstream sees)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-counter-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.max.bytes": 52_428_800,
        }
    )
    metadata = consumer.list_topics(timeout=TIMEOUT)
    tps = [TopicPartition(t, p, 0) for t in topics for p in sorted(metadata.topics[t].partitions)]
    consumer.assign(tps)
    counts = dict.fromkeys(topics, 0)
    pending = {(tp.topic, tp.partition) for tp in tps}
    deadline = time.monotonic() + 120
    try:
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(50_000, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((msg.topic() or "", msg.partition() or 0))
                        continue
                    raise KafkaException(error)
                counts[msg.topic() or ""] += 1
    finally:
        consumer.close()
    return counts


def produce_values(
    bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes]], **config: Any
) -> int:
    """Produce raw (key, value) pairs as fast as they go (idempotent, acks=all)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20, **config}
    )
    count = 0
    for key, value in items:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
    remaining = producer.flush(120)
    if remaining:
        raise RuntimeError(f"{remaining} records not delivered to {topic}")
    return count
