"""A replay's claim history (SPEC §3.1): rebuilt from the input before the range, so that the
range is decided as the live service decided it.

The live service's history is in its changelog, but a replay must not read or write that (it
may replay another topic, with another rule set, under its own group): it reads the input
partitions from their start to where the replay begins and records every claim there, deciding
nothing. Retention then keeps what the live service would still have.
"""

from __future__ import annotations

import sys

from confluent_kafka import Consumer, TopicPartition

from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.codec.wire import Wire
from consumer.errors import DecodeError
from consumer.progress import Progress
from consumer.replay.ranges import TIMEOUT, PartitionRange, read_range
from consumer.settings import Settings
from consumer.stream.clients import consumer_config


def rebuild_history(
    settings: Settings,
    wire: Wire,
    history: History,
    starts: dict[tuple[str, int], int],
) -> int:
    """Record into `history` (partitions assigned here) every claim of the input before
    `starts` (where the replay begins in each partition). Returns the records read."""
    config = consumer_config(settings, f"{settings.group_id}-history")
    config.pop("group.instance.id", None)
    reader = Consumer(config)
    try:
        spans = []
        for (topic, partition), start in starts.items():
            history.assign(partition)
            low, _ = reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=TIMEOUT, cached=False
            )
            spans.append(PartitionRange(topic, partition, low, max(low, start)))
        total = sum(span.size for span in spans)
        if not total:
            return 0
        progress = Progress(total, "history", sys.stderr)
        done = 0
        for batch in read_range(reader, spans):
            by_partition: dict[int, list[bytes]] = {}
            for msg in batch:
                body = wire.body(msg.value())
                if not body:  # another writer schema: Python's decoder reads it
                    try:
                        body = claim_body(wire.decoder.decode(msg.value()))
                    except DecodeError:
                        continue  # the live service dead-lettered it: not in any history
                by_partition.setdefault(msg.partition() or 0, []).append(body)
            for partition, bodies in by_partition.items():
                history.record(partition, bodies)
            history.commit()
            done += len(batch)
            progress.update(done)
        progress.finish()
        return done
    finally:
        reader.close()
