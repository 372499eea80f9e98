"""Fake Kafka clients for the pipeline's unit tests: scripted batches in, commits that fail on
request, committed offsets the test controls (the parts of confluent_kafka the loop uses)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

import consumer.stream.callbacks
import consumer.stream.recovery
import consumer.stream.txn
from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.codec.wire import Wire
from consumer.engine import RULE_IDS, Engine
from consumer.settings import load_settings
from consumer.stream.dlq import DeadLetterGuard
from consumer.stream.metrics import Metrics
from consumer.stream.pipeline import Pipeline
from consumer.stream.processing import DLQ_ERROR_CLASSES, build_processor
from tests.claim_examples import claim_record

TOPIC = "claims.submitted"
COMMIT_FAILED = KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit timed out"))
# A commit the broker refused: the transaction must be aborted (certainly not committed).
ABORTABLE = KafkaException(KafkaError(KafkaError._STATE, "commit refused", txn_requires_abort=True))
# A commit whose outcome is unknown: neither retriable nor abortable.
UNKNOWN = KafkaException(KafkaError(KafkaError._FATAL, "producer fatal", fatal=True))


@dataclass
class Record:
    """A consumed message (the parts of confluent_kafka.Message the pipeline reads)."""

    _value: bytes
    _offset: int
    _partition: int = 0

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_780_000_000_000)


@dataclass
class FatalError(Record):
    """What librdkafka hands out once the consumer failed for good (a static member fenced):
    an error of code _FATAL, its fatal() flag unset."""

    def error(self) -> KafkaError:  # type: ignore[override]
        return KafkaError(KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced")


@dataclass
class PartitionAnswer:
    """A partition of committed()'s answer with an error (TopicPartition's is read-only)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None


