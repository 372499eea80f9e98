"""The Kafka loop: consume a batch, process it, produce the outputs and commit — by default in
one transaction per batch (exactly-once), or with offsets committed after delivery
(at-least-once).

Rebalance callbacks only run inside `consume()`, and a batch's transaction is always committed
or aborted before the next `consume()`, so a revoke never finds an open transaction; a batch
whose partitions moved during it fails to commit (the group generation changed), is aborted,
and the new owner decides those records instead.

The claim metrics (decisions, rule failures, dead letters, claim durations) follow the same
rule as the outputs: the processor tallies a batch, `_finish` publishes the tally once the batch
is committed, and every path that aborts or re-reads a batch drops it, so a claim decided twice
is counted once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from consumer.clients import consumer_config, producer_config
from consumer.decoding import SchemaRegistryUnavailableError
from consumer.dlq import DeadLetterRatioError, Headers
from consumer.metrics import Metrics
from consumer.processing import ClaimProcessor
from consumer.ranges import TIMEOUT as RANGE_TIMEOUT
from consumer.ranges import PartitionRange, reached_end
from consumer.settings import Settings

log = logging.getLogger(__name__)

REGISTRY_BACKOFF_SECONDS = 2.0
# A transactional call still blocked after this many transaction timeouts ends the process
# with this exit code (EX_TEMPFAIL): see Pipeline._watchdog.
STUCK_AFTER_TRANSACTION_TIMEOUTS = 3
STUCK_EXIT_CODE = 75
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


class Pipeline:
    """Runs until `stop()` is called or `stop_when()` is true; `run()` returns after a clean
    shutdown (last batch committed, group left)."""

    def __init__(
        self,
        settings: Settings,
        processor: ClaimProcessor,
        metrics: Metrics,
        *,
        group_id: str | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self.metrics = metrics
        self.group_id = group_id or settings.group_id
        self.stop_when = stop_when
        self.on_batch: Callable[[int], None] | None = None  # called with the running total
        self.exactly_once = settings.processing.guarantee == "exactly_once"
        self.processed = 0
        self.assigned: set[tuple[str, int]] = set()
        self.lag: dict[tuple[str, int], int] = {}
        self.last_progress = time.time()
        self._stopping = False
        self._delivery_errors: list[KafkaError] = []
        # Replay only: where each partition's range ends, and which are not finished yet.
        self._ends: dict[tuple[str, int], int] = {}
        self._remaining: set[tuple[str, int]] = set()
        self.consumer = Consumer(
            consumer_config(
                settings, self.group_id, stats_cb=self._on_stats, **{"statistics.interval.ms": 5000}
            )
        )
        self.producer = self._new_producer()

    # --- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit, leave the group and return."""
        self._stopping = True

    def run(self, topics: Sequence[str] | None = None) -> None:
        """The live service: subscribe as a member of the consumer group."""
        self.consumer.subscribe(
            list(topics or [self.settings.topics.input]),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._loop()

    def resume_points(self, ranges: Sequence[PartitionRange]) -> dict[tuple[str, int], int]:
        """Where a replay of `ranges` starts in each partition: past what this pipeline's
        group already committed there (a replay killed and restarted with the same group)."""
        wanted = [TopicPartition(r.topic, r.partition) for r in ranges]
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in self.consumer.committed(wanted, timeout=RANGE_TIMEOUT)
        }
        return {
            (r.topic, r.partition): min(
                r.end, max(r.start, committed.get((r.topic, r.partition), -1))
            )
            for r in ranges
        }

    def replay(
        self,
        ranges: Sequence[PartitionRange],
        starts: dict[tuple[str, int], int] | None = None,
    ) -> None:
        """A bounded run over fixed `[start, end)` ranges with explicit assignment (no group
        membership, so the live group is never rebalanced). Offsets are still committed to
        this pipeline's group in each transaction, so a killed replay restarted with the same
        group resumes where it stopped (`resume_points`) instead of deciding records twice."""
        starts = starts if starts is not None else self.resume_points(ranges)
        self._ends = {(r.topic, r.partition): r.end for r in ranges}
        self._remaining = {key for key, start in starts.items() if start < self._ends[key]}
        self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        self.assigned = set(starts)
        self.metrics.assigned_partitions.set(len(self.assigned))
        self.stop_when = lambda: not self._remaining
        self._loop()

    @property
    def range_finished(self) -> bool:
        """Replay: every partition reached its end offset."""
        return not self._remaining

    def _loop(self) -> None:
        batch_size = self.settings.processing.batch_size
        timeout = self.settings.processing.batch_timeout_ms / 1000
        try:
            while not self._stopping and not (self.stop_when and self.stop_when()):
                messages = self.consumer.consume(batch_size, timeout)
                if messages:
                    self._handle_batch(messages)
                else:
                    self.last_progress = time.time()
                    self.metrics.last_progress.set(self.last_progress)
                if self._remaining:
                    self._mark_done()
        finally:
            log.info("closing consumer (leaving the group)", extra={"processed": self.processed})
            self.consumer.close()
            self.producer.flush(10)
            self.producer.close()

    def _new_producer(self) -> Producer:
        if not self.exactly_once:
            return Producer(producer_config(self.settings, None, on_delivery=self._on_delivery))
        producer = Producer(
            producer_config(self.settings, self.settings.processing.transactional_id)
        )
        # Fences any earlier instance with this id and completes or aborts its open transaction.
        producer.init_transactions(self.settings.processing.transaction_timeout_ms / 1000)
        return producer

    # --- one batch -------------------------------------------------------------------------

    def _handle_batch(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        records = [m for m in messages if self._usable(m) and self._in_range(m)]
        if not records:
            return
        first: dict[tuple[str, int], int] = {}
        nxt: dict[tuple[str, int], int] = {}
        for m in records:
            tp, offset = (m.topic() or "", m.partition() or 0), m.offset() or 0
            first.setdefault(tp, offset)
            nxt[tp] = offset + 1
        try:
            if self.exactly_once:
                self._transact(records, nxt)
            else:
                self._deliver_then_commit(records, nxt)
        except DeadLetterRatioError:
            self._abort_quietly()
            raise
        except SchemaRegistryUnavailableError as exc:
            log.warning("schema registry unavailable; retrying", extra={"error": str(exc)})
            self._abort_quietly()
            self._rewind(first)
            time.sleep(REGISTRY_BACKOFF_SECONDS)
            return
        except KafkaException as exc:
            self._recover(exc.args[0], first)
            return
        self._finish(records, started)

    def _in_range(self, msg: Message) -> bool:
        """Replay: drop records fetched past a partition's end offset."""
        if not self._ends:
            return True
        end = self._ends.get((msg.topic() or "", msg.partition() or 0))
        return end is None or (msg.offset() or 0) < end

    def _usable(self, msg: Message) -> bool:
        error = msg.error()
        if error is None:
            return True
        if error.fatal():
            raise KafkaException(error)
        log.warning("consumer error", extra={"error": error.str()})
        return False

    def _produce_all(self, records: list[Message]) -> None:
        self.metrics.records_consumed.labels(self.settings.topics.input).inc(len(records))
        produce = self.producer.produce  # the per-record loop: no call it does not need
        for msg, (topic, value, headers) in zip(
            records, self.processor.process_batch(records), strict=True
        ):
            if not topic:  # a dead letter replayed from the DLQ, which stays where it is
                continue
            try:
                produce(topic, value, msg.key(), headers=headers)
            except BufferError:
                self._produce_when_room(topic, value, msg.key(), headers)

    def _produce_when_room(
        self, topic: str, value: bytes, key: bytes | None, headers: Headers
    ) -> None:
        """The producer's queue is full: let deliveries drain, then produce."""
        while True:
            self.producer.poll(0.1)
            try:
                self.producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                continue

    def _transact(self, records: list[Message], nxt: dict[tuple[str, int], int]) -> None:
        self.producer.begin_transaction()
        self._produce_all(records)
        offsets = [TopicPartition(t, p, o) for (t, p), o in nxt.items()]
        group = self.consumer.consumer_group_metadata()
        # Bounded (librdkafka's default is no limit); a timeout here aborts the batch.
        timeout = self.settings.processing.transaction_timeout_ms / 1000
        with self._watchdog("send_offsets_to_transaction/commit_transaction"):
            self.producer.send_offsets_to_transaction(offsets, group, timeout)
            self.producer.commit_transaction()
        self.metrics.transactions.labels("committed").inc()

    @contextlib.contextmanager
    def _watchdog(self, what: str) -> Iterator[None]:
        """End the process if the calls inside stay blocked far past the transaction timeout.

        librdkafka does not always enforce its own timeouts: send_offsets_to_transaction blocks
        for good when the group coordinator goes away during the call (seen here after a broker
        restart; confluentinc/librdkafka#5456 and #5511, open). A process blocked in C holds
        its partitions and never recovers; exiting is a kill -9 at a batch boundary, after
        which a restart (same transactional id) resumes from the committed offsets.
        """
        limit = STUCK_AFTER_TRANSACTION_TIMEOUTS * self.settings.processing.transaction_timeout_ms
        timer = threading.Timer(limit / 1000, self._give_up, (what, limit / 1000))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _give_up(self, what: str, seconds: float) -> None:
        message = (
            f"{what} still blocked after {seconds:.0f}s (librdkafka did not time it out); "
            "exiting so that a restart resumes from the committed offsets"
        )
        log.critical(message)
        print(f"infusion-validator: error: {message}", file=sys.stderr, flush=True)
        os._exit(STUCK_EXIT_CODE)

    def _deliver_then_commit(self, records: list[Message], nxt: dict[tuple[str, int], int]) -> None:
        self._delivery_errors.clear()
        self._produce_all(records)
        self.producer.flush()
        if self._delivery_errors:
            raise KafkaException(self._delivery_errors[0])
        offsets = [TopicPartition(t, p, o) for (t, p), o in nxt.items()]
        self.consumer.commit(offsets=offsets, asynchronous=False)

    def _finish(self, records: list[Message], started: float) -> None:
        """The batch is committed: publish its claim metrics (before `processed` moves, which
        is what callers wait on), progress, batch duration and end-to-end latency."""
        self.processor.tally.publish(self.metrics)
        now = time.time()
        self.processed += len(records)
        self.last_progress = now
        self.metrics.last_progress.set(now)
        self.metrics.batch_duration.observe(time.perf_counter() - started)
        if self.on_batch:
            self.on_batch(self.processed)
        now_ms = now * 1000
        self.metrics.end_to_end_latency.observe_many(
            max(0.0, now_ms - millis) / 1000
            for kind, millis in (msg.timestamp() for msg in records)
            if kind and millis > 0
        )

    def _mark_done(self) -> None:
        """Replay: pause the partitions that reached their end, so nothing past it is fetched.
        A batch that was aborted has rewound the position, so only committed work counts."""
        done = reached_end(self.consumer, {tp: self._ends[tp] for tp in self._remaining})
        if done:
            self._remaining.difference_update(done)
            self.consumer.pause([TopicPartition(t, p) for t, p in done])

    # --- failure paths ---------------------------------------------------------------------

    def _recover(self, error: KafkaError, first: dict[tuple[str, int], int]) -> None:
        """Abort (or rebuild the producer when fenced), then rewind to the batch's start."""
        self.processor.tally.clear()  # the batch will be decided again
        if error.code() in _FENCED or (error.fatal() and self.exactly_once):
            self.metrics.transactions.labels("fenced").inc()
            log.error("producer fenced; recreating it", extra={"error": error.str()})
            self._replace_producer()
        else:
            self.metrics.transactions.labels("aborted").inc()
            log.warning("batch aborted; re-reading it", extra={"error": error.str()})
            self._abort_quietly()
        self._rewind(first)

    def _rewind(self, first: dict[tuple[str, int], int]) -> None:
        """Seek back to the batch's first records, so the next batch re-reads them."""
        for (topic, partition), offset in first.items():
            if (topic, partition) in self.assigned:
                self.consumer.seek(TopicPartition(topic, partition, offset))

    def _abort_quietly(self) -> None:
        self.processor.tally.clear()  # under either guarantee: the batch is not committed
        if not self.exactly_once:
            return
        try:
            # Bounded: without a timeout librdkafka waits as long as it takes, and after a
            # broker restart that can be forever (waiting for a producer-id bump).
            self.producer.abort_transaction(self.settings.processing.transaction_timeout_ms / 1000)
        except KafkaException as exc:  # not confirmed (or none open): start over with a new one
            log.warning("abort_transaction failed", extra={"error": str(exc)})
            self._replace_producer()

    def _replace_producer(self) -> None:
        """A new producer with the same transactional id fences the old one and has the
        coordinator finish or abort the old one's transaction. Retried here until the
        coordinator answers, not left to the next batch: after a broker restart the consumer
        may deliver none while the old producer's transaction is unresolved (seen in the
        broker-restart test). The watchdog bounds the wait."""
        with self._watchdog("init_transactions"):
            while True:
                try:
                    self.producer = self._new_producer()
                    return
                except KafkaException as exc:
                    log.error("cannot recreate the producer yet", extra={"error": str(exc)})
                    time.sleep(1.0)

    # --- callbacks -------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assign").inc()
        self.assigned |= {(p.topic, p.partition) for p in partitions}
        self.metrics.assigned_partitions.set(len(self.assigned))
        log.info(
            "partitions assigned", extra={"partitions": sorted(p.partition for p in partitions)}
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, "revoke")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, "lost")

    def _drop(self, partitions: list[TopicPartition], kind: str) -> None:
        self.metrics.rebalances.labels(kind).inc()
        for p in partitions:
            self.assigned.discard((p.topic, p.partition))
            self.lag.pop((p.topic, p.partition), None)
            with contextlib.suppress(KeyError):  # no stats seen yet for it
                self.metrics.consumer_lag.remove(p.topic, str(p.partition))
        self.metrics.assigned_partitions.set(len(self.assigned))
        log.info(
            "partitions revoked" if kind == "revoke" else "partitions lost",
            extra={"partitions": sorted(p.partition for p in partitions)},
        )

    def _on_delivery(self, error: KafkaError | None, _msg: Any) -> None:
        if error is not None:
            self._delivery_errors.append(error)

    def _on_stats(self, stats_json: str) -> None:
        """librdkafka statistics: per-partition lag of the partitions being fetched."""
        stats = orjson.loads(stats_json)
        for topic, tstats in stats.get("topics", {}).items():
            for part, pstats in tstats.get("partitions", {}).items():
                if pstats.get("fetch_state") != "active" or int(part) < 0:
                    continue
                # Under exactly-once the offsets are committed by the producer's transaction,
                # so librdkafka's own `consumer_lag` (from the consumer's commits) goes stale;
                # measure from the last stable offset to the position handed to us instead.
                end = pstats.get("ls_offset", -1)
                position = pstats.get("app_offset", -1)
                if position < 0:
                    position = pstats.get("committed_offset", -1)
                if end < 0 or position < 0:
                    continue
                lag = max(0, end - position)
                self.lag[(topic, int(part))] = lag
                self.metrics.consumer_lag.labels(topic, part).set(lag)
        self.metrics.producer_queue.set(len(self.producer))
