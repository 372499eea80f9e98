"""Producing claims to Kafka (`produce-sample --bootstrap …`, the demo and the tests): JSON-form
claims encoded in the configured wire format, keyed by member id like a real intake pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.codec.wire import Wire
from consumer.errors import KafkaSetupError
from consumer.settings import Settings
from consumer.stream.clients import common_config, producer_config

_ALREADY_EXISTS = KafkaError.TOPIC_ALREADY_EXISTS


def create_topics(settings: Settings, partitions: dict[str, int], timeout: float = 30.0) -> None:
    """Create the topics that do not exist yet (replication factor 1: a local broker)."""
    admin = AdminClient(common_config(settings))
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [NewTopic(t, n, 1) for t, n in partitions.items() if t not in existing]
    for topic, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except Exception as exc:
            error = exc.args[0] if exc.args else None
            if not (isinstance(error, KafkaError) and error.code() == _ALREADY_EXISTS):
                raise KafkaSetupError(f"cannot create topic {topic}: {exc}") from exc
    wait_until_led(admin, partitions, timeout)


def wait_until_led(admin: AdminClient, partitions: dict[str, int], timeout: float) -> None:
    """Until the brokers list every partition of the topics with a leader. The controller
    answers a creation before the brokers know the topic: a client that asked at once saw it
    without partitions (the chaos harness then watched an empty input, caught up at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            listed = admin.list_topics(timeout=timeout).topics
        except KafkaException:  # no answer yet: asked again until the deadline
            listed = {}
        missing = [
            topic
            for topic, count in partitions.items()
            if topic not in listed
            or listed[topic].error is not None
            or len(listed[topic].partitions) < count
            or any(p.leader < 0 for p in listed[topic].partitions.values())
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise KafkaSetupError(f"topics without a leader after {timeout:.0f}s: {missing}")
        time.sleep(0.1)


def produce_claims(
    settings: Settings,
    claims: Iterable[dict[str, Any]],
    *,
    topic: str | None = None,
    rate: float | None = None,
    wire: Wire | None = None,
) -> int:
    """Produce JSON-form claims to the input topic; `rate` in claims/s (None = as fast as it
    goes); `wire`: the process's wire formats, if built already. Returns the number produced;
    raises KafkaSetupError if any delivery failed."""
    target = topic or settings.topics.input
    encode = (wire or Wire.build(settings)).claim_encoder(target)
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _msg: Any) -> None:
        if error is not None:
            failures.append(error)

    producer = Producer(producer_config(settings, None, on_delivery=on_delivery))
    started = time.perf_counter()
    count = 0
    for claim in claims:
        value = encode(claim)
        while True:
            try:
                producer.produce(target, value, claim["member_id"].encode())
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        if rate:
            # Pace against the start time so small sleeps do not accumulate drift.
            ahead = count / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        if count % 1000 == 0:
            producer.poll(0)
    producer.flush()
    producer.close()
    if failures:
        raise KafkaSetupError(f"{len(failures)} claim(s) not delivered to {target}: {failures[0]}")
    return count