@dataclass
class FakeConsumer:
    batches: list[list[Record]]  # what each consume() returns, in order
    before_consume: Callable[[], None] = lambda: None
    commit_failures: int = 0
    seeks: list[tuple[str, int, int]] = field(default_factory=list)
    # What committed() answers: partition 0's committed offset (-1001: none); the first
    # `committed_errors` answers carry an error on each partition instead (offset -1001).
    committed_offset: int = -1001
    committed_errors: int = 0
    partitions: int = 1
    # consume() calls (counted from 0) that first revoke every partition and assign them
    # again, as an eager rebalance does; "revoke" is appended to `events` when they go.
    rebalance_at: set[int] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    assigns: list[list[tuple[str, int, int]]] = field(default_factory=list)  # assign() calls
    _consumed: int = 0
    _callbacks: dict[str, Any] = field(default_factory=dict)

    def subscribe(self, topics: list[str], on_assign: Any, **callbacks: Any) -> None:
        self._callbacks = {"on_assign": on_assign, **callbacks}
        self.events.append("subscribe")
        on_assign(self, self._all())

    def _all(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p) for p in range(self.partitions)]

    def consume(self, num_messages: int, timeout: float) -> list[Record]:
        self.before_consume()
        if self._consumed in self.rebalance_at:
            self._callbacks["on_revoke"](self, self._all())
            self.events.append("revoke")
            self._callbacks["on_assign"](self, self._all())
        self._consumed += 1
        return self.batches.pop(0) if self.batches else []

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.events.append("assign")
        self.assigns.append([(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.commit_failures:
            self.commit_failures -= 1
            raise COMMIT_FAILED

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[Any]:
        if self.committed_errors:
            self.committed_errors -= 1
            error = KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
            return [PartitionAnswer(tp.topic, tp.partition, -1001, error) for tp in partitions]
        return [TopicPartition(tp.topic, tp.partition, self.committed_offset) for tp in partitions]

    def consumer_group_metadata(self) -> object:
        return object()

    def close(self) -> None:
        pass


@dataclass
class FakeProducer:
    """One producer instance; `commit_failures` are raised by the next commits, in order
    (None: that commit goes through), and `produce_failures` by the next produce() calls.
    `block` makes send_offsets_to_transaction hang until it is set (a stuck librdkafka call)."""

    commit_failures: list[Exception | None] = field(default_factory=list)
    produce_failures: list[Exception] = field(default_factory=list)
    produced: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    offsets: list[list[tuple[str, int, int]]] = field(default_factory=list)  # per transaction
    block: threading.Event | None = None
    closed: bool = False

    def init_transactions(self, timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(
        self, topic: str, value: bytes, key: bytes | None, headers: Any = None, partition: int = -1
    ) -> None:
        if self.produce_failures:
            raise self.produce_failures.pop(0)
        self.produced.append(topic)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def send_offsets_to_transaction(self, offsets: Any, group: Any, timeout: float) -> None:
        self.calls.append("send_offsets")
        self.offsets.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        if self.block is not None:
            self.block.wait()

    def commit_transaction(self, timeout: float = -1) -> None:
        self.calls.append("commit")
        if self.commit_failures and (failure := self.commit_failures.pop(0)) is not None:
            raise failure

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")

    def flush(self, timeout: float | None = None) -> int:
        return 0

    def purge(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def __len__(self) -> int:
        return 0


def batch() -> list[Record]:
    """Two accepted claims, one pended (not at home, on each of its five lines), one dead letter."""
    encode = claim_body
    pended = claim_record(place_of_service="11")
    for line in pended["lines"]:
        line["place_of_service"] = None
    values = [encode(claim_record()), encode(pended), b"garbage", encode(claim_record())]
    return [Record(value, 100 + i) for i, value in enumerate(values)]


def distinct(count: int) -> list[Record]:
    """Accepted claims at offsets 100, 101, ... with an event and a claim id of their own."""
    claims = [claim_record(event_id=f"evt-{i}", claim_id=f"CLM-{i}") for i in range(count)]
    return [Record(claim_body(claim), 100 + i) for i, claim in enumerate(claims)]


def _restore_empty(
    settings: Any, history: History, partitions: list[int], **_: Any
) -> dict[int, float]:
    for partition in partitions:
        history.assign(partition)
    return dict.fromkeys(partitions, 0.0)


@dataclass
class ScriptBounds:
    """A replay's bounds (`consumer.replay.bounds.RangeBounds`) ending with the script."""

    consumer: FakeConsumer

    @property
    def finished(self) -> bool:
        return not self.consumer.batches

    def keep(self, msg: Any) -> bool:
        return True

    def after_batch(self, consumer: Any) -> None:
        pass


def run_pipeline(
    monkeypatch: pytest.MonkeyPatch,
    registry: CollectorRegistry,
    fake_consumer: FakeConsumer,
    fake_producer: FakeProducer | list[FakeProducer],
    guarantee: str = "exactly_once",
    guard: DeadLetterGuard | None = None,
    history: History | None = None,
    changelog_topic: str | None = None,
    replay_rebuild: Callable[[dict[tuple[str, int], int]], None] | None = None,
    **processing: Any,
) -> Pipeline:
    """The service's loop over the fake clients, until every scripted batch was consumed.
    With a list of producers, each new producer (a replacement) is the next one. With a
    `history`, claims are decided against it (its partitions assigned by the caller, or
    restored empty on assignment with a `changelog_topic`). With `replay_rebuild`, a replay's
    bounded run from offset 100 instead, which rebuilds its history with it."""
    # The recovery tests script the loop that decides ahead (a batch consumed on top of each
    # commit): a batch of `batch_size` 1 is always full, so every commit has one on top.
    # `decide_ahead=False`, or a `batch_size` above the scripted batches, runs the serial loop.
    processing.setdefault("decide_ahead", True)
    processing.setdefault("batch_size", 1)
    settings = load_settings(processing={"guarantee": guarantee, **processing})
    producers = fake_producer if isinstance(fake_producer, list) else [fake_producer]
    # The loop's consumer (and any replacement of it), and the recovery's committed-offsets
    # checker: the same fake (it answers committed()).
    monkeypatch.setattr(consumer.stream.recovery, "Consumer", lambda config: fake_consumer)
    monkeypatch.setattr(consumer.stream.txn, "Producer", lambda config: producers.pop(0))
    metrics = Metrics(registry, RULE_IDS, DLQ_ERROR_CLASSES)
    processor = build_processor(Wire.build(settings), Engine.load(), history=history)
    processor.guard = guard or DeadLetterGuard(max_ratio=0.5, window=10)
    if changelog_topic:  # restoring a partition's history from the changelog: an empty one
        monkeypatch.setattr(consumer.stream.callbacks, "restore", _restore_empty)
    pipeline = Pipeline(
        settings, processor, metrics, stop_when=lambda: not fake_consumer.batches,
        changelog_topic=changelog_topic,
    )  # fmt: skip
    if replay_rebuild is None:
        pipeline.run()
    else:
        pipeline.rebuild_from_input = replay_rebuild
        starts = {(TOPIC, p): 100 for p in range(fake_consumer.partitions)}
        pipeline.run_assigned(starts, ScriptBounds(fake_consumer))
    return pipeline
