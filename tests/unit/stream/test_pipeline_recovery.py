"""How the loop recovers a failed batch without a broker: an abortable commit is aborted and
re-read; a commit of unknown outcome replaces the producer and asks the group whether it went
through; a call stuck in librdkafka is abandoned within its bound.

The loop decides the next batch while a commit runs, so when a commit fails the next batch has
been consumed already: it is dropped and read again after the failed one. The scripts below
therefore hand out the failed batch, the one consumed on top of it, then the re-read."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from confluent_kafka import OFFSET_STORED, KafkaError, KafkaException
from prometheus_client import CollectorRegistry

import consumer.stream.pipeline
import consumer.stream.recovery
import consumer.stream.txn
from consumer._native import History
from consumer.stream.fetching import FetchStates, NotFetching
from consumer.stream.txn import BoundedProducer, StuckCall
from tests.unit.stream.fake_kafka import (
    ABORTABLE,
    TOPIC,
    UNKNOWN,
    FakeConsumer,
    FakeProducer,
    FatalError,
    Record,
    batch,
    distinct,
    run_pipeline,
)


def _transactions(registry: CollectorRegistry, result: str) -> float | None:
    return registry.get_sample_value("infusion_validator_transactions_total", {"result": result})


def test_an_abortable_commit_is_aborted_and_the_batch_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    records = batch()
    fake_consumer = FakeConsumer([records, records, records])
    producer = FakeProducer(commit_failures=[ABORTABLE])
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer)
    assert fake_consumer.seeks == [(TOPIC, 0, 100)]
    assert producer.calls.count("abort") == 1
    assert producer.calls.count("init") == 1  # the same producer goes on
    assert producer.calls.count("begin") == 2  # the batch on top was never produced
    assert _transactions(registry, "aborted") == 1
    assert _transactions(registry, "committed") == 1
    assert pipeline.processed == len(records)


@pytest.mark.parametrize(
    "serial",
    [
        {"decide_ahead": False},
        # A batch that came short (4 records, 2,000 asked for): nothing waits, commit first.
        {"decide_ahead": True, "batch_size": 2000},
    ],
    ids=["decide_ahead off", "short batch"],
)
def test_without_deciding_ahead_a_batch_is_committed_before_the_next_consume(
    monkeypatch: pytest.MonkeyPatch, serial: dict[str, object]
) -> None:
    registry = CollectorRegistry()
    records = batch()
    events: list[str] = []
    fake_consumer = FakeConsumer(
        [records, records], before_consume=lambda: events.append("consume"), events=events
    )
    producer = FakeProducer(commit_failures=[ABORTABLE], calls=events)
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer, **serial)
    # The failed batch was aborted before the second consume(), which is its re-read.
    assert events.index("abort") < events.index("consume", events.index("commit"))
    assert fake_consumer.seeks == [(TOPIC, 0, 100)]
    assert pipeline.processed == len(records)


@pytest.mark.parametrize(
    ("error", "producers"),
    [
        (KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large")), 1),
        (UNKNOWN, 2),  # fatal: the producer is replaced
    ],
    ids=["abortable", "fatal"],
)
def test_a_batch_whose_records_could_not_be_produced_is_not_committed_and_read_again(
    monkeypatch: pytest.MonkeyPatch, error: KafkaException, producers: int
) -> None:
    # The batch's records are produced on the producer's worker, with its commit: a failure
    # there is known to come before the commit was asked for.
    registry = CollectorRegistry()
    records = batch()
    fake_consumer = FakeConsumer([records, records, records])
    failing = FakeProducer(produce_failures=[error])
    fresh = FakeProducer()
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, [failing, fresh])
    assert fake_consumer.seeks == [(TOPIC, 0, 100)]
    assert failing.offsets == ([] if producers == 2 else [[(TOPIC, 0, 104)]])
    if producers == 1:  # aborted, then the re-read committed by the same producer
        assert failing.calls.count("abort") == 1
        assert not fresh.calls
    else:
        assert "abort" not in failing.calls
        assert fresh.offsets == [[(TOPIC, 0, 104)]]
    assert _transactions(registry, "committed") == 1
    assert pipeline.processed == len(records)


def test_a_batch_consumed_on_top_of_a_failed_commit_is_dropped_and_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    mine = batch()  # partition 0
    other = [Record(r.value(), 500 + i, 1) for i, r in enumerate(batch())]
    fake_consumer = FakeConsumer([mine, other, mine, other], partitions=2)
    producer = FakeProducer(commit_failures=[ABORTABLE])
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer)
    # The failed batch's partition from the recovery, the dropped one's from the loop.
    assert fake_consumer.seeks == [(TOPIC, 0, 100), (TOPIC, 1, 500)]
    # The failed transaction, then the two batches read again: the dropped one was never begun.
    assert producer.calls.count("begin") == 3
    assert pipeline.processed == len(mine) + len(other)
    assert _transactions(registry, "committed") == 2


def test_a_revoke_waits_for_the_commit_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CollectorRegistry()
    records = batch()
    events: list[str] = []
    # The second consume() revokes, while the first batch's commit is in flight.
    fake_consumer = FakeConsumer([records, []], rebalance_at={1}, events=events)
    producer = FakeProducer(calls=events)
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer)
    assert events.index("commit") < events.index("revoke")
    assert pipeline.processed == len(records)  # finished before the partitions went


def test_a_commit_failing_in_a_revoke_drops_what_that_consume_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    records = batch()
    fake_consumer = FakeConsumer([records, records, records], rebalance_at={1})
    producer = FakeProducer(commit_failures=[ABORTABLE])
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer)
    assert fake_consumer.seeks == [(TOPIC, 0, 100)]
    assert producer.calls.count("begin") == 2
    assert pipeline.processed == len(records)
    assert _transactions(registry, "committed") == 1


def test_records_of_a_partition_no_longer_assigned_are_not_decided(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records fetched before their partition went (its claim history is dropped with it)
    are left to its new owner: deciding them here could miss a re-sent event."""
    registry = CollectorRegistry()
    records = batch()
    stale = [Record(r.value(), r.offset(), _partition=1) for r in records]
    fake_consumer = FakeConsumer([[*records, *stale]])  # one partition assigned: 0
    producer = FakeProducer()
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer)
    assert pipeline.processed == len(records)
    assert len(producer.produced) == len(records)  # three decisions and a dead letter
    assert producer.offsets == [[(TOPIC, 0, 104)]]


