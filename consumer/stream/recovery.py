"""How the Kafka loop recovers a failed batch (SPEC §10: failures survived in the process).

A batch that failed before its commit was asked for is certainly not committed: it is aborted
(or, when the producer is fenced or the abort is not confirmed, the producer is replaced) and
re-read. A commit that failed without saying the transaction must be aborted - a timeout, a call
that overran its bound, a fatal error - has an unknown outcome: a new producer with the same
transactional id fences the old one, which settles that transaction (committed or aborted),
and then the group's committed offsets say whether the batch went through.

A mixin of `consumer.stream.pipeline.Pipeline`, kept apart so that the loop reads on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.settings import Settings
from consumer.stream.batch import Batch
from consumer.stream.clients import consumer_config
from consumer.stream.metrics import Metrics
from consumer.stream.processing import ClaimProcessor
from consumer.stream.txn import MAX_STUCK, BoundedProducer, CommitFailed, StuckCall
from consumer.stream.watchdog import Watchdog, exit_stuck

log = logging.getLogger(__name__)

# Bound of one committed-offsets query while verifying a commit of unknown outcome.
QUERY_TIMEOUT = 10.0
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
Key = tuple[str, int]


class Interrupted(Exception):  # noqa: N818
    """Stop requested while recovering: leave the loop without committing."""


class ConsumerFailed(Exception):  # noqa: N818
    """The consumer reported a fatal error: it cannot consume any more."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.error = error


