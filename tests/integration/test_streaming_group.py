"""Consumer-group behaviour of the real process (SPEC §5): instances split the partitions and
hand them over on SIGTERM without loss or duplicates; SIGTERM is a clean, quick exit with the
group's offsets exactly at what was decided, so a restart decides nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from consumer.demo.samples import generate_claims
from tests.integration.streaming import (
    GroupWatcher,
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

ASSIGNED = "infusion_validator_assigned_partitions"
CONSUMED = "infusion_validator_records_consumed_total"
LAG = "infusion_validator_consumer_lag_records"
HALF = 10_000


def _processed(validator: Validator) -> int:
    """The record count a cleanly stopped process logged."""
    return int(validator.events("stopped")[-1]["processed"])


def test_two_validators_split_the_partitions_and_one_sigtermed_hands_over_cleanly(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
    tmp_path: Path,
) -> None:
    """b's partitions move to a with their claim history (restored from the changelog): the
    second half's claims of b's members are decided against the first half's, exactly as one
    process deciding the whole stream (offline `validate`) does."""
    topics = make_topics(topic_factory, 4)
    a, b = validators(topics, "a").start(), validators(topics, "b").start()
    both = wait_for(
        lambda: min(n := (a.metric(ASSIGNED), b.metric(ASSIGNED))) > 0 and sum(n) == 4 and n,
        lambda: f"both instances to own input partitions\n{a.tail()}\n{b.tail()}",
        60,
        interval=0.25,
    )
    owned = [set(v.events("partitions assigned")[-1]["partitions"]) for v in (a, b)]
    stream = list(generate_claims(2 * HALF, seed=606))  # the same members in both halves
    first, second = stream[:HALF], stream[HALF:]
    produce_claims(kafka_bootstrap, topics, first)
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        wait_for(lambda: group.total_committed() >= HALF // 5, "a fifth decided", 60, 0.05)
        caught_up_before_sigterm = group.caught_up()
        code, seconds = b.terminate(10)
        wait_for(
            lambda: a.metric(ASSIGNED) == 4,
            lambda: f"a to take all 4 partitions\n{a.tail()}",
            30,
            0.25,
        )
        produce_claims(kafka_bootstrap, topics, second)
        group.wait_caught_up(120, lambda: f"\n{a.tail()}")
        code_a, _ = a.terminate(10)
    finally:
        group.close()

    assert both[0] + both[1] == 4
    assert owned[0].isdisjoint(owned[1])
    assert owned[0] | owned[1] == {0, 1, 2, 3}
    assert not caught_up_before_sigterm, "b was stopped after the work was done, not mid-run"
    assert code == 0, b.tail()
    assert seconds < 10
    assert code_a == 0, a.tail()
    assert _processed(a) > 0
    assert _processed(b) > 0
    assert read_all(kafka_bootstrap, [topics.dlq]) == []
    decisions = read_all(kafka_bootstrap, topics.decisions)
    assert_exactly_once(decisions, {c["event_id"] for c in stream})
    expected = validate_offline(stream, tmp_path)
    wrong = [r.event_id for r in decisions if outcome_of(r.decision) != expected[r.event_id]]
    assert not wrong, f"{len(wrong)} decided otherwise than offline, e.g. {wrong[:3]}"
    assert a.events("history restored"), "a did not restore b's partitions' history"


def test_sigterm_exits_0_at_a_batch_boundary_and_a_restart_decides_nothing_again(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    topics = make_topics(topic_factory, 3)
    claims = list(generate_claims(HALF, seed=707))
    produce_claims(kafka_bootstrap, topics, claims)
    inputs = input_index(kafka_bootstrap, topics)
    validator = validators(topics, env={"INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "500"})
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        # 1. SIGTERM mid-stream: it finishes its batch, commits it and exits 0, quickly.
        validator.start().wait_assigned()
        wait_for(lambda: group.total_committed() >= HALF // 4, "a quarter decided", 60, 0.05)
        mid_code, mid_seconds = validator.terminate(10)
        mid_offsets = group.committed()
        mid_decisions = read_all(kafka_bootstrap, topics.decisions)

        # 2. Restarted, it decides the rest; SIGTERM when idle.
        validator.start()
        group.wait_caught_up(120, lambda: f"\n{validator.tail()}")
        end_code, end_seconds = validator.terminate(10)
        end_offsets, ends = group.committed(), group.ends()
        all_decisions = read_all(kafka_bootstrap, topics.decisions)

        # 3. Restarted again: it resumes at the end, reads nothing and decides nothing.
        validator.start().wait_assigned()
        wait_for(
            lambda: (
                (lags := [v for (n, _), v in validator.metrics().items() if n == LAG])
                and len(lags) == 3
                and not any(lags)
            ),
            lambda: f"the restarted instance to report lag 0 on 3 partitions\n{validator.tail()}",
            30,
            interval=0.5,
        )
        consumed_on_restart = validator.metric(CONSUMED)
        idle_code, _ = validator.terminate(10)
        final_offsets = group.committed()
    finally:
        group.close()

    assert mid_code == 0, validator.tail()
    assert mid_seconds < 10
    assert 0 < sum(mid_offsets.values()) < HALF
    # Committed at the stop = exactly what was decided: the records below the offsets.
    decided_below = {
        event_id for (p, offset), (_key, event_id) in inputs.items() if offset < mid_offsets[p]
    }
    assert_exactly_once(mid_decisions, decided_below)

    assert end_code == 0
    assert end_seconds < 10
    assert end_offsets == ends
    assert sum(ends.values()) == HALF
    assert_exactly_once(all_decisions, {c["event_id"] for c in claims})

    assert idle_code == 0
    assert consumed_on_restart == 0
    assert final_offsets == ends
    assert len(read_all(kafka_bootstrap, topics.decisions)) == len({c["event_id"] for c in claims})