def test_a_consumer_failed_for_good_is_replaced_in_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    records = batch()
    events: list[str] = []
    fenced = [FatalError(b"", 0)]
    fake_consumer = FakeConsumer([records, fenced, records], events=events)
    producer = FakeProducer(calls=events)
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, producer)
    assert events.count("subscribe") == 2  # a new consumer joined the group again
    # The commit in flight was finished before the failed consumer went.
    assert events.index("commit") < events.index("subscribe", 1)
    assert pipeline.processed == 2 * len(records)
    assert pipeline.assigned == {(TOPIC, 0)}


def test_a_commit_of_unknown_outcome_that_went_through_is_not_decided_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    records = batch()
    # The group's offset is past the batch: the commit happened before the producer failed.
    fake_consumer = FakeConsumer([records], committed_offset=104)
    first, second = FakeProducer(commit_failures=[UNKNOWN]), FakeProducer()
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, [first, second])
    assert fake_consumer.seeks == []
    assert second.calls[0] == "init"  # the replacement fenced the first producer
    assert first.closed
    assert pipeline.processed == len(records)
    assert _transactions(registry, "committed") == 1
    assert (
        registry.get_sample_value(
            "infusion_validator_decisions_total",
            {"decision": "ACCEPTED", "line_of_business": "MEDICAID"},
        )
        == 2
    )  # counted once, from the attempt that went through


