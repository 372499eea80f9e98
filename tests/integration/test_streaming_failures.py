"""Exactly-once under failures (SPEC §5, §10): the validator killed with SIGKILL mid-stream and
restarted, and the broker restarted (gracefully, then with SIGKILL) under a running validator,
still give exactly one decision per input event to a read_committed reader: none lost, none
duplicated.

Across a broker restart the validator rides through in the same process: it aborts, re-reads
and goes on. When librdkafka blocks for good inside `send_offsets_to_transaction`, ignoring its
timeout because the group coordinator went away during the call (confluentinc/librdkafka#5456
and #5511, open; librdkafka 2.16.0 here), the call is abandoned at its bound, the producer
replaced and the batch's outcome read from the group (consumer.stream.txn,
consumer.stream.recovery).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.demo.samples import generate_claims
from consumer.local.kafka import LocalKafka
from tests.integration.streaming import (
    SLOW_TRANSACTIONS,
    GroupWatcher,
    LogEnds,
    Topics,
    Validator,
    assert_exactly_once,
    input_index,
    make_topics,
    outcome_of,
    produce_claims,
    read_all,
    validate_offline,
    wait_for,
)

CHAOS_CLAIMS = 24_000
# Paced input for the kill test: the validator decides 24,000 claims in a second or two, so
# with the input all there a restarted process could finish before the next kill; paced, it
# is mid-stream, committing small transactions, whenever a kill comes.
CHAOS_RATE = 800
RESTART_CLAIMS = 16_000
RESTART_RATE = 2_000  # claims/s: each set of RESTART_CLAIMS takes 8 s to arrive
# SPEC §10: back to committing within this long of the broker's return, without exiting.
RECOVERY_SECONDS = 30.0


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


def _kill_inside_a_transaction(validator: Validator, ends: LogEnds) -> bool:
    """SIGKILL as soon as an open transaction of the validator has records in the log; True
    when the kill landed inside it. A batch is decided and committed within milliseconds, so
    the transaction seen open may have committed before the signal arrives: the
    killed process's transaction is still open half a second later (until a successor fences
    it or it times out after 10 s) only when the kill landed inside it."""
    wait_for(
        lambda: ends.open_transaction() or not validator.running,
        lambda: f"an open transaction\n{validator.tail()}",
        30,
        interval=0.01,
    )
    validator.kill()
    time.sleep(0.5)
    return ends.open_transaction()


def _kill_mid_transaction_at(
    group: GroupWatcher, at_least: int, validator: Validator, ends: LogEnds, tries: int = 8
) -> int:
    """Start the validator, let it commit `at_least` input records, then kill it inside an
    open transaction (trying again, from where it stopped, when a kill came too late); returns
    how many records were committed before the kill that landed."""
    for _ in range(tries):
        validator.start()
        done = _progress(group, at_least, validator, 120)
        if _kill_inside_a_transaction(validator, ends):
            return done
        at_least = group.total_committed() + 1
    raise AssertionError(f"no kill in {tries} landed inside a transaction\n{validator.tail()}")


def test_sigkill_three_times_mid_stream_loses_and_duplicates_nothing(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
    tmp_path: Path,
) -> None:
    """Re-sent events and the other history events of the sample stream are in flight at each
    kill: the claim history is neither lost nor applied twice, so every decision equals the
    offline `validate` of the same stream."""
    topics = make_topics(topic_factory, 3)
    claims = list(generate_claims(CHAOS_CLAIMS, seed=202))
    feeder = threading.Thread(
        target=produce_claims, args=(kafka_bootstrap, topics, claims, CHAOS_RATE), daemon=True
    )
    feeder.start()
    # Transactions slow enough to be killed inside: batches of up to 200 claims gathered for
    # up to 250 ms, their records written one request at a time (SLOW_TRANSACTIONS).
    validator = validators(
        topics,
        env={
            "INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "200",
            "INFUSION_VALIDATOR_PROCESSING__BATCH_TIMEOUT_MS": "250",
        },
        kafka_properties=SLOW_TRANSACTIONS,
    )
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    ends = LogEnds(kafka_bootstrap, topics.outputs)
    killed_at: list[int] = []
    try:
        # Each kill waits for a transaction with records in the log, so it lands mid-batch.
        # 1: mid-stream, a fifth of the way in.
        killed_at.append(_kill_mid_transaction_at(group, CHAOS_CLAIMS // 5, validator, ends))
        # 2: in the restarted process's second transaction: it has just fenced its
        # predecessor, aborted the open transaction and committed one batch.
        killed_at.append(_kill_mid_transaction_at(group, killed_at[-1] + 1, validator, ends))
        # 3: late, two thirds of the way in.
        killed_at.append(_kill_mid_transaction_at(group, 2 * CHAOS_CLAIMS // 3, validator, ends))
        # Then let it finish.
        validator.start()
        feeder.join(120)
        assert not feeder.is_alive(), "the paced input did not finish"
        group.wait_caught_up(120, lambda: f"\n{validator.tail()}")
        assert validator.running
    finally:
        group.close()
        ends.close()

    decisions = read_all(kafka_bootstrap, topics.decisions)
    assert_exactly_once(decisions, {c["event_id"] for c in claims})
    assert read_all(kafka_bootstrap, [topics.dlq]) == []
    expected = validate_offline(claims, tmp_path)
    wrong = [r.event_id for r in decisions if outcome_of(r.decision) != expected[r.event_id]]
    assert not wrong, f"{len(wrong)} decided otherwise than offline, e.g. {wrong[:3]}"
    assert killed_at == sorted(killed_at), killed_at
    assert killed_at[-1] < CHAOS_CLAIMS, killed_at
    # The kills hit open transactions: their records are in the log, aborted, and only the
    # isolation level keeps them from downstream.
    everything = read_all(kafka_bootstrap, topics.decisions, isolation="read_uncommitted")
    assert len(everything) > len(decisions), "aborted records missing from the log"
    code, _ = validator.terminate()
    assert code == 0, validator.tail()


def _seconds_to_progress(
    group: GroupWatcher, validator: Validator, since: float, timeout: float
) -> float:
    """Seconds from `since` until the group's committed offsets move past where they stand
    now, the validator running all along (no process restart)."""
    before = wait_for(_answer(group), "the broker to answer", 60)[0]

    def moved() -> bool:
        assert validator.running, f"the validator exited\n{validator.tail()}"
        return group.total_committed() > before

    wait_for(moved, lambda: f"a commit after the broker's return\n{validator.tail()}", timeout)
    return time.monotonic() - since


def _topics_on(bootstrap: str) -> Topics:
    """A fresh input/accepted/pended/dlq set on the broker at `bootstrap` (3, 3, 3, 1
    partitions), ready to use."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(f"it-in-{suffix}", f"it-accepted-{suffix}", f"it-pended-{suffix}",
                    f"it-dlq-{suffix}")  # fmt: skip
    wanted = [NewTopic(t, 1 if t == topics.dlq else 3, 1) for t in astuple(topics)]
    for future in admin.create_topics(wanted).values():
        future.result(30)
    return topics


