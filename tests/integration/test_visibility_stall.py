"""SPEC §10: after a crash that nobody replaces, read_committed readers of the outputs are held
back only until the dead instance's open transaction times out.

The validator is killed with SIGKILL while its transaction has records in the log and is not
restarted; the test measures how long the last stable offset (what read_committed readers can
read up to) stays behind the log end it had at the kill. The broker aborts a timed-out
transaction on its next scan (`transaction.abort.timed.out.transaction.cleanup.interval.ms`,
10 s by default), so the stall is the transaction timeout plus up to that interval.

`IT_STALL_TRANSACTION_TIMEOUT_MS` sets the validator's timeout for a comparison (the old
default was 30000); the assertion follows it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from consumer.demo.samples import generate_claims
from consumer.settings import ProcessingSettings
from tests.integration.streaming import (
    SLOW_TRANSACTIONS,
    LogEnds,
    Validator,
    make_topics,
    produce_claims,
    wait_for,
)

# The broker's default scan interval for timed-out transactions.
BROKER_ABORT_SCAN_SECONDS = 10.0


def _ends(bootstrap: str, partitions: list[TopicPartition], isolation: str) -> list[int]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "it-stall", "isolation.level": isolation}
    )
    try:
        return [consumer.get_watermark_offsets(tp, 10, cached=False)[1] for tp in partitions]
    finally:
        consumer.close()


def _stays_open(ends: LogEnds, seconds: float) -> bool:
    """Whether a transaction stays open in the log for `seconds` (checked all along)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not ends.open_transaction():
            return False
    return True


def _freeze_inside_a_transaction(validator: Validator, ends: LogEnds) -> None:
    """SIGSTOP the validator while its transaction is open and not being committed: frozen, it
    cannot commit, so the transaction stays open for as long as the log says it is (a stop that
    lands during a commit already sent is undone with SIGCONT and tried again)."""
    assert validator.proc is not None
    for _ in range(20):
        wait_for(
            lambda: ends.open_transaction() or not validator.running,
            lambda: f"an open transaction\n{validator.tail()}",
            60,
            interval=0.002,
        )
        validator.proc.send_signal(signal.SIGSTOP)
        if _stays_open(ends, 1.0):
            return
        validator.proc.send_signal(signal.SIGCONT)
    raise AssertionError("no transaction stayed open under SIGSTOP in 20 tries")


def test_an_unreplaced_crash_holds_read_committed_readers_back_for_the_timeout_only(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
) -> None:
    timeout_ms = int(
        os.environ.get(
            "IT_STALL_TRANSACTION_TIMEOUT_MS",
            ProcessingSettings.model_fields["transaction_timeout_ms"].default,
        )
    )
    topics = make_topics(topic_factory, 2, output_partitions=1)
    validator = validators(
        topics,
        env={
            "INFUSION_VALIDATOR_PROCESSING__TRANSACTION_TIMEOUT_MS": str(timeout_ms),
            "INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "100",
        },
        kafka_properties=SLOW_TRANSACTIONS,
    )
    produce_claims(kafka_bootstrap, topics, generate_claims(20_000, seed=91))
    ends = LogEnds(kafka_bootstrap, topics.outputs)
    try:
        validator.start().wait_assigned()
        _freeze_inside_a_transaction(validator, ends)
        validator.kill()  # frozen with its transaction open: SIGKILL leaves it open
        killed = time.monotonic()
        partitions = ends.partitions
    finally:
        ends.close()
    high = _ends(kafka_bootstrap, partitions, "read_uncommitted")

    def released() -> bool:
        stable = _ends(kafka_bootstrap, partitions, "read_committed")
        return all(s >= h for s, h in zip(stable, high, strict=True))

    bound = timeout_ms / 1000 + BROKER_ABORT_SCAN_SECONDS + 5
    wait_for(released, "the last stable offsets to pass the log end at the kill", bound + 30, 0.1)
    stall = time.monotonic() - killed
    print(f"\nread_committed readers held back {stall:.1f} s (transaction timeout {timeout_ms} ms)")
    assert stall >= timeout_ms / 1000 - 1, "the kill did not leave a transaction open"
    assert stall <= bound, stall