def test_a_committed_offset_the_broker_could_not_give_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A partition's error comes back as offset -1001 ("none"): taken at its word, a batch
    that went through would read as not committed and be decided a second time."""
    monkeypatch.setattr(consumer.stream.recovery.time, "sleep", lambda _: None)
    registry = CollectorRegistry()
    records = batch()
    fake_consumer = FakeConsumer([records], committed_offset=104, committed_errors=2)
    first, second = FakeProducer(commit_failures=[UNKNOWN]), FakeProducer()
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, [first, second])
    assert fake_consumer.committed_errors == 0  # asked until it answered
    assert fake_consumer.seeks == []  # nothing re-read
    assert pipeline.processed == len(records)
    assert _transactions(registry, "committed") == 1
    assert _transactions(registry, "aborted") == 0


def test_a_commit_of_unknown_outcome_that_did_not_go_through_is_read_again_from_the_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    records = batch()
    fake_consumer = FakeConsumer([records, records, records], committed_offset=100)
    first, second = FakeProducer(commit_failures=[UNKNOWN]), FakeProducer()
    pipeline = run_pipeline(monkeypatch, registry, fake_consumer, [first, second])
    assert fake_consumer.seeks == [(TOPIC, 0, 100)]
    assert pipeline.processed == len(records)  # once, after the re-read
    assert _transactions(registry, "aborted") == 1
    assert _transactions(registry, "committed") == 1
    assert "commit" in second.calls


def test_a_stuck_send_offsets_is_abandoned_and_the_batch_recovered_in_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer.stream.txn, "GRACE_SECONDS", 0.2)
    registry = CollectorRegistry()
    records = batch()
    fake_consumer = FakeConsumer([records, records, records], committed_offset=100)
    release = threading.Event()
    stuck, second = FakeProducer(block=release), FakeProducer()
    started = time.monotonic()
    try:
        pipeline = run_pipeline(
            monkeypatch,
            registry,
            fake_consumer,
            [stuck, second],
            transaction_timeout_ms=1000,
        )
        elapsed = time.monotonic() - started
        assert BoundedProducer.stuck == 1  # its call has still not returned
    finally:
        release.set()
    assert elapsed < 5, elapsed  # 1 s timeout + 0.2 s grace, not "forever"
    assert fake_consumer.seeks == [(TOPIC, 0, 100)]
    assert pipeline.processed == len(records)
    assert "commit" not in stuck.calls
    # Once the stuck call returns, the abandoned producer is closed on its own thread.
    deadline = time.monotonic() + 5
    while not stuck.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stuck.closed
    assert BoundedProducer.stuck == 0


def test_a_bounded_call_returns_its_result_or_raises_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeProducer()
    monkeypatch.setattr(consumer.stream.txn, "Producer", lambda config: fake)
    producer = BoundedProducer({})
    assert producer.call("add", lambda: 1 + 1, 1.0) == 2
    with pytest.raises(ZeroDivisionError):
        producer.call("divide", lambda: 1 / 0, 1.0)
    gate = threading.Event()
    with pytest.raises(StuckCall, match="wait did not return within 0s"):
        producer.call("wait", gate.wait, 0.05)
    assert producer.abandoned
    with pytest.raises(StuckCall):  # an abandoned producer takes no more calls
        producer.call("add", lambda: 1 + 1, 1.0)
    gate.set()
    deadline = time.monotonic() + 5
    while not fake.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.closed


@pytest.mark.parametrize("decide_ahead", [True, False])
def test_a_batch_whose_commit_did_not_go_through_is_decided_again_not_skipped_as_resent(
    monkeypatch: pytest.MonkeyPatch, decide_ahead: bool
) -> None:
    """Its claims were recorded in the history while it was decided; the history must forget
    them with the batch, or the re-read finds every event "decided before" and writes nothing
    for it while its offsets are committed: the batch lost."""
    registry = CollectorRegistry()
    records = distinct(3)
    history = History(400)
    history.assign(0)
    # Read again after the failure (deciding ahead, one more batch was read on top of it).
    fake_consumer = FakeConsumer([records, records, records], committed_offset=100)
    first, second = FakeProducer(commit_failures=[UNKNOWN]), FakeProducer()
    run_pipeline(
        monkeypatch, registry, fake_consumer, [first, second], history=history,
        decide_ahead=decide_ahead,
    )  # fmt: skip
    assert fake_consumer.seeks[0] == (TOPIC, 0, 100)
    assert len(first.produced) == 3  # a decision each
    assert second.produced == first.produced  # decided again alike, none skipped as re-sent


def test_history_of_a_batch_whose_commit_got_stuck_is_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer.stream.txn, "GRACE_SECONDS", 0.2)
    registry = CollectorRegistry()
    records = distinct(3)
    history = History(400)
    history.assign(0)
    fake_consumer = FakeConsumer([records, records, records], committed_offset=100)
    release = threading.Event()
    stuck, second = FakeProducer(block=release), FakeProducer()
    try:
        run_pipeline(
            monkeypatch, registry, fake_consumer, [stuck, second], history=history,
            transaction_timeout_ms=1000,
        )  # fmt: skip
    finally:
        release.set()
    assert len(stuck.produced) == 3
    assert second.produced == stuck.produced


@pytest.mark.parametrize("decide_ahead", [True, False])
def test_a_batch_the_broker_did_not_keep_is_read_again_with_its_history_rebuilt(
    monkeypatch: pytest.MonkeyPatch, decide_ahead: bool
) -> None:
    """Seen in the broker-restart test: batch A's commit returned, the broker then lost its
    markers and aborted it; batch B failed after it. The group's offset is A's first: both are
    read again, and A's claims - still in the history - must not be skipped as re-sent."""
    registry = CollectorRegistry()
    records = distinct(6)
    a, b = records[:3], records[3:]
    # Deciding ahead, one more batch is consumed on top of B (and dropped with it).
    script = [a, b, a, a, b] if decide_ahead else [a, b, a, b]
    fake_consumer = FakeConsumer(script, committed_offset=100)
    first, second = FakeProducer(commit_failures=[None, UNKNOWN]), FakeProducer()
    run_pipeline(
        monkeypatch, registry, fake_consumer, [first, second], history=History(400),
        changelog_topic="history", decide_ahead=decide_ahead,
    )  # fmt: skip
    decisions = [t for t in second.produced if t != "history"]
    assert len(decisions) == 6  # A's three decided again, none skipped as re-sent; B's three
    assert (TOPIC, 0, 100) in fake_consumer.seeks


