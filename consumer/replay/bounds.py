"""A replay's bounds: the loop decides each partition's `[start, end)` range and stops.

The live loop (`consumer.stream.pipeline`) knows nothing of ranges; a replay runs it on an
explicit assignment with these bounds, which drop what is fetched past a partition's end,
pause a partition once its position reaches the end, and say when every range is done.
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import Consumer, Message, TopicPartition

from consumer.replay.ranges import TIMEOUT, PartitionRange, reached_end

Key = tuple[str, int]


def resume_points(consumer: Consumer, ranges: Sequence[PartitionRange]) -> dict[Key, int]:
    """Where a replay of `ranges` starts in each partition: past what the consumer's group
    already committed there (a replay killed and restarted with the same group)."""
    wanted = [TopicPartition(r.topic, r.partition) for r in ranges]
    committed = {
        (tp.topic, tp.partition): tp.offset for tp in consumer.committed(wanted, timeout=TIMEOUT)
    }
    return {
        (r.topic, r.partition): min(r.end, max(r.start, committed.get((r.topic, r.partition), -1)))
        for r in ranges
    }


class RangeBounds:
    """The ranges a replay decides, from `starts` (see `resume_points`) to their ends."""

    def __init__(self, ranges: Sequence[PartitionRange], starts: dict[Key, int]) -> None:
        self.starts = starts
        self.ends = {(r.topic, r.partition): r.end for r in ranges}
        self.remaining = {key for key, start in starts.items() if start < self.ends[key]}

    @property
    def finished(self) -> bool:
        """Every partition reached its end offset."""
        return not self.remaining

    def keep(self, msg: Message) -> bool:
        """False for a record fetched past its partition's end."""
        end = self.ends.get((msg.topic() or "", msg.partition() or 0))
        return end is None or (msg.offset() or 0) < end

    def after_batch(self, consumer: Consumer) -> None:
        """Pause the partitions that reached their end, so nothing past it is fetched. A batch
        that was aborted has rewound the position, so only committed work counts."""
        if not self.remaining:
            return
        done = reached_end(consumer, {key: self.ends[key] for key in self.remaining})
        if done:
            self.remaining.difference_update(done)
            consumer.pause([TopicPartition(t, p) for t, p in done])
