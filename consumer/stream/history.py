"""The claim history's changelog (SPEC §3.1): a compacted topic co-partitioned with the input.

Kafka Streams' changelogged state stores are the model: each input partition's history lives
in memory (`consumer._native.History`) and every change to it is a record of the changelog's
partition with the same number - key: the member id, value: the member's history, a tombstone
when nothing is left - written in the same transaction as the decisions and the offsets. When
a partition is assigned its history is read back from the changelog (read_committed) before
any of its records is decided; when it is revoked or lost the history is dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from consumer._native import History
from consumer.errors import KafkaSetupError
from consumer.settings import Settings
from consumer.stream.clients import common_config, consumer_config

log = logging.getLogger(__name__)

TIMEOUT = 30.0
# Restore progress on the log at most this often.
PROGRESS_SECONDS = 5.0
RESTORE_BATCH = 10_000
# consume() waits this long for a batch to fill: at a partition's end it returns what it has
# after this wait. At 1 s, restoring three partitions of a few thousand records took 3.0 s of
# which 2.97 idle; at 50 ms the same restore takes 0.2 s.
RESTORE_WAIT = 0.05
# Between two asks for a changelog partition's offsets the broker could not answer yet.
RETRY_SECONDS = 0.5


def ensure_changelog_topic(settings: Settings, timeout: float = TIMEOUT) -> None:
    """Create the changelog topic when missing (compacted, as many partitions as the input,
    its replication factor); check it when present. KafkaSetupError (one line) when it has
    another partition count or is not compacted: its partitions would not line up with the
    input's, or old history would be deleted by time."""
    admin = AdminClient(common_config(settings))
    topic, source = settings.changelog_topic, settings.topics.input
    metadata = admin.list_topics(timeout=timeout).topics
    if source not in metadata:
        raise KafkaSetupError(f"topic {source} does not exist")
    partitions = len(metadata[source].partitions)
    if topic not in metadata:
        replicas = len(next(iter(metadata[source].partitions.values())).replicas) or 1
        new = NewTopic(topic, partitions, replicas, config={"cleanup.policy": "compact"})
        for future in admin.create_topics([new], operation_timeout=timeout).values():
            try:
                future.result(timeout)
            except Exception as exc:
                error = exc.args[0] if exc.args else None
                if not (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    raise KafkaSetupError(
                        f"cannot create the history changelog {topic}: {exc}"
                    ) from exc
        log.info("history changelog created", extra={"topic": topic, "partitions": partitions})
        return
    have = len(metadata[topic].partitions)
    if have != partitions:
        raise KafkaSetupError(
            f"history changelog {topic} has {have} partitions, the input {source} has "
            f"{partitions}: they must match (recreate it, or set history.changelog_topic)"
        )
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout)
    policy = config["cleanup.policy"].value or ""
    if "compact" not in policy:
        raise KafkaSetupError(
            f"history changelog {topic} has cleanup.policy={policy}, not compact: set "
            f"cleanup.policy=compact on it (kafka-configs --alter --entity-type topics)"
        )


def restore(
    settings: Settings,
    history: History,
    partitions: list[int],
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[int, float]:
    """Read the changelog partitions into `history` (assigned here) up to their end as it is
    now, committed records only. Returns the seconds each partition took. `on_progress` gets
    (records read so far, records to read at most) every few seconds, and at the end."""
    topic = settings.changelog_topic
    config = consumer_config(settings, f"{settings.group_id}-restore")
    config.pop("group.instance.id", None)  # it only reads; it must not stand in for us
    reader = Consumer(config)
    seconds: dict[int, float] = {}
    try:
        ends = {}
        for partition in partitions:
            history.assign(partition)
            ends[partition] = _watermarks(reader, topic, partition)
        total = sum(high - low for low, high in ends.values())
        progress = _Progress(total, on_progress)
        for partition, (low, high) in ends.items():
            started = time.monotonic()
            _read_partition(reader, topic, partition, low, high, history, progress)
            seconds[partition] = time.monotonic() - started
        progress.report()
    finally:
        reader.close()
    return seconds


def _watermarks(reader: Consumer, topic: str, partition: int) -> tuple[int, int]:
    """The partition's first and next offsets, asked again while the broker cannot answer
    yet: right after start-up created the changelog its partitions may have no leader for a
    moment (NOT_LEADER_FOR_PARTITION ended a validator in the bench), and so may a broker
    that restarts. KafkaSetupError, one line, when it still cannot after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            ends = reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=TIMEOUT, cached=False
            )
            problem = "no answer" if ends is None else ""
        except KafkaException as exc:
            ends, problem = None, exc.args[0].str()
        if ends is not None:
            low, high = ends
            return low, high
        if time.monotonic() >= deadline:
            raise KafkaSetupError(
                f"cannot read the history changelog {topic}[{partition}]: {problem}"
            )
        log.warning(
            "history changelog not readable yet; asking again",
            extra={"topic": topic, "partition": partition, "error": problem},
        )
        time.sleep(RETRY_SECONDS)


class _Progress:
    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self._report = total, 0, report
        self._shown = time.monotonic()

    def add(self, records: int) -> None:
        self.done += records
        if time.monotonic() - self._shown >= PROGRESS_SECONDS:
            self.report()

    def report(self) -> None:
        self._shown = time.monotonic()
        if self._report is not None:
            self._report(self.done, self.total)


def _read_partition(
    reader: Consumer,
    topic: str,
    partition: int,
    low: int,
    high: int,
    history: History,
    progress: _Progress,
) -> None:
    """Up to `high`, judged by position: the last offsets before it may be transaction
    markers, which are never delivered; an open transaction of a killed producer holds the
    position back until the broker aborts it."""
    if high <= low:
        return
    reader.assign([TopicPartition(topic, partition, low)])
    try:
        while True:
            batch = []
            for msg in reader.consume(RESTORE_BATCH, RESTORE_WAIT):
                error = msg.error()
                if error is not None:
                    if error.fatal():
                        raise KafkaSetupError(f"cannot read {topic}[{partition}]: {error.str()}")
                    continue
                if (msg.offset() or 0) < high:
                    batch.append((msg.key() or b"", msg.value()))
            if batch:
                history.restore(partition, batch)
                progress.add(len(batch))
            if reader.position([TopicPartition(topic, partition)])[0].offset >= high:
                return
    finally:
        reader.unassign()
