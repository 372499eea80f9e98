"""Which records a replay covers: `--from/--to-offset` or `--from/--to-time`, per partition or
for the whole topic, turned into a fixed `[start, end)` per partition at start-up so the replay
stops by itself even while producers keep writing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import Consumer, Message, TopicPartition

from consumer.errors import InfusionValidatorError

TIMEOUT = 15.0


class RangeError(InfusionValidatorError):
    """The requested range does not exist in the topic."""


@dataclass(frozen=True)
class PartitionRange:
    topic: str
    partition: int
    start: int  # first offset to read
    end: int  # one past the last offset to read

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise RangeError(f"{moment.isoformat()}: give a time zone, e.g. 2026-07-01T00:00:00Z")
    return int(moment.timestamp() * 1000)


def _offset_at(consumer: Consumer, topic: str, partition: int, moment: datetime, high: int) -> int:
    """The first offset whose timestamp is at or after `moment` (the end when there is none)."""
    found = consumer.offsets_for_times([TopicPartition(topic, partition, _millis(moment))], TIMEOUT)
    offset = found[0].offset
    return high if offset < 0 else offset


def resolve(
    consumer: Consumer,
    topic: str,
    partitions: list[int] | None = None,
    *,
    from_offset: int | None = None,
    to_offset: int | None = None,
    from_time: datetime | None = None,
    to_time: datetime | None = None,
) -> list[PartitionRange]:
    """The range per partition; `to_offset` is inclusive, `to_time` exclusive. Raises
    RangeError for an unknown topic or partition, or a start outside the retained log."""
    metadata = consumer.list_topics(topic, timeout=TIMEOUT).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise RangeError(f"topic {topic} does not exist")
    known = sorted(metadata.partitions)
    chosen = partitions if partitions is not None else known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise RangeError(f"topic {topic} has partitions {known}; no partition {unknown}")
    if from_offset is not None and to_offset is not None and to_offset < from_offset:
        raise RangeError(f"--to-offset {to_offset} is before --from-offset {from_offset}")
    if from_time and to_time and to_time <= from_time:
        raise RangeError("--to-time must be after --from-time")

    ranges = []
    for partition in chosen:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=TIMEOUT, cached=False
        )
        start, end = low, high
        if from_offset is not None:
            if from_offset < low:
                raise RangeError(
                    f"{topic}[{partition}]: offset {from_offset} is before the log start {low} "
                    "(older records were deleted by retention)"
                )
            if from_offset > high:
                raise RangeError(
                    f"{topic}[{partition}]: offset {from_offset} is past the end {high}"
                )
            start = from_offset
        if from_time is not None:
            start = _offset_at(consumer, topic, partition, from_time, high)
            if start == low and low > 0:
                first = _first_timestamp(consumer, topic, partition, low)
                if first is not None and first > _millis(from_time):
                    raise RangeError(
                        f"{topic}[{partition}]: {from_time.isoformat()} is before the log start "
                        f"(records before offset {low} were deleted by retention)"
                    )
        if to_offset is not None:
            end = min(high, to_offset + 1)
        if to_time is not None:
            end = min(end, _offset_at(consumer, topic, partition, to_time, high))
        ranges.append(PartitionRange(topic, partition, start, max(start, end)))
    return ranges


def _first_timestamp(consumer: Consumer, topic: str, partition: int, offset: int) -> int | None:
    """The timestamp of the record at `offset` (one short read), if it can be read."""
    consumer.assign([TopicPartition(topic, partition, offset)])
    try:
        msg = consumer.poll(TIMEOUT)
        if msg is None or msg.error():
            return None
        return msg.timestamp()[1]
    finally:
        consumer.unassign()


def reached_end(consumer: Consumer, ends: dict[tuple[str, int], int]) -> list[tuple[str, int]]:
    """The partitions whose position has reached their end offset.

    Judged by position, not by the last record seen: in a topic written with transactions the
    last offsets before the end can be commit markers, which are never delivered (librdkafka
    moves the position past them).
    """
    positions = consumer.position([TopicPartition(t, p) for t, p in ends])
    return [
        (tp.topic, tp.partition)
        for tp in positions
        if tp.offset >= 0 and tp.offset >= ends[(tp.topic, tp.partition)]
    ]


def read_range(
    consumer: Consumer, ranges: list[PartitionRange], batch: int = 2000
) -> Iterator[list[Message]]:
    """Every record of the ranges, a batch at a time, then stop (for reads that commit
    nothing, like `--diff`)."""
    todo = {(r.topic, r.partition): r.end for r in ranges if r.size}
    consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in ranges if r.size])
    while todo:
        wanted = []
        for msg in consumer.consume(batch, 1.0):
            error = msg.error()
            if error is not None:
                if error.fatal():
                    raise RangeError(f"cannot read {msg.topic()}: {error.str()}")
                continue
            end = todo.get((msg.topic() or "", msg.partition() or 0))
            if end is not None and (msg.offset() or 0) < end:
                wanted.append(msg)
        if wanted:
            yield wanted
        for key in reached_end(consumer, todo):
            del todo[key]
            consumer.pause([TopicPartition(*key)])
