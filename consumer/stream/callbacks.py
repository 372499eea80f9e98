"""The Kafka loop's callbacks from librdkafka: rebalances (assigned partitions, lag gauges, the
claim history restored or dropped) and statistics
(per-partition lag, producer queue depth, partitions not fetched from - whose fetch the loop
restarts, `_restart_fetch`).

A mixin of `consumer.stream.pipeline.Pipeline`; the attributes below are the Pipeline's.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import orjson
from confluent_kafka import OFFSET_STORED, Consumer, TopicPartition

from consumer.settings import Settings
from consumer.stream.fetching import FetchStates
from consumer.stream.history import restore
from consumer.stream.metrics import Metrics
from consumer.stream.processing import ClaimProcessor
from consumer.stream.txn import BoundedProducer

log = logging.getLogger("consumer.stream.pipeline")  # the loop's own log lines

Key = tuple[str, int]


class Callbacks:
    settings: Settings
    consumer: Consumer
    metrics: Metrics
    producer: BoundedProducer
    processor: ClaimProcessor
    assigned: set[Key]
    lag: dict[Key, int]
    waiting_since: float | None
    changelog_topic: str | None
    restoring: set[int]
    fetching: FetchStates
    bounds: object | None
    _settle: Callable[[], None]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assign").inc()
        self.assigned |= {(p.topic, p.partition) for p in partitions}
        self.metrics.assigned_partitions.set(len(self.assigned))
        log.info(
            "partitions assigned", extra={"partitions": sorted(p.partition for p in partitions)}
        )
        self._restore_history(sorted(p.partition for p in partitions))

    def _restore_history(self, partitions: list[int]) -> None:
        """Read the partitions' claim history back from the changelog before any of their
        records is decided (SPEC §3.1). Done here, inside the rebalance callback, so that no
        `consume()` can hand out their records first; librdkafka keeps the membership alive
        meanwhile (its heartbeats run on their own thread; max.poll.interval.ms bounds it)."""
        history = self.processor.history
        if history is None or not self.changelog_topic or not partitions:
            return
        self.restoring |= set(partitions)
        self.metrics.history_restoring.set(len(self.restoring))
        log.info("restoring history", extra={"partitions": partitions})
        started, counted = time.monotonic(), 0

        def progress(done: int, total: int) -> None:
            nonlocal counted
            self.metrics.history_restore_records.inc(done - counted)
            counted = done
            log.info("restoring history", extra={"records": done, "of": total})

        seconds = restore(self.settings, history, partitions, on_progress=progress)
        for partition, spent in seconds.items():
            self.metrics.history_restore_seconds.labels(str(partition)).set(spent)
            self.metrics.history_members.labels(str(partition)).set(history.members(partition))
        self.restoring -= set(partitions)
        self.metrics.history_restoring.set(len(self.restoring))
        log.info(
            "history restored",
            extra={
                "partitions": partitions,
                "records": counted,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle()  # the commit in flight first: a revoke never finds an open transaction
        self._drop(partitions, "revoke")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle()  # it fails (another member owns them now) and is recovered, not left open
        self._drop(partitions, "lost")

    def _drop(self, partitions: list[TopicPartition], kind: str) -> None:
        self.metrics.rebalances.labels(kind).inc()
        history = self.processor.history
        for p in partitions:
            self.assigned.discard((p.topic, p.partition))
            self.lag.pop((p.topic, p.partition), None)
            self.fetching.forget((p.topic, p.partition))
            with contextlib.suppress(KeyError):  # no stats seen yet for it
                self.metrics.consumer_lag.remove(p.topic, str(p.partition))
            if history is not None and self.changelog_topic:
                # Its new owner restores it from the changelog; a stale copy here could only
                # be wrong if the partition came back.
                history.revoke(p.partition)
                with contextlib.suppress(KeyError):
                    self.metrics.history_members.remove(str(p.partition))
        if not self.assigned:
            self.waiting_since = None  # what waited is another member's now
        self.metrics.assigned_partitions.set(len(self.assigned))
        log.info(
            "partitions revoked" if kind == "revoke" else "partitions lost",
            extra={"partitions": sorted(p.partition for p in partitions)},
        )

    def _on_stats(self, stats_json: str) -> None:
        """librdkafka statistics: per-partition lag of the partitions being fetched, and which
        assigned partitions are not fetched from (`consumer.stream.fetching`)."""
        stats = orjson.loads(stats_json)
        for topic, tstats in stats.get("topics", {}).items():
            for part, pstats in tstats.get("partitions", {}).items():
                key = (topic, int(part))
                if key not in self.assigned:
                    continue  # the topic's other partitions (and librdkafka's -1)
                state = pstats.get("fetch_state", "")
                if self.bounds is None:  # a replay pauses the partitions it has finished
                    self.fetching.update(key, state)
                if state != "active":
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
                self.lag[key] = lag
                self.metrics.consumer_lag.labels(topic, part).set(lag)
        self.metrics.partitions_not_fetching.set(len(self.fetching.stalled()))
        self.metrics.producer_queue.set(len(self.producer))

    def _restart_fetch(self) -> None:
        """Assign this member's partitions again, each from the group's committed offset, once
        librdkafka has left one of them out of the `active` fetch state for long
        (`FetchStates.restart_due`).

        librdkafka starts an assigned partition only when the group coordinator has answered
        its committed offset. An answer carrying an error - or one for an assignment that has
        changed since it was asked, when a query for the new one is already out - takes the
        partition off its start-up lists, and nothing asks again until the application assigns
        it anew (`rd_kafka_assignment_apply_offsets` in rdkafka_assignment.c, 2.x). The chaos
        test saw all three partitions sit `stopped`, committing nothing, for over a minute after
        a broker restart had them lost and assigned again.

        The commit in flight is settled first, so the committed offsets are exactly where this
        process's claim history stands: nothing is skipped or decided twice, and the history is
        kept (the partitions never left this member). The group is not rebalanced: it is the
        same assignment, fetched again. An `assign()` is taken as the answer to a new
        assignment when librdkafka waits for one; with the eager assignor the revoke callback
        has emptied `assigned` by then, and an empty set is not assigned (a cooperative
        assignor would need `incremental_assign` here)."""
        due = self.fetching.restart_due()
        if not due or self.bounds is not None:
            return
        self._settle()
        keys = sorted(self.assigned)
        self.fetching.restarted(keys)
        if not keys:
            return
        log.warning(
            "restarting the fetch of partitions not fetched from",
            extra={
                "partitions": [d.partition for d in due],
                "fetch_states": [d.state for d in due],
                "seconds": round(max(d.seconds for d in due)),
            },
        )
        self.metrics.fetch_restarts.inc()
        self.consumer.assign([TopicPartition(t, p, OFFSET_STORED) for t, p in keys])
