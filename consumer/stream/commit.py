"""How the Kafka loop writes a batch and commits it (SPEC §5), under either guarantee.

`exactly_once` (the default): the batch's decisions, dead letters, shadow records and claim
history changes, and its input offsets, in one transaction, produced and committed on the
producer's worker while the loop decides the next batch (`_transact`, then `_settle`; ADR
0005).
`at_least_once`: the decisions delivered, then the history's changes, then the offsets
committed by the consumer.

A mixin of `consumer.stream.pipeline.Pipeline`; the attributes below are the Pipeline's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer._native import Changelog, Decisions
from consumer.errors import KafkaSetupError
from consumer.settings import Settings
from consumer.stream.batch import Batch, InFlight
from consumer.stream.clients import producer_config
from consumer.stream.dlq import Headers
from consumer.stream.metrics import Metrics
from consumer.stream.processing import ClaimProcessor, KafkaRecord, Produced
from consumer.stream.txn import BoundedProducer, CommitFailed, ProduceFailed, StuckCall
from consumer.stream.watchdog import Watchdog

Key = tuple[str, int]


class Committing:
    settings: Settings
    consumer: Consumer
    producer: BoundedProducer
    processor: ClaimProcessor
    metrics: Metrics
    exactly_once: bool
    changelog_topic: str | None
    _txn_timeout: float
    _transactions_started: bool
    _largest_record: int
    _delivery_errors: list[KafkaError]
    watchdog: Watchdog
    _step_limit: float
    _in_flight: InFlight | None
    _failed: dict[Key, int] | None
    _recover_commit: Callable[[CommitFailed, Batch], bool]
    _recover: Callable[[Exception | None, dict[Key, int]], None]
    _finish: Callable[[Batch], None]

    def _on_delivery(self, error: KafkaError | None, _msg: object) -> None:
        if error is not None:
            self._delivery_errors.append(error)

    def _producer(self) -> BoundedProducer:
        if not self.exactly_once:
            return BoundedProducer(
                producer_config(
                    self.settings, None, self._largest_record, on_delivery=self._on_delivery
                )
            )
        # Records produced without a delivery callback fail the transaction when they fail:
        # so the engine produces them itself only here, under exactly-once.
        return BoundedProducer(
            producer_config(
                self.settings, self.settings.processing.transactional_id, self._largest_record
            ),
            native=self.settings.processing.native_produce,
        )

    def start_transactions(self) -> None:
        """Fence any earlier instance with this transactional id; its open transaction is
        completed or aborted by the coordinator (so its group's committed offsets are settled
        after this). Once per producer; the loop calls it when it starts."""
        if not self.exactly_once or self._transactions_started:
            return
        try:
            self.producer.init_transactions(self._txn_timeout)
        except (KafkaException, StuckCall) as exc:
            raise KafkaSetupError(f"cannot start transactions: {exc}") from exc
        self._transactions_started = True

    def _writes(self, batch: Batch, outputs: list[Produced]) -> Callable[[], None]:
        """Everything a batch writes, to be produced on the producer's worker; its kept
        decisions, history changes and shadow records are taken here, and then sealed (the
        next batch's go above them, decided meanwhile) with its counts kept for its commit."""
        records, shadow = batch.records, self.processor.shadow_records
        decisions = self.processor.take_decisions()
        changelog = self._changelog()
        batch.tally = self.processor.seal()
        producer = self.producer

        def produce() -> None:
            self._produce_kept(producer, decisions)
            self._produce_decisions(producer, records, outputs, shadow)
            self._produce_changelog(producer, changelog)

        return produce

    def _changelog(self) -> Changelog | None:
        """The claim history's changes from the batch (None without a changelog)."""
        history = self.processor.history
        if history is None or not self.changelog_topic:
            return None
        return history.changelog()

    def _produce_decisions(
        self,
        producer: BoundedProducer,
        records: list[Message],
        outputs: list[Produced],
        shadow: list[tuple[KafkaRecord, bytes]],
    ) -> None:
        """The batch's decisions and dead letters, and the shadow rule set's disagreements."""
        produce = producer.produce  # the per-record loop: no call it does not need
        for msg, (topic, value, headers) in zip(records, outputs, strict=True):
            if not topic:  # a re-sent event, or a dead letter replayed from the DLQ
                continue
            try:
                produce(topic, value, msg.key(), headers=headers)
            except BufferError:
                self._produce_when_room(producer, topic, value, msg.key(), headers)
        shadow_topic = self.settings.shadow.topic
        if shadow_topic:
            for shadowed, record in shadow:
                self._produce_when_room(producer, shadow_topic, record, shadowed.key(), [])

    def _produce_kept(self, producer: BoundedProducer, decisions: Decisions) -> None:
        """The decisions the engine kept (`processing.native_produce`), in input order:
        produced by the engine without the GIL, or through `produce()` where it cannot."""
        native = producer.native
        if native is None:
            for topic, key, value, headers in decisions.records():
                self._produce_when_room(producer, topic, value, key, headers)
            return

        def produce_from(start: int) -> int:
            return decisions.produce(native, start)

        self._produce_natively(producer, produce_from, len(decisions))

    def _produce_changelog(self, producer: BoundedProducer, changelog: Changelog | None) -> None:
        """The claim history's changes: one record per member the batch changed. The engine
        produces them without the GIL where it can (docs/decisions/0006)."""
        topic = self.changelog_topic
        if not topic or changelog is None:
            return
        native = producer.native
        if native is None:
            produce = producer.produce  # the per-record loop: no call it does not need
            for partition, key, change in changelog.records():
                try:
                    produce(topic, change, key, partition=partition)
                except BufferError:
                    self._produce_when_room(producer, topic, change, key, [], partition)
            return

        def produce_from(start: int) -> int:
            return changelog.produce(native, topic, start)

        self._produce_natively(producer, produce_from, len(changelog))

    def _produce_natively(
        self, producer: BoundedProducer, produce_from: Callable[[int], int], count: int
    ) -> None:
        """`produce_from(start)` (the engine producing records from `start` on, up to a full
        queue) until all `count` are produced, letting deliveries drain while the producer's
        queue is full (bounded, as `_produce_when_room`)."""
        if not count:
            return  # nothing to hand over (and no topic handle to make for it)
        done, deadline = produce_from(0), time.monotonic() + self._txn_timeout
        while done < count:
            if time.monotonic() > deadline:
                full = KafkaError(KafkaError._QUEUE_FULL, "producer queue still full")
                raise KafkaException(full)
            producer.poll(0.1)
            done = produce_from(done)

    def _produce_when_room(
        self,
        producer: BoundedProducer,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        partition: int = -1,
    ) -> None:
        """Produce, and while the producer's queue is full let deliveries drain first (bounded:
        a queue that stays full means the brokers do not take records, and the batch is
        aborted)."""
        deadline = time.monotonic() + self._txn_timeout
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, partition=partition)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaException(
                        KafkaError(KafkaError._QUEUE_FULL, "producer queue still full")
                    ) from None
                producer.poll(0.1)

    def _transact(self, batch: Batch, outputs: list[Produced]) -> None:
        """Open the decided batch's transaction and start, on the producer's worker, its
        writes and its commit: the loop decides the next batch meanwhile (docs/decisions/0005)."""
        producer = self.producer
        producer.begin_transaction()
        writes = self._writes(batch, outputs)
        offsets = [TopicPartition(t, p, o) for (t, p), o in batch.nxt.items()]
        metadata = self.consumer.consumer_group_metadata()
        job = producer.start_commit(writes, offsets, metadata, self._txn_timeout)
        self._in_flight = InFlight(batch, producer, job)

    def _settle(self) -> None:
        """Wait for the commit in flight, if any, and finish the batch - or recover it, and
        note its first offsets in `_failed` when it is read again (the loop drops what was
        consumed on top of it)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        batch = in_flight.batch
        waited = time.perf_counter()
        try:
            with self.watchdog.guard("a batch's commit", self._step_limit):
                steps = in_flight.producer.finish_commit(in_flight.job)
        except ProduceFailed as failure:  # before the commit was asked for: not committed
            self._recover(failure.cause, batch.first)
            self._failed = batch.first
            return
        except CommitFailed as failure:
            if not self._recover_commit(failure, batch):
                self._failed = batch.first
            return
        finally:
            self.metrics.loop_steps.labels("commit_wait").observe(time.perf_counter() - waited)
        self.metrics.transactions.labels("committed").inc()
        for step, seconds in zip(steps._fields, steps, strict=True):
            self.metrics.transaction_steps.labels(step).observe(seconds)
        self._finish(batch)

    def _deliver_then_commit(self, batch: Batch, outputs: list[Produced]) -> None:
        """At least once: the decisions delivered, then the history's changes, then the
        offsets. A crash before the changelog is delivered decides the batch again (a second
        decision, as at-least-once allows); after it, the history knows the batch's events and
        a re-read decides none of them twice. The other order could lose a decision."""
        self._delivery_errors.clear()
        shadow = self.processor.shadow_records
        self._produce_decisions(self.producer, batch.records, outputs, shadow)
        self._confirm_deliveries()
        self._produce_changelog(self.producer, self._changelog())
        self._confirm_deliveries()
        batch.tally = self.processor.seal()
        offsets = [TopicPartition(t, p, o) for (t, p), o in batch.nxt.items()]
        self.consumer.commit(offsets=offsets, asynchronous=False)

    def _confirm_deliveries(self) -> None:
        if self.producer.flush(self._txn_timeout):
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "deliveries not confirmed"))
        if self._delivery_errors:
            raise KafkaException(self._delivery_errors[0])
