"""What the loop reads of a consumed batch in one call: each partition's offsets, and the
records' ages for the end-to-end latency histogram (`consumer._native`)."""

from __future__ import annotations

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message

from consumer._native import age_buckets, batch_offsets
from consumer.stream.batch import Batch


def message(topic: str, partition: int, offset: int) -> Message:
    return Message(topic=topic, partition=partition, offset=offset, value=b"v")


def test_each_partition_s_first_offset_and_the_one_after_its_last_in_order_of_appearance() -> None:
    records = [
        message("claims", 3, 40),
        message("claims", 1, 7),
        message("claims", 3, 41),
        message("other", 3, 900),  # the same partition number of another topic
        message("claims", 3, 45),  # a gap (compacted or transaction markers): still the last
        message("claims", 1, 8),
    ]
    first, nxt = batch_offsets(records)
    assert list(first.items()) == [(("claims", 3), 40), (("claims", 1), 7), (("other", 3), 900)]
    assert list(nxt.items()) == [(("claims", 3), 46), (("claims", 1), 9), (("other", 3), 901)]


def test_a_message_without_coordinates_counts_as_no_topic_partition_0_offset_0() -> None:
    assert batch_offsets([Message(value=b"v")]) == ({("", 0): 0}, {("", 0): 1})
    assert batch_offsets([]) == ({}, {})


def test_a_batch_takes_its_offsets_from_its_records() -> None:
    batch = Batch.of([message("claims", 0, 5), message("claims", 0, 6)])
    assert (batch.first, batch.nxt) == ({("claims", 0): 5}, {("claims", 0): 7})


def aged(millis: int, kind: int = TIMESTAMP_CREATE_TIME) -> Message:
    return Message(topic="claims", partition=0, offset=0, timestamp=(kind, millis))


def test_ages_are_counted_in_the_first_bucket_they_do_not_exceed() -> None:
    now_ms = 1_800_000_000_000.0
    records = [
        aged(1_800_000_000_000 - 5),  # 0.005 s: on a bound, so in it (Prometheus' le)
        aged(1_800_000_000_000 - 6),  # 0.006 s
        aged(1_800_000_000_000 - 2_000),  # 2 s: past the last bound
        aged(1_800_000_000_000 + 3_000),  # stamped ahead of now: age 0
    ]
    counts, total = age_buckets(records, now_ms, (0.005, 0.01, 1.0))
    assert counts == [2, 1, 0, 1]
    assert total == 0.005 + 0.006 + 2.0


def test_records_without_a_timestamp_are_not_counted() -> None:
    records = [aged(1_000, TIMESTAMP_NOT_AVAILABLE), aged(0), aged(-1)]
    assert age_buckets(records, 5_000.0, [1.0]) == ([0, 0], 0.0)
