"""Exactly-once under failures (SPEC §5, §10): the validator killed with SIGKILL mid-stream and
restarted, and the broker restarted (gracefully, then with SIGKILL) under a running validator,
still give exactly one decision per input event to a read_committed reader: none lost, none
duplicated.

Across a broker restart the validator usually rides through (aborts, re-reads, goes on). In
some runs librdkafka instead blocks for good inside `send_offsets_to_transaction`, ignoring its
timeout, when the group coordinator goes away during the call (confluentinc/librdkafka#5456
and #5511, open; librdkafka 2.16.0 here). The validator's watchdog then ends the process with
exit code 75 and one line, and - as its orchestrator would - the test starts it again with the
same transactional id. Either way the outcome must be exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from consumer.localkafka import LocalKafka
from consumer.pipeline import STUCK_EXIT_CODE
from consumer.samples import generate_claims
from tests.integration.streaming import (
    GroupWatcher,
    LogEnds,
    Validator,
    assert_exactly_once,
    make_topics,
    produce_claims,
    read_all,
    wait_for,
)

CHAOS_CLAIMS = 24_000
RESTART_CLAIMS = 16_000


def _progress(group: GroupWatcher, at_least: int, validator: Validator, timeout: float) -> int:
    """Wait until the group has committed at least `at_least` input records (the validator
    still running), and return how many."""

    def reached() -> int:
        assert validator.running, f"the validator exited\n{validator.tail()}"
        done = group.total_committed()
        return done if done >= at_least else 0

    return wait_for(
        reached,
        lambda: f"{at_least} committed (have {group.total_committed()})\n{validator.tail()}",
        timeout,
        interval=0.05,
    )


def _kill_inside_a_transaction(validator: Validator, ends: LogEnds) -> None:
    """SIGKILL as soon as an open transaction of the validator has records in the log."""
    wait_for(
        lambda: ends.open_transaction() or not validator.running,
        lambda: f"an open transaction\n{validator.tail()}",
        30,
        interval=0.01,
    )
    validator.kill()


def test_sigkill_three_times_mid_stream_loses_and_duplicates_nothing(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    topics = make_topics(topic_factory, 3)
    claims = list(generate_claims(CHAOS_CLAIMS, seed=202))
    produce_claims(kafka_bootstrap, topics, claims)
    # Much smaller transactions than the default: many of them, so each kill finds one open
    # (at the default size the compiled path decides the last third in a few transactions).
    validator = validators(topics, env={"INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "200"})
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    ends = LogEnds(kafka_bootstrap, topics.outputs)
    killed_at: list[int] = []
    try:
        # Each kill waits for a transaction with records in the log, so it lands mid-batch.
        # 1: mid-stream, a fifth of the way in.
        validator.start()
        killed_at.append(_progress(group, CHAOS_CLAIMS // 5, validator, 120))
        _kill_inside_a_transaction(validator, ends)
        # 2: in the restarted process's second transaction: it has just fenced its
        # predecessor, aborted the open transaction and committed one batch.
        validator.start()
        killed_at.append(_progress(group, killed_at[-1] + 1, validator, 120))
        _kill_inside_a_transaction(validator, ends)
        # 3: late, two thirds of the way in.
        validator.start()
        killed_at.append(_progress(group, 2 * CHAOS_CLAIMS // 3, validator, 120))
        _kill_inside_a_transaction(validator, ends)
        # Then let it finish.
        validator.start()
        group.wait_caught_up(120, lambda: f"\n{validator.tail()}")
        assert validator.running
    finally:
        group.close()
        ends.close()

    decisions = read_all(kafka_bootstrap, topics.decisions)
    assert_exactly_once(decisions, {c["event_id"] for c in claims})
    assert read_all(kafka_bootstrap, [topics.dlq]) == []
    assert killed_at == sorted(killed_at), killed_at
    assert killed_at[-1] < CHAOS_CLAIMS, killed_at
    # The kills hit open transactions: their records are in the log, aborted, and only the
    # isolation level keeps them from downstream.
    everything = read_all(kafka_bootstrap, topics.decisions, isolation="read_uncommitted")
    assert len(everything) > len(decisions), "no kill landed inside a transaction"
    code, _ = validator.terminate()
    assert code == 0, validator.tail()


def _finish_across_watchdog_exits(validator: Validator, group: GroupWatcher, timeout: float) -> int:
    """Wait until the group has committed the whole input. A validator that ended itself
    through its watchdog (exit 75, one line naming the blocked call) is started again, as its
    orchestrator would; any other exit fails. Returns the number of watchdog exits."""
    exits = 0
    deadline = time.monotonic() + timeout
    while not group.caught_up():
        if not validator.running:
            assert validator.proc is not None
            last = validator.output().splitlines()[-1]
            assert validator.proc.returncode == STUCK_EXIT_CODE, validator.tail()
            assert last.startswith("infusion-validator: error: "), last
            assert "still blocked after" in last, last
            exits += 1
            validator.start()
        assert time.monotonic() < deadline, f"input not all committed\n{validator.tail()}"
        time.sleep(0.25)
    return exits


def test_broker_restart_under_a_running_validator_keeps_exactly_once(
    local_kafka: LocalKafka | None,
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    if local_kafka is None:
        pytest.skip("the broker is external (KAFKA_BOOTSTRAP_SERVERS): it cannot be restarted")
    topics = make_topics(topic_factory, 3)
    claims = list(generate_claims(RESTART_CLAIMS, seed=303))
    produce_claims(kafka_bootstrap, topics, claims)
    validator = validators(
        topics,
        env={
            "INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "500",
            # The watchdog acts after 3 transaction timeouts: 15 s rather than 30 s.
            "INFUSION_VALIDATOR_PROCESSING__TRANSACTION_TIMEOUT_MS": "5000",
        },
    )
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    committed_after: list[int] = []
    try:
        validator.start()
        committed_after.append(_progress(group, RESTART_CLAIMS // 5, validator, 120))
        local_kafka.restart()  # controlled shutdown, then a start on the same data and port
        committed_after.append(wait_for(_answer(group), "the broker to answer", 60)[0])
        exits = _finish_across_watchdog_exits(validator, group, 60)
        # Once more with SIGKILL (no controlled shutdown), mid-stream again: more claims.
        more = list(generate_claims(RESTART_CLAIMS, seed=304))
        produce_claims(kafka_bootstrap, topics, more)
        committed_after.append(
            _progress(group, RESTART_CLAIMS + RESTART_CLAIMS // 5, validator, 120)
        )
        local_kafka.restart(hard=True)
        committed_after.append(wait_for(_answer(group), "the broker to answer", 60)[0])
        exits += _finish_across_watchdog_exits(validator, group, 120)
        assert validator.running, validator.tail()
    finally:
        group.close()

    # Work was left after each restart: the validator had to carry on across it.
    assert committed_after[1] < RESTART_CLAIMS, committed_after
    assert committed_after[3] < 2 * RESTART_CLAIMS, committed_after
    assert exits <= 2  # at most one watchdog exit per broker restart
    decisions = read_all(kafka_bootstrap, topics.decisions)
    assert_exactly_once(decisions, {c["event_id"] for c in [*claims, *more]})
    code, _ = validator.terminate()
    assert code == 0, validator.tail()


def _answer(group: GroupWatcher) -> Callable[[], tuple[int] | None]:
    """A wait_for condition: the group's committed total once the broker answers again."""

    def answered() -> tuple[int] | None:
        total = group.total_committed()
        return (total,) if total >= 0 else None

    return answered