def test_broker_restart_under_a_running_validator_keeps_exactly_once(
    local_kafka: LocalKafka | None, tmp_path: Path
) -> None:
    """SPEC §10: the broker restarted (gracefully, then with SIGKILL) under a running
    validator; it goes on committing within 30 s of the broker's return, in the same process,
    and the outcome is exactly once.

    On a broker of its own: after a restart the session's broker has every earlier test's
    offset commits to load before it can answer for this group (a hard restart also recovers
    every log it wrote), which took over 20 s late in a full run - the broker's load time, not
    the validator's recovery, which is what this test times."""
    if local_kafka is None:
        pytest.fail("the broker is external (KAFKA_BOOTSTRAP_SERVERS): it cannot be restarted")
    with LocalKafka(tmp_path / "broker") as kafka:
        bootstrap = kafka.bootstrap_servers
        topics = _topics_on(bootstrap)
        log_dir = tmp_path / "validator-logs"
        log_dir.mkdir()
        group_id = f"it-restart-{uuid.uuid4().hex[:8]}"
        validator = Validator(
            "validator", bootstrap, topics, group_id, log_dir,
            env={"INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "500"},
        )  # fmt: skip
        try:
            _restart_twice_under(kafka, validator, topics, group_id)
        finally:
            validator.close()


def _paced(
    bootstrap: str, topics: Topics, claims: list[dict[str, Any]], failures: list[str]
) -> threading.Thread:
    """The claims produced in the background at RESTART_RATE: the validator decides 16,000
    claims in well under a second, so with the input all there it could be done before the
    broker goes down, and the restart would find no work to carry across.

    The feeder is a client of the restarted broker too, and may fail across the restart
    (seen under a loaded full run: it stopped at the graceful restart, why is not known, and
    about 9,000 claims never reached the input). Its failure is kept in `failures` and
    the outcome is checked against what reached the input, not against what was generated."""

    def feed() -> None:
        try:
            produce_claims(bootstrap, topics, claims, RESTART_RATE)
        except Exception as exc:  # any failure: kept for the report, see above
            failures.append(repr(exc))

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return feeder


def _restart_twice_under(
    kafka: LocalKafka, validator: Validator, topics: Topics, group_id: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    claims = list(generate_claims(RESTART_CLAIMS, seed=303))
    feeder_failures: list[str] = []
    feeder = _paced(bootstrap, topics, claims, feeder_failures)
    group = GroupWatcher(bootstrap, group_id, topics.input)
    committed_after: list[int] = []
    recovery: list[float] = []
    try:
        validator.start()
        _progress(group, RESTART_CLAIMS // 5, validator, 120)
        kafka.restart()  # controlled shutdown, then a start on the same data and port
        back = time.monotonic()  # restart() returns once the broker answers again
        committed_after.append(wait_for(_answer(group), "the broker to answer", 60)[0])
        recovery.append(_seconds_to_progress(group, validator, back, RECOVERY_SECONDS))
        feeder.join(60)
        group.wait_caught_up(120, lambda: f"\n{validator.tail()}")
        # Once more with SIGKILL (no controlled shutdown), mid-stream again: more claims.
        more = list(generate_claims(RESTART_CLAIMS, seed=304))
        feeder = _paced(bootstrap, topics, more, feeder_failures)
        _progress(group, RESTART_CLAIMS + RESTART_CLAIMS // 5, validator, 120)
        kafka.restart(hard=True)
        back = time.monotonic()
        committed_after.append(wait_for(_answer(group), "the broker to answer", 60)[0])
        recovery.append(_seconds_to_progress(group, validator, back, RECOVERY_SECONDS))
        feeder.join(60)
        group.wait_caught_up(120, lambda: f"\n{validator.tail()}")
        assert validator.running, validator.tail()
    finally:
        group.close()
    print(f"\nrecovery after the broker's return (graceful, hard): {recovery}")
    print(f"feeder failures: {feeder_failures or 'none'}")

    # Exactly once against the input as it stands: every event that reached it, decided once.
    arrived = {event_id for _, event_id in input_index(bootstrap, topics).values()}
    assert arrived <= {c["event_id"] for c in [*claims, *more]}
    # Work was left after each restart: the validator had to carry on across it.
    assert committed_after[0] < min(RESTART_CLAIMS, len(arrived)), committed_after
    assert committed_after[1] < len(arrived), (committed_after, len(arrived))
    assert validator.runs == 1  # one process throughout
    decisions = read_all(bootstrap, topics.decisions)
    assert_exactly_once(decisions, arrived)
    code, _ = validator.terminate()
    assert code == 0, validator.tail()


def _answer(group: GroupWatcher) -> Callable[[], tuple[int] | None]:
    """A wait_for condition: the group's committed total once the broker answers again."""

    def answered() -> tuple[int] | None:
        total = group.total_committed()
        return (total,) if total >= 0 else None

    return answered
