"""The claim history on the real broker (SPEC §3.1): the golden sequences decided by the service
exactly as their files (and `validate`) say; the history restored from its changelog by a new
process, so the second half of every sequence is decided as if nothing had stopped; and a
changelog topic that does not fit stops start-up with one line; at-least-once mode killed
mid-stream keeps the history as exactly-once does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.demo.samples import generate_claims
from tests.integration.streaming import (
    REPO,
    GroupWatcher,
    Topics,
    Validator,
    make_topics,
    outcome_of,
    produce_claims,
    read_all,
    validate_offline,
    wait_for,
)

SEQUENCES = sorted((REPO / "tests" / "data" / "sequences").glob("*.json"))


def steps() -> list[list[dict[str, Any]]]:
    return [orjson.loads(path.read_bytes())["steps"] for path in SEQUENCES]


def outcome(step: dict[str, Any]) -> tuple[str, list[tuple[str, str | None, str | None]]]:
    expected = step["expected"]
    reasons = sorted((r["rule_id"], r["carc"], r["rarc"]) for r in expected.get("reasons", []))
    return expected["decision"], reasons


def decided(decision: dict[str, Any]) -> tuple[str, list[tuple[str, str | None, str | None]]]:
    reasons = sorted((r["rule_id"], r["carc"], r["rarc"]) for r in decision["reasons"])
    return decision["decision"], reasons


def run_until_caught_up(validator: Validator, bootstrap: str, group: str, topics: Topics) -> None:
    watcher = GroupWatcher(bootstrap, group, topics.input)
    try:
        validator.start()
        watcher.wait_caught_up(120, validator.tail)
        code, _ = validator.terminate(timeout=30)
        assert code == 0, validator.tail()
    finally:
        watcher.close()


def check(decisions: list[Any], wanted: list[dict[str, Any]]) -> None:
    """One decision per event, each as its step expects; re-sent events none of their own."""
    by_event: dict[str, list[Any]] = {}
    for record in decisions:
        by_event.setdefault(record.event_id, []).append(record.decision)
    first = {}
    for step in wanted:
        event = step["claim"]["event_id"]
        if step["expected"]["decision"] != "RESENT":
            first.setdefault(event, step)
    assert set(by_event) == set(first), "an event without, or an unexpected, decision"
    wrong = []
    for event, got in by_event.items():
        assert len(got) == 1, f"event {event} decided {len(got)} times"
        if decided(got[0]) != outcome(first[event]):
            wrong.append((event, decided(got[0]), outcome(first[event])))
    assert not wrong, f"{len(wrong)} decided otherwise than their sequence says: {wrong[:3]}"


def test_the_golden_sequences_are_decided_by_the_service_as_their_files_say(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    topics = make_topics(topic_factory, 3)
    wanted = [step for sequence in steps() for step in sequence]
    produce_claims(kafka_bootstrap, topics, [step["claim"] for step in wanted])
    run_until_caught_up(validators(topics), kafka_bootstrap, unique_group_id, topics)
    check(read_all(kafka_bootstrap, topics.decisions), wanted)
    # The changelog holds every member's history, one partition per input partition.
    changelog = read_all(kafka_bootstrap, [f"{unique_group_id}-history"])
    members = {step["claim"]["member_id"].encode() for step in wanted}
    assert {r.key for r in changelog} - {b""} == members


def test_a_new_process_restores_the_history_and_decides_the_rest_as_one_stream(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    """Every sequence's first step by a first process, the rest by a second one: duplicates,
    overlaps, early visits and re-sent events across the restart are caught all the same."""
    topics = make_topics(topic_factory, 3)
    sequences = steps()
    first, rest = [s[0] for s in sequences], [step for s in sequences for step in s[1:]]
    validator = validators(topics)
    produce_claims(kafka_bootstrap, topics, [step["claim"] for step in first])
    run_until_caught_up(validator, kafka_bootstrap, unique_group_id, topics)
    produce_claims(kafka_bootstrap, topics, [step["claim"] for step in rest])
    run_until_caught_up(validator, kafka_bootstrap, unique_group_id, topics)
    check(read_all(kafka_bootstrap, topics.decisions), first + rest)
    restored = validator.events("history restored")
    assert restored, "the second process did not restore any history"
    assert sum(event["records"] for event in restored) >= len(first)


def test_at_least_once_keeps_the_history_across_kills(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
    tmp_path: Path,
) -> None:
    """`at_least_once` delivers a batch's decisions, then its history changes, then commits
    its offsets: killed anywhere, no event goes without a decision, and every decision (a
    batch decided again included) is the one offline `validate` of the stream makes."""
    topics = make_topics(topic_factory, 3)
    claims = list(generate_claims(9000, seed=203))
    produce_claims(kafka_bootstrap, topics, claims)
    validator = validators(
        topics,
        env={
            "INFUSION_VALIDATOR_PROCESSING__GUARANTEE": "at_least_once",
            "INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "200",
        },
    )
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        for share in (0.25, 0.6):
            validator.start()
            wait_for(
                lambda share=share: group.total_committed() >= share * len(claims),
                lambda: f"progress\n{validator.tail()}",
                120,
                interval=0.02,
            )
            validator.kill()
        validator.start()
        group.wait_caught_up(120, validator.tail)
    finally:
        group.close()
    decisions = read_all(kafka_bootstrap, topics.decisions)
    expected = validate_offline(claims, tmp_path)
    assert {r.event_id for r in decisions} == set(expected), "an event without a decision"
    wrong = [r.event_id for r in decisions if outcome_of(r.decision) != expected[r.event_id]]
    assert not wrong, f"{len(wrong)} decided otherwise than offline, e.g. {wrong[:3]}"
    code, _ = validator.terminate(timeout=30)
    assert code == 0, validator.tail()


def test_a_changelog_that_does_not_fit_the_input_stops_start_up_with_one_line(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    unique_group_id: str,
    tmp_path: Path,
) -> None:
    topics = make_topics(topic_factory, 3)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    cases = {
        # (partitions, cleanup policy) of a pre-existing changelog -> the line start-up prints
        (2, "compact"): "has 2 partitions, the input",
        (3, "delete"): "has cleanup.policy=delete, not compact",
    }
    for (partitions, policy), message in cases.items():
        name = f"{unique_group_id}-{partitions}-{policy}"
        topic = NewTopic(name, partitions, 1, config={"cleanup.policy": policy})
        for future in admin.create_topics([topic]).values():
            future.result(30)
        validator = Validator(
            "changelog",
            kafka_bootstrap,
            topics,
            unique_group_id,
            tmp_path,
            env={"INFUSION_VALIDATOR_HISTORY__CHANGELOG_TOPIC": name},
        ).start()
        code = validator.wait_exit(60)
        lines = [line for line in validator.output().splitlines() if "error:" in line]
        assert code == 2, validator.tail()
        assert len(lines) == 1, validator.output()
        assert message in lines[0]
        assert name in lines[0]


def test_validate_decides_the_sequences_as_the_service_does(tmp_path: Path) -> None:
    wanted = [step for sequence in steps() for step in sequence]
    claims = tmp_path / "claims.jsonl"
    claims.write_bytes(b"".join(orjson.dumps(step["claim"]) + b"\n" for step in wanted))
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "validate", str(claims)],
        capture_output=True,
        check=True,
        cwd=REPO,
    )

    class Decided:
        def __init__(self, decision: dict[str, Any]) -> None:
            self.decision, self.event_id = decision, decision["event_id"]

    check([Decided(orjson.loads(line)) for line in done.stdout.splitlines()], wanted)
