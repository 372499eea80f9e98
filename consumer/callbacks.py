"""The Kafka loop's callbacks from librdkafka: rebalances (assigned partitions, lag gauges),
delivery reports (at-least-once) and statistics (per-partition lag, producer queue depth).

A mixin of `consumer.pipeline.Pipeline`; the attributes below are the Pipeline's.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition

from consumer.metrics import Metrics
from consumer.txn import BoundedProducer

log = logging.getLogger("consumer.pipeline")  # the loop's own log lines

Key = tuple[str, int]


class Callbacks:
    metrics: Metrics
    producer: BoundedProducer
    assigned: set[Key]
    lag: dict[Key, int]
    waiting_since: float | None
    _delivery_errors: list[KafkaError]

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
        if not self.assigned:
            self.waiting_since = None  # what waited is another member's now
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