def test_a_replay_rebuilds_its_history_from_the_input_when_the_broker_did_not_keep_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same as above in a replay, whose history has no changelog: it is built again from
    the input up to the group's offsets (where it stood before batch A), so A's claims are
    decided again instead of skipped as re-sent."""
    records = distinct(6)
    a, b = records[:3], records[3:]
    fake_consumer = FakeConsumer([a, b, a, b], committed_offset=100)
    history = History(400)
    history.assign(0)
    rebuilt: list[dict[tuple[str, int], int]] = []

    def rebuild(committed: dict[tuple[str, int], int]) -> None:
        rebuilt.append(committed)
        history.assign(0)  # nothing before offset 100 in this input

    first, second = FakeProducer(commit_failures=[None, UNKNOWN]), FakeProducer()
    run_pipeline(
        monkeypatch, CollectorRegistry(), fake_consumer, [first, second], history=history,
        replay_rebuild=rebuild,
    )  # fmt: skip
    assert rebuilt == [{(TOPIC, 0): 100}]
    assert len(second.produced) == 6  # A's three decided again, none skipped; B's three
    assert (TOPIC, 0, 100) in fake_consumer.seeks


class StuckOnce(FetchStates):
    """Partition 1 found out of `active` for long once, on the loop's second turn."""

    turns = 0

    def restart_due(self) -> list[NotFetching]:
        StuckOnce.turns += 1
        return [NotFetching(1, "stopped", 31.0)] if StuckOnce.turns == 2 else []


def test_a_partition_not_fetched_from_has_its_fetch_restarted_at_the_committed_offsets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """librdkafka can leave an assigned partition `stopped` for good after a broker restart
    (the chaos test): the loop settles the commit in flight, then assigns its partitions again
    from the group's committed offsets, keeping their claim history (no rebalance)."""
    monkeypatch.setattr(consumer.stream.pipeline, "FetchStates", StuckOnce)
    StuckOnce.turns = 0
    registry = CollectorRegistry()
    first, second = distinct(4), distinct(8)[4:]
    resent = [Record(r.value(), 200 + i) for i, r in enumerate(first)]  # the same events again
    events: list[str] = []
    fake_consumer = FakeConsumer([first, second, resent], partitions=2, events=events)
    producer = FakeProducer(calls=events)
    history = History(400)
    caplog.set_level(logging.INFO)
    pipeline = run_pipeline(
        monkeypatch, registry, fake_consumer, producer, history=history, changelog_topic="cl"
    )
    # The first batch's commit (in flight, deciding ahead) finished before the new assignment.
    begins = [i for i, event in enumerate(events) if event == "begin"]
    assert events.index("commit") < events.index("assign") < begins[1]
    assert fake_consumer.assigns == [[(TOPIC, 0, OFFSET_STORED), (TOPIC, 1, OFFSET_STORED)]]
    assert events.count("subscribe") == 1  # no new member, no rebalance
    assert pipeline.processed == 12
    # The first batch's history was kept across the restart: its events re-sent are known.
    assert registry.get_sample_value("infusion_validator_duplicate_events_total") == 4
    assert registry.get_sample_value("infusion_validator_fetch_restarts_total") == 1
    restarts = [r for r in caplog.records if r.getMessage().startswith("restarting the fetch")]
    assert [(r.__dict__["partitions"], r.__dict__["fetch_states"]) for r in restarts] == [
        ([1], ["stopped"])
    ]


def test_a_replay_does_not_restart_the_fetch_of_the_partitions_it_paused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer.stream.pipeline, "FetchStates", StuckOnce)
    StuckOnce.turns = 0
    fake_consumer = FakeConsumer([distinct(4), distinct(8)[4:]])
    run_pipeline(monkeypatch, CollectorRegistry(), fake_consumer, FakeProducer(),
                 replay_rebuild=lambda offsets: None)  # fmt: skip
    assert fake_consumer.assigns == [[(TOPIC, 0, 100)]]  # the replay's own, nothing after
