"""The pipeline counts a batch's claims once it is committed, never for an attempt that was
aborted: fake Kafka clients make a commit fail once, the batch is re-read and committed."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from consumer.stream.dlq import DeadLetterGuard, DeadLetterRatioError
from tests.unit.stream.fake_kafka import (
    ABORTABLE,
    TOPIC,
    FakeConsumer,
    FakeProducer,
    Record,
    batch,
    run_pipeline,
)


def decided(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "infusion_validator_decisions"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_a_batch_whose_commit_failed_is_counted_once_after_it_is_read_again(
    monkeypatch: pytest.MonkeyPatch, guarantee: str
) -> None:
    registry = CollectorRegistry()
    records = batch()
    seen_before_consume: list[float] = []
    # Under exactly-once the second batch is consumed while the first commits, on top of it,
    # and dropped; the third is the re-read. At least once re-reads it second.
    reads = 3 if guarantee == "exactly_once" else 2
    fake_consumer = FakeConsumer(
        [records] * reads,
        before_consume=lambda: seen_before_consume.append(decided(registry)),
    )
    fake_producer = FakeProducer()
    if guarantee == "exactly_once":
        fake_producer.commit_failures = [ABORTABLE]
    else:
        fake_consumer.commit_failures = 1

    run_pipeline(monkeypatch, registry, fake_consumer, fake_producer, guarantee)

    assert fake_consumer.seeks == [(TOPIC, 0, 100)]  # the batch was aborted and re-read
    assert seen_before_consume == [0] * reads  # the aborted attempt was never published
    value = registry.get_sample_value
    medicaid = {"line_of_business": "MEDICAID"}
    assert value("infusion_validator_decisions_total", {"decision": "ACCEPTED", **medicaid}) == 2
    assert value("infusion_validator_decisions_total", {"decision": "PENDED", **medicaid}) == 1
    assert value("infusion_validator_rule_failures_total", {"rule_id": "pos.not-home"}) == 5
    assert value("infusion_validator_dlq_records_total", {"error_class": "not_avro"}) == 1
    assert value("infusion_validator_claim_duration_seconds_count") == 3
    # Every record of the committed batch, the dead letter too; its timestamp is months old.
    assert value("infusion_validator_end_to_end_latency_seconds_count") == len(records)
    assert value("infusion_validator_end_to_end_latency_seconds_bucket", {"le": "+Inf"}) == 4
    assert value("infusion_validator_end_to_end_latency_seconds_bucket", {"le": "60.0"}) == 0
    assert value("infusion_validator_transactions_total", {"result": "aborted"}) == 1


def test_a_batch_stopped_by_the_dead_letter_guard_is_not_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CollectorRegistry()
    garbage = [Record(b"garbage", offset) for offset in range(10)]
    guard = DeadLetterGuard(max_ratio=0.5, window=4)
    with pytest.raises(DeadLetterRatioError):
        run_pipeline(monkeypatch, registry, FakeConsumer([garbage]), FakeProducer(), guard=guard)
    dead = registry.get_sample_value(
        "infusion_validator_dlq_records_total", {"error_class": "not_avro"}
    )
    assert dead == 0  # three were dead-lettered before the guard tripped, but none committed


def test_each_committed_transaction_times_its_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """produce, send_offsets and commit are observed once per committed transaction, never for
    an aborted one (its steps did not finish a commit); the loop's own steps once per call:
    every consume(), every batch decided, every wait for a commit, failed or not."""
    registry = CollectorRegistry()
    records = batch()
    fake_producer = FakeProducer(commit_failures=[ABORTABLE, None, None])
    fake_consumer = FakeConsumer([records] * 4)  # the failed one, the one on top, two re-reads
    run_pipeline(monkeypatch, registry, fake_consumer, fake_producer)
    value = registry.get_sample_value
    committed = value("infusion_validator_transactions_total", {"result": "committed"})
    assert committed == 2
    for step in ("produce", "send_offsets", "commit"):
        count = value("infusion_validator_transaction_step_seconds_count", {"step": step})
        assert count == committed, step
        assert value("infusion_validator_transaction_step_seconds_sum", {"step": step}) >= 0
    loop = {
        step: value("infusion_validator_loop_step_seconds_count", {"step": step})
        for step in ("consume", "decide", "commit_wait")
    }
    # A consume() and a decide for each of the four batches; three commits waited for: the
    # failed one's and the two re-reads' (the batch on top of the failure was dropped before
    # its own began).
    assert loop == {"consume": 4, "decide": 4, "commit_wait": 3}
