"""The Kafka loop: consume a batch, process it, produce the outputs and commit — by default in
one transaction per batch (exactly-once), or with offsets committed after delivery
(at-least-once).

Under exactly-once, after a full batch N (records are waiting) the loop decides the next one
while N's transaction commits (on the producer's worker): consume batch N+1, decide it, wait
for N's commit, then produce N+1 and start its commit. Nothing of N+1 is produced before N's
commit returned, and N+1's claim history is a layer above N's (`History.seal`), so a failed N
takes N+1 with it: both are dropped and re-read. A revoke never finds an open transaction:
rebalance callbacks only run inside `consume()`, and the revoke callback first waits for the
commit in flight (committed or recovered) before the partitions go. A batch whose partitions
moved during it fails to commit (the group generation changed), is aborted, and the new owner
decides those records instead. A short batch, a replay (bounded run) and at-least-once commit
each batch before the next `consume()`.

Failures are recovered in the process (SPEC §10): every call that waits on a broker is bounded
(`consumer.stream.txn`), a failed batch is aborted - or, when its commit's outcome is unknown, the
producer is replaced (which fences the old one and settles its transaction) and the group's
committed offsets say whether the batch went through - and the consumer is rewound to what is
not committed. The watchdog (`consumer.stream.watchdog`) ends the process only if a step
overruns its bound by far.

The claim metrics (decisions, rule failures, dead letters, claim durations) follow the same
rule as the outputs: the processor tallies a batch, `_finish` publishes the tally once the batch
is committed, and every path that aborts or re-reads a batch drops it, so a claim decided twice
is counted once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer._native import age_buckets
from consumer.codec.registry import SchemaRegistryUnavailableError
from consumer.settings import Settings
from consumer.stream.batch import Batch, InFlight
from consumer.stream.callbacks import Callbacks
from consumer.stream.commit import Committing
from consumer.stream.dlq import DeadLetterRatioError
from consumer.stream.fetching import FetchStates
from consumer.stream.metrics import Metrics
from consumer.stream.processing import ClaimProcessor
from consumer.stream.recovery import ConsumerFailed, Interrupted, Key, Recovery
from consumer.stream.txn import CommitFailed, StuckCall
from consumer.stream.watchdog import STUCK_EXIT_CODE, Watchdog

log = logging.getLogger(__name__)

__all__ = ["STUCK_EXIT_CODE", "Pipeline"]

REGISTRY_BACKOFF_SECONDS = 2.0
# A batch (or a recovery step) still unfinished after this many transaction timeouts - every
# call in it is bounded by one - ends the process through the watchdog.
STUCK_AFTER_TRANSACTION_TIMEOUTS = 3


class Bounds(Protocol):
    """What a bounded run stops at (`consumer.replay.bounds.RangeBounds`)."""

    @property
    def finished(self) -> bool: ...
    def keep(self, msg: Message) -> bool: ...
    def after_batch(self, consumer: Consumer) -> None: ...


class Pipeline(Recovery, Callbacks, Committing):
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
        watchdog: Watchdog | None = None,
        largest_record: int = 0,
        changelog_topic: str | None = None,
    ) -> None:
        """`changelog_topic`: where the processor's claim history is kept (the live service);
        None keeps it in memory only (a replay rebuilds it from the input)."""
        self.settings = settings
        self.processor = processor
        self.metrics = metrics
        self.group_id = group_id or settings.group_id
        self.stop_when = stop_when
        self.on_batch: Callable[[int], None] | None = None  # called with the running total
        self.exactly_once = settings.processing.guarantee == "exactly_once"
        self.processed = 0
        self.assigned: set[Key] = set()
        self.lag: dict[Key, int] = {}
        self.fetching = FetchStates()  # assigned partitions librdkafka does not fetch from
        self.last_progress = time.time()
        # Since when fetched records wait to be committed (monotonic; None: nothing waits).
        self.waiting_since: float | None = None
        self._failing_since: float | None = None  # first failure since the last commit
        self._stopping = False
        self._transactions_started = False
        self._delivery_errors: list[KafkaError] = []
        self._txn_timeout = settings.processing.transaction_timeout_ms / 1000
        self._step_limit = STUCK_AFTER_TRANSACTION_TIMEOUTS * self._txn_timeout
        self._in_flight: InFlight | None = None
        # The first offsets of a batch whose commit failed after the next batch was consumed
        # (in a revoke, or before the next one was produced): what was consumed on top of it is
        # dropped and re-read.
        self._failed: dict[Key, int] | None = None
        self.watchdog = watchdog or Watchdog()
        self._largest_record = largest_record
        self.changelog_topic = changelog_topic if processor.history is not None else None
        # Input partitions whose history is being read back from the changelog.
        self.restoring: set[int] = set()
        # A bounded run's ranges (`run_assigned`); None for the live service.
        self.bounds: Bounds | None = None
        self.consumer = self._new_consumer()
        self._topics: list[str] = []  # what `run()` subscribed to
        # Created now, but init_transactions (which fences a running instance with the same
        # transactional id) waits for `run()`: start-up checks come first.
        self.producer = self._producer()

    # --- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit, leave the group and return."""
        self._stopping = True

    def run(self, topics: Sequence[str] | None = None) -> None:
        """The live service: subscribe as a member of the consumer group."""
        self._topics = list(topics or [self.settings.topics.input])
        self._subscribe()
        self._loop()

    def run_assigned(self, starts: dict[Key, int], bounds: Bounds) -> None:
        """A bounded run (a replay): explicit assignment at `starts`, no group membership (so
        no live group is rebalanced), until `bounds` is finished. Offsets are still committed
        to this pipeline's group in each transaction, so a run killed and restarted with the
        same group resumes where it stopped instead of deciding records twice."""
        self.bounds = bounds
        self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        self.assigned = set(starts)
        self.metrics.assigned_partitions.set(len(self.assigned))
        self.stop_when = lambda: bounds.finished
        self._loop()

    def stuck_for(self) -> float:
        """Seconds that fetched records have waited without a commit (0 when none wait)."""
        since = self.waiting_since
        return 0.0 if since is None else time.monotonic() - since

    def _loop(self) -> None:
        processing = self.settings.processing
        batch_size = processing.batch_size
        timeout = processing.batch_timeout_ms / 1000
        # Deciding ahead of a commit needs the transaction; a replay pauses partitions by
        # committed positions after each batch, so it commits each batch first.
        overlap = self.exactly_once and self.bounds is None and processing.decide_ahead
        try:
            self.start_transactions()
            while not self._stopping and not (self.stop_when and self.stop_when()):
                self._restart_fetch()  # if librdkafka left a partition unfetched for long
                # A commit that fails from here on (in a revoke callback inside consume(), or
                # while the batch is decided) fails under what this consume() returns.
                self._failed = None
                consumed = time.perf_counter()
                messages = self.consumer.consume(batch_size, timeout)
                self.metrics.loop_steps.labels("consume").observe(time.perf_counter() - consumed)
                try:
                    batch = self._batch(messages) if messages else None
                except ConsumerFailed as exc:
                    self._replace_consumer(exc.error)
                    continue
                if batch is not None:
                    self._handle_batch(batch)
                    # Ahead only after a full batch: after short ones p99 rose ~5x (ADR 0004).
                    if not (overlap and len(messages) >= batch_size):
                        self._settle()
                else:
                    self._settle()  # nothing to decide meanwhile: finish the commit now
                    if not messages:
                        self.last_progress = time.time()
                        self.metrics.last_progress.set(self.last_progress)
                if self.bounds is not None:
                    self.bounds.after_batch(self.consumer)
            self._settle()
        except Interrupted:
            log.warning("stopped while recovering; the open batch was not committed")
        finally:
            log.info("closing consumer (leaving the group)", extra={"processed": self.processed})
            with self.watchdog.guard("closing the consumer", self._step_limit):
                self.consumer.close()
                self.producer.close(wait=10.0)
            self.watchdog.close()

    # --- one batch -------------------------------------------------------------------------

    def _batch(self, messages: list[Message]) -> Batch | None:
        bounds = self.bounds
        records = [m for m in messages if self._usable(m) and (not bounds or bounds.keep(m))]
        batch = Batch.of(records)
        stray = batch.first.keys() - self.assigned
        if stray:
            # Fetched before their partition was revoked or lost: its claim history is gone
            # (its new owner restores it), so deciding them here could miss a re-sent event.
            log.warning("records of partitions no longer assigned dropped",
                        extra={"partitions": sorted(p for _, p in stray)})  # fmt: skip
            records = [m for m in records if (m.topic() or "", m.partition() or 0) not in stray]
            batch = Batch.of(records)
        return batch if records else None

    def _handle_batch(self, batch: Batch) -> None:
        """Decide the batch (while the last one's commit runs), then produce it and start its
        commit once the last one is committed."""
        failure: Exception | None = None
        try:
            outputs = self.processor.process_batch(batch.records)
            self.metrics.loop_steps.labels("decide").observe(time.perf_counter() - batch.started)
        except DeadLetterRatioError:
            self._settle()
            self.processor.abandoned()
            raise
        except SchemaRegistryUnavailableError as exc:
            failure, outputs = exc, []
        self._settle()
        if self._failed is not None:
            # Decided on top of a batch that did not commit: drop it and read it again after
            # that one (whose own partitions the recovery rewound already).
            failed, self._failed = self._failed, None
            self.processor.abandoned()
            self._read_again({tp: o for tp, o in batch.first.items() if tp not in failed})
            return
        if self.waiting_since is None:
            self.waiting_since = batch.fetched
        if failure is not None:
            log.warning("schema registry unavailable; retrying", extra={"error": str(failure)})
            self.processor.abandoned()
            self._rewind(batch.first)
            time.sleep(REGISTRY_BACKOFF_SECONDS)
            return
        self.watchdog.arm("a batch's transaction", self._step_limit)
        try:
            if self.exactly_once:
                self._transact(batch, outputs)
            else:
                self._deliver_then_commit(batch, outputs)
        except (CommitFailed, KafkaException, StuckCall) as exc:
            failure = exc
        finally:
            # Recovery arms the watchdog step by step: a broker that stays away for long is
            # waited for in the process, not ended by this batch's deadline.
            self.watchdog.disarm()
        if failure is None:
            if not self.exactly_once:
                self._finish(batch)
        elif isinstance(failure, CommitFailed):
            self._recover_commit(failure, batch)
        else:
            self._recover(failure, batch.first)

    def _usable(self, msg: Message) -> bool:
        error = msg.error()
        if error is None:
            return True
        # A consumer's fatal error comes as code _FATAL, its fatal() flag unset.
        if error.fatal() or error.code() == KafkaError._FATAL:
            raise KafkaException(error) if self.bounds is not None else ConsumerFailed(error)
        log.warning("consumer error", extra={"error": error.str()})
        return False

    def _finish(self, batch: Batch) -> None:
        """The batch is committed: publish its claim metrics (before `processed` moves, which
        is what callers wait on), progress, batch duration and end-to-end latency."""
        records = batch.records
        self.metrics.records_consumed.labels(self.settings.topics.input).inc(len(records))
        self.processor.committed(self.metrics, batch.tally)
        history = self.processor.history
        if history is not None:
            for partition in history.partitions():
                self.metrics.history_members.labels(str(partition)).set(history.members(partition))
        now = time.time()
        self.processed += len(records)
        self.last_progress = now
        self.waiting_since = None
        if self._failing_since is not None:
            log.info(
                "transactions resumed",
                extra={"after_seconds": round(time.monotonic() - self._failing_since, 3)},
            )
            self._failing_since = None
        self.metrics.last_progress.set(now)
        self.metrics.batch_duration.observe(time.perf_counter() - batch.started)
        if self.on_batch:
            self.on_batch(self.processed)
        latency = self.metrics.end_to_end_latency
        latency.add(*age_buckets(records, now * 1000, latency.buckets))