class Recovery:
    """The failure paths of the loop; the attributes below are the Pipeline's."""

    settings: Settings
    group_id: str
    consumer: Consumer
    producer: BoundedProducer
    processor: ClaimProcessor
    metrics: Metrics
    watchdog: Watchdog
    assigned: set[Key]
    exactly_once: bool
    _stopping: bool
    _txn_timeout: float
    _step_limit: float
    _failing_since: float | None
    _producer: Callable[[], BoundedProducer]
    _topics: list[str]
    _settle: Callable[[], None]
    _drop: Callable[[list[TopicPartition], str], None]
    _on_stats: Callable[[str], None]
    _on_assign: Callable[[Consumer, list[TopicPartition]], None]
    _on_revoke: Callable[[Consumer, list[TopicPartition]], None]
    _on_lost: Callable[[Consumer, list[TopicPartition]], None]
    _finish: Callable[[Batch], None]
    _restore_history: Callable[[list[int]], None]
    changelog_topic: str | None
    # A replay's rebuild of partitions' history from the input up to the given offsets.
    rebuild_from_input: Callable[[dict[Key, int]], None] | None = None

    # --- failure paths ---------------------------------------------------------------------

    def _recover(self, exc: Exception | None, first: dict[Key, int]) -> None:
        """The batch failed before its commit was asked for, so it is certainly not committed:
        abort it (or, fenced or not confirmed, replace the producer) and re-read it."""
        self._note_failure()
        error = exc.args[0] if isinstance(exc, KafkaException) else None
        fenced = isinstance(exc, StuckCall) or (
            error is not None and (error.code() in _FENCED or error.fatal())
        )
        if (fenced and self.exactly_once) or self.producer.abandoned:
            self.metrics.transactions.labels("fenced").inc()
            log.error("producer unusable; replacing it", extra={"error": str(exc)})
            self.processor.abandoned()
            self._replace_producer()
        else:
            if exc is not None:
                self.metrics.transactions.labels("aborted").inc()
                log.warning("batch aborted; re-reading it", extra={"error": str(exc)})
            if not self._abort():
                self._replace_producer()
        self._read_again(first)

    def _recover_commit(self, failure: CommitFailed, batch: Batch) -> bool:
        """The commit failed. Abortable: abort and re-read. Otherwise its outcome is unknown
        (a timeout, a stuck call, a fatal error): a new producer fences this one, which
        settles the transaction, and the group's committed offsets tell whether the batch went
        through - then it is finished (True), else re-read from where the group stands."""
        first, nxt = batch.first, batch.nxt
        self._note_failure()
        log.warning(
            "commit failed",
            extra={"error": str(failure), "outcome": "aborted" if failure.abortable else "unknown"},
        )
        if failure.abortable and self._abort():
            self.metrics.transactions.labels("aborted").inc()
            self._read_again(first)
            return False
        self._replace_producer()
        committed = self._committed(list(first))
        if all(committed.get(tp, -1) >= offset for tp, offset in nxt.items()):
            log.info("the batch was committed after all", extra={"records": len(batch.records)})
            self.metrics.transactions.labels("committed").inc()
            self._finish(batch)
            return True
        self.metrics.transactions.labels("aborted").inc()
        self.processor.abandoned()
        self._read_again(first, committed)
        return False

    def _read_again(self, first: dict[Key, int], committed: dict[Key, int] | None = None) -> None:
        """Rewind a batch's partitions to where the group stands (its first offsets where the
        group has none). The group's offsets, not the batch, say where: a committed offset
        behind the batch means a batch finished before it was not kept after all - seen in a
        broker restart, where the coordinator completed a commit whose markers never reached
        the partitions, and aborted it later. That batch is read again too, and the partition's
        claim history, which holds its claims, is rebuilt first (`_rebuild_history`)."""
        if not first:
            return
        if committed is None:
            committed = self._committed(list(first))
        behind = {tp: committed[tp] for tp, o in first.items() if 0 <= committed.get(tp, -1) < o}
        if behind:
            log.warning(
                "the group's offsets are behind the batch: a commit reported done was not kept",
                extra={"partitions": sorted(p for _, p in behind)},
            )
            self._rebuild_history(behind)
        self._rewind({tp: o if (o := committed.get(tp, -1)) >= 0 else first[tp] for tp in first})

    def _rebuild_history(self, committed: dict[Key, int]) -> None:
        """Drop the partitions' claim history and build it again from what was committed: from
        the changelog (which holds nothing of an aborted batch), or for a replay (history in
        memory only) from the input up to the committed offsets, as up to its start."""
        history = self.processor.history
        rebuild = self.rebuild_from_input
        if history is None or (self.changelog_topic is None and rebuild is None):
            return
        self.processor.abandoned()
        partitions = sorted(p for _, p in committed)
        for partition in partitions:
            history.revoke(partition)
        if self.changelog_topic is not None:
            self._restore_history(partitions)
        elif rebuild is not None:
            rebuild(committed)

    def _note_failure(self) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    def _committed(self, partitions: list[Key]) -> dict[Key, int]:
        """The group's committed offsets for `partitions`, asked until the broker answers.

        Asked by a throwaway consumer of the group that never joins it: the loop's own
        consumer may have a rebalance waiting for the next consume() after a broker restart,
        and then does not answer at all (seen in the broker-restart test).

        Asked after the fence (`_replace_producer`): the coordinator answers the new
        producer's InitProducerId only once the old transaction is complete, its markers
        written, so the offsets it committed or aborted are settled and a read_uncommitted
        query reads them as they stand. A read_committed one (require_stable) also waits for
        any other pending offset commit of the group: after a broker restart it timed out
        again and again for over 20 s (the broker-restart test, 2 runs of 3)."""
        wanted = [TopicPartition(t, p) for t, p in partitions]
        config = consumer_config(self.settings, self.group_id)
        config["isolation.level"] = "read_uncommitted"
        config.pop("group.instance.id", None)  # it never joins; it must not stand in for us
        checker = Consumer(config)
        try:
            while True:
                self._check_stopping()
                try:
                    with self.watchdog.guard("committed offsets", self._step_limit):
                        answer = checker.committed(wanted, timeout=QUERY_TIMEOUT)
                    unanswered = [tp for tp in answer if tp.error is not None]
                    if unanswered:
                        # A partition's error comes back as its offset (-1001, "none"), which
                        # would read as "not committed" and decide a committed batch again.
                        raise KafkaException(unanswered[0].error)
                    return {(tp.topic, tp.partition): tp.offset for tp in answer}
                except KafkaException as exc:
                    log.warning("committed offsets not available yet", extra={"error": str(exc)})
                    time.sleep(1.0)
        finally:
            checker.close()

    def _rewind(self, offsets: dict[Key, int]) -> None:
        """Seek back to `offsets`, so the next batch re-reads what is not committed."""
        for (topic, partition), offset in offsets.items():
            if (topic, partition) not in self.assigned:
                continue  # its new owner starts from the committed offset
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # not assigned after all (a rebalance under way)
                log.warning(
                    "rewind failed",
                    extra={"topic": topic, "partition": partition, "error": str(exc)},
                )

    def _abort(self) -> bool:
        """Abort the open transaction; False when the abort was not confirmed."""
        self.processor.abandoned()  # under either guarantee: the batch is not committed
        if not self.exactly_once:
            return True
        try:
            with self.watchdog.guard("abort_transaction", self._step_limit):
                self.producer.abort_transaction(self._txn_timeout)
            return True
        except (KafkaException, StuckCall) as exc:
            log.warning("abort_transaction failed", extra={"error": str(exc)})
            return False

    def _replace_producer(self) -> None:
        """Close this producer and start a new one with the same transactional id: its
        init_transactions fences the old one and has the coordinator finish or abort the old
        one's transaction. Retried here until the coordinator answers, not left to the next
        batch: after a broker restart the consumer may deliver nothing while the old
        transaction is unresolved."""
        self.producer.close()
        delay = 0.5
        while True:
            if BoundedProducer.stuck > MAX_STUCK:
                exit_stuck(f"{BoundedProducer.stuck} producers' calls", self._txn_timeout)
            self._check_stopping()
            producer = self._producer()
            try:
                if self.exactly_once:
                    with self.watchdog.guard("init_transactions", self._step_limit):
                        producer.init_transactions(self._txn_timeout)
            except (KafkaException, StuckCall) as exc:
                producer.close()
                log.error("cannot recreate the producer yet", extra={"error": str(exc)})
                time.sleep(delay)
                delay = min(2 * delay, 5.0)
                continue
            self.producer = producer
            log.info("producer replaced")
            return

    # --- the consumer ----------------------------------------------------------------------

    def _new_consumer(self) -> Consumer:
        return Consumer(
            consumer_config(
                self.settings,
                self.group_id,
                stats_cb=self._on_stats,
                **{"statistics.interval.ms": 5000},
            )
        )

    def _subscribe(self) -> None:
        self.consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _replace_consumer(self, error: KafkaError) -> None:
        """The consumer hit a fatal error and can never consume again - a static member
        fenced by its own rejoin after a broker restart (librdkafka #3437) stalled the process
        for good in the chaos test. The commit in flight is settled, the partitions dropped,
        and a new consumer with the same group.instance.id joins the group again and resumes
        from the committed offsets."""
        log.error("consumer unusable; replacing it", extra={"error": error.str()})
        self._settle()
        if self.assigned:  # not dropped by an on_lost callback already
            self._drop([TopicPartition(t, p) for t, p in sorted(self.assigned)], "lost")
        with self.watchdog.guard("closing the failed consumer", self._step_limit):
            try:
                self.consumer.close()
            except (KafkaException, RuntimeError) as exc:  # it failed; it may say so again
                log.info("the failed consumer closed", extra={"note": str(exc)})
        self.consumer = self._new_consumer()
        self._subscribe()

    def _check_stopping(self) -> None:
        if self._stopping:
            raise Interrupted
