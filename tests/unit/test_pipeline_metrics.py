"""The pipeline counts a batch's claims once it is committed, never for an attempt that was
aborted: fake Kafka clients make a commit fail once, the batch is re-read and committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

import consumer.pipeline
from consumer.dlq import DeadLetterGuard, DeadLetterRatioError
from consumer.engine import RULE_IDS, Engine
from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from consumer.processing import ENGINE_ERROR
from consumer.settings import load_settings
from consumer.wire import DLQ_ERROR_CLASSES, Wire
from tests.claim_examples import claim_record

TOPIC = "claims.submitted"
COMMIT_FAILED = KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit timed out"))


@dataclass
class Record:
    """A consumed message (the parts of confluent_kafka.Message the pipeline reads)."""

    _value: bytes
    _offset: int

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_780_000_000_000)


@dataclass
class FakeConsumer:
    batches: list[list[Record]]  # what each consume() returns, in order
    before_consume: Callable[[], None] = lambda: None
    commit_failures: int = 0
    seeks: list[tuple[str, int, int]] = field(default_factory=list)

    def subscribe(self, topics: list[str], on_assign: Any, **_callbacks: Any) -> None:
        on_assign(self, [TopicPartition(TOPIC, 0)])

    def consume(self, num_messages: int, timeout: float) -> list[Record]:
        self.before_consume()
        return self.batches.pop(0) if self.batches else []

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.commit_failures:
            self.commit_failures -= 1
            raise COMMIT_FAILED

    def consumer_group_metadata(self) -> object:
        return object()

    def close(self) -> None:
        pass


@dataclass
class FakeProducer:
    commit_failures: int = 0
    produced: list[str] = field(default_factory=list)

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        pass

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any = None) -> None:
        self.produced.append(topic)

    def send_offsets_to_transaction(self, offsets: Any, group: Any, timeout: float) -> None:
        pass

    def commit_transaction(self) -> None:
        if self.commit_failures:
            self.commit_failures -= 1
            raise COMMIT_FAILED

    def abort_transaction(self, timeout: float) -> None:
        pass

    def flush(self, timeout: float | None = None) -> int:
        return 0

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return 0


def batch() -> list[Record]:
    """Two accepted claims, one pended (not at home, on each of its five lines), one dead letter."""
    encode = Wire.build(load_settings()).claim_encoder()
    pended = claim_record(place_of_service="11")
    for line in pended["lines"]:
        line["place_of_service"] = None
    values = [encode(claim_record()), encode(pended), b"garbage", encode(claim_record())]
    return [Record(value, 100 + i) for i, value in enumerate(values)]


def run_pipeline(
    monkeypatch: pytest.MonkeyPatch,
    registry: CollectorRegistry,
    fake_consumer: FakeConsumer,
    fake_producer: FakeProducer,
    guarantee: str = "exactly_once",
    guard: DeadLetterGuard | None = None,
) -> None:
    """The service's loop over the fake clients, until every scripted batch was consumed."""
    settings = load_settings(processing={"guarantee": guarantee})
    monkeypatch.setattr(consumer.pipeline, "Consumer", lambda config: fake_consumer)
    monkeypatch.setattr(consumer.pipeline, "Producer", lambda config: fake_producer)
    metrics = Metrics(registry, RULE_IDS, (*DLQ_ERROR_CLASSES, ENGINE_ERROR))
    processor = Wire.build(settings).processor(Engine.load())
    processor.guard = guard or DeadLetterGuard(max_ratio=0.5, window=10)
    pipeline = Pipeline(settings, processor, metrics, stop_when=lambda: not fake_consumer.batches)
    pipeline.run()


def decided(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "infusion_validator_decisions"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_a_batch_whose_commit_failed_is_counted_once_after_it_is_read_again(
    monkeypatch: pytest.MonkeyPatch, guarantee: str
) -> None:
    registry = CollectorRegistry()
    records = batch()
    seen_before_consume: list[float] = []
    fake_consumer = FakeConsumer(
        [records, records],  # the second time: after the rewind
        before_consume=lambda: seen_before_consume.append(decided(registry)),
    )
    fake_producer = FakeProducer()
    if guarantee == "exactly_once":
        fake_producer.commit_failures = 1
    else:
        fake_consumer.commit_failures = 1

    run_pipeline(monkeypatch, registry, fake_consumer, fake_producer, guarantee)

    assert fake_consumer.seeks == [(TOPIC, 0, 100)]  # the batch was aborted and re-read
    assert seen_before_consume == [0, 0]  # the aborted attempt was never published
    value = registry.get_sample_value
    medicaid = {"line_of_business": "MEDICAID"}
    assert value("infusion_validator_decisions_total", {"decision": "ACCEPTED", **medicaid}) == 2
    assert value("infusion_validator_decisions_total", {"decision": "PENDED", **medicaid}) == 1
    assert value("infusion_validator_rule_failures_total", {"rule_id": "pos.not-home"}) == 5
    assert value("infusion_validator_dlq_records_total", {"error_class": "not_avro"}) == 1
    assert value("infusion_validator_claim_duration_seconds_count") == 3
    assert value("infusion_validator_transactions_total", {"result": "aborted"}) == 1


def test_a_batch_stopped_by_the_dead_letter_guard_is_not_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    garbage = [Record(b"garbage", offset) for offset in range(10)]
    guard = DeadLetterGuard(max_ratio=0.5, window=4)
    with pytest.raises(DeadLetterRatioError):
        run_pipeline(monkeypatch, registry, FakeConsumer([garbage]), FakeProducer(), guard=guard)
    dead = registry.get_sample_value(
        "infusion_validator_dlq_records_total", {"error_class": "not_avro"}
    )
    assert dead == 0  # three were dead-lettered before the guard tripped, but none committed
