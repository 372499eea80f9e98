"""Replay on the real broker (SPEC §4 `replay`): bounded ranges, rule-set versions, --diff,
resuming after a kill, the DLQ after a schema fix, and clear errors."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from consumer.cli import main
from consumer.demo.samples import generate_claims
from consumer.engine import Decision, Engine, Reason
from consumer.records.claims import claim_from_json
from consumer.records.schemas import CLAIM, claim_schema, decision_schema, schema_json
from consumer.replay.command import ReplayRequest, run_replay
from consumer.settings import Settings
from consumer.stream.producing import produce_claims
from consumer.stream.service import build_service
from tests.integration.rulesets import MORE_AUTHORIZATION, changed_rule_set
from tests.integration.streaming import GroupWatcher, outcome_of, validate_offline, wait_for

DEADLINE = 60.0


@pytest.fixture
def settings(service_settings: Settings) -> Settings:
    return service_settings


def read_all(bootstrap: str, topics: list[str], *, settle: float = 2.0) -> list[Any]:
    """Every committed record of `topics`, read until nothing new arrives for `settle` s."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    records, quiet_since = [], time.monotonic()
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() - quiet_since < settle and time.monotonic() < deadline:
            batch = [m for m in consumer.consume(500, 0.5) if m.error() is None]
            if batch:
                records += batch
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return records


def decisions_in(bootstrap: str, topics: list[str]) -> list[dict[str, Any]]:
    schema = decision_schema()
    return [
        fastavro.schemaless_reader(io.BytesIO(m.value()), schema, None)  # type: ignore[misc]
        for m in read_all(bootstrap, topics)
    ]


def produce(
    settings: Settings, count: int, seed: int = 11, *, history_events: bool = False
) -> dict[str, dict[str, Any]]:
    """Produce sample claims (without the events only the claim history catches, unless
    `history_events`); returns them by event id."""
    claims = list(generate_claims(count, seed, history_events=history_events))
    produce_claims(settings, claims)
    return {c["event_id"]: c for c in claims}


def test_a_range_replay_decides_exactly_that_range_and_leaves_the_live_group_alone(
    settings: Settings,
) -> None:
    claims = produce(settings, 1500)
    bootstrap, source = settings.kafka.bootstrap_servers, settings.topics.input
    live = Consumer({"bootstrap.servers": bootstrap, "group.id": settings.group_id})
    live_offsets = [TopicPartition(source, p, 123) for p in range(3)]
    live.commit(offsets=live_offsets, asynchronous=False)

    request = ReplayRequest(
        from_offset=100, to_offset=299, output_prefix="rp1.", create_topics=True
    )
    assert run_replay(settings, request) == 0

    replayed = decisions_in(
        bootstrap, ["rp1." + settings.topics.accepted, "rp1." + settings.topics.pended]
    )
    assert len(replayed) == 3 * 200
    assert {(d["source"]["partition"], d["source"]["offset"]) for d in replayed} == {
        (p, o) for p in range(3) for o in range(100, 300)
    }
    engine = Engine.load()
    for decision in replayed:
        expected = engine.decide(claim_from_json(claims[decision["event_id"]]))
        assert decision["decision"] == expected.decision
        assert decision["reasons"] == [reason_dict(r) for r in expected.reasons]
    committed = live.committed([TopicPartition(source, p) for p in range(3)], timeout=10)
    assert [tp.offset for tp in committed] == [123, 123, 123]
    live.close()


def test_a_range_replay_decides_against_the_history_before_the_range_as_the_live_service_did(
    settings: Settings, tmp_path: Path
) -> None:
    """Re-sent events, duplicates, overlapping spans and early initial visits in the range are
    caught against the claims before it (rebuilt from the input), exactly as one live pass
    over the whole topic decides them; a re-sent event gets no second decision."""
    claims = list(generate_claims(3000, 17))
    produce_claims(settings, claims)
    live = validate_offline(claims, tmp_path)
    history_rules = {r[0] for outcome in live.values() for r in outcome[2]}
    assert {"history.duplicate-claim", "history.per-diem-overlap"} <= history_rules

    request = ReplayRequest(
        from_offset=400, to_offset=799, output_prefix="rp3.", create_topics=True
    )
    assert run_replay(settings, request) == 0

    bootstrap = settings.kafka.bootstrap_servers
    first_offset: dict[str, int] = {}  # each event's first record: the one decided
    schema = claim_schema()
    for msg in read_all(bootstrap, [settings.topics.input]):
        claim = fastavro.schemaless_reader(io.BytesIO(msg.value()), schema, None)
        first_offset.setdefault(claim["event_id"], msg.offset())  # type: ignore[call-overload]
    expected = {event for event, offset in first_offset.items() if 400 <= offset <= 799}
    replayed = decisions_in(
        bootstrap, ["rp3." + settings.topics.accepted, "rp3." + settings.topics.pended]
    )
    assert len(replayed) == len(expected)
    assert {d["event_id"] for d in replayed} == expected
    assert len(expected) < 3 * 400, "the range must hold re-sent events"
    for decision in replayed:
        assert outcome_of(decision) == live[decision["event_id"]], decision["event_id"]
    caught = {r["rule_id"] for d in replayed for r in d["reasons"]}
    assert "history.duplicate-claim" in caught


def reason_dict(reason: Reason) -> dict[str, Any]:
    return {
        "rule_id": reason.rule_id,
        "line_number": reason.line_number,
        "carc": reason.carc,
        "rarc": reason.rarc,
        "message": reason.message,
    }


def whole_reasons(decision: Decision) -> list[tuple[Any, ...]]:
    """What --diff compares: every reason's rule, line, CARC and RARC (not its wording)."""
    return sorted(
        (r.rule_id, r.line_number or 0, r.carc or "", r.rarc or "") for r in decision.reasons
    )


@pytest.mark.parametrize(
    ("change", "by_rule"),
    [
        # Newly failing claims, and claims failing on one more line than before.
        (None, {"+auth.missing", "~auth.missing"}),
        # Only the RARC of auth.missing changes: the same claims pend, for other codes.
        (
            (
                'auth.missing: { carc: "197", rarc: M62 }',
                'auth.missing: { carc: "197", rarc: N54 }',
            ),
            {"~auth.missing"},
        ),
    ],
    ids=["one-more-code-needs-authorization", "only-a-rarc-changes"],
)
def test_diff_reports_exactly_the_claims_a_rule_change_changes(
    settings: Settings, tmp_path: Path, change: tuple[str, str] | None, by_rule: set[str]
) -> None:
    claims = produce(settings, 2000, seed=12)
    other = changed_rule_set(tmp_path, change or MORE_AUTHORIZATION)
    base_engine, other_engine = Engine.load(), Engine.load(other)
    expected = set()
    for claim in claims.values():
        a, b = (e.decide(claim_from_json(claim)) for e in (base_engine, other_engine))
        if a.decision != b.decision or whole_reasons(a) != whole_reasons(b):
            expected.add(claim["claim_id"])
    assert expected, "the sample must contain claims the change affects"

    report_path = tmp_path / "diff.json"
    assert run_replay(settings, ReplayRequest(diff=str(other), report=report_path)) == 0
    report = json.loads(report_path.read_text())
    assert report["compared"] == len(claims)
    assert {c["claim_id"] for c in report["changes"]} == expected
    assert set(report["by_rule"]) == by_rule
    # --diff writes nothing to Kafka.
    assert (
        read_all(
            settings.kafka.bootstrap_servers,
            [settings.topics.accepted, settings.topics.pended],
            settle=1.0,
        )
        == []
    )


def test_replay_with_another_rule_set_version_stamps_that_version(
    settings: Settings, tmp_path: Path
) -> None:
    produce(settings, 300, seed=13)
    request = ReplayRequest(
        rule_set=str(changed_rule_set(tmp_path)), output_prefix="rp2.", create_topics=True
    )
    assert run_replay(settings, request) == 0
    decisions = decisions_in(
        settings.kafka.bootstrap_servers,
        ["rp2." + settings.topics.accepted, "rp2." + settings.topics.pended],
    )
    assert len(decisions) == 300
    assert {d["rule_set_version"] for d in decisions} == {"RB.046.A-2026.06.14-r2"}


def test_a_replay_killed_half_way_resumes_without_loss_or_duplicates(
    settings: Settings, unique_group_id: str
) -> None:
    produce(settings, 9000, seed=14)
    bootstrap, topics = settings.kafka.bootstrap_servers, settings.topics
    env = os.environ | {
        "INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "INFUSION_VALIDATOR_TOPICS__INPUT": topics.input,
        "INFUSION_VALIDATOR_TOPICS__ACCEPTED": topics.accepted,
        "INFUSION_VALIDATOR_TOPICS__PENDED": topics.pended,
        "INFUSION_VALIDATOR_TOPICS__DLQ": topics.dlq,
        "INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "100",
    }
    command = [sys.executable, "-m", "consumer", "replay", "--group-id", f"{unique_group_id}-r"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    # Kill it once a good part (but not all) of the range is committed: watched through the
    # replay group's committed offsets, which move with each transaction.
    group = GroupWatcher(bootstrap, f"{unique_group_id}-r", topics.input)
    try:
        wait_for(lambda: group.total_committed() >= 2000, "2,000 replayed", DEADLINE, 0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = group.total_committed()
    finally:
        group.close()
    assert 2000 <= killed_at < 9000, f"kill landed at {killed_at} records committed"

    second = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    err = second.stderr.decode()
    assert second.returncode == 0, err[-2000:]
    # It says what the earlier run did and what it does, and its progress ends at 100 %.
    assert "were replayed by an earlier run; this run replays the other" in err
    assert "100.0% 9,000/9,000" in err
    assert "records decided by this run; " in err
    decisions = decisions_in(bootstrap, [topics.accepted, topics.pended])
    event_ids = [d["event_id"] for d in decisions]
    assert len(event_ids) == 9000
    assert len(set(event_ids)) == 9000


def test_replaying_the_dlq_after_a_schema_fix_routes_what_now_decodes(
    settings: Settings, tmp_path: Path
) -> None:
    # An upstream producer wrote with an older schema (no contract_id): our decoder cannot read
    # it, so the live service dead-letters those records.
    old = json.loads(schema_json(CLAIM))
    old["fields"] = [f for f in old["fields"] if f["name"] != "contract_id"]
    old_path = tmp_path / "ClaimSubmitted-v0.avsc"
    old_path.write_text(json.dumps(old))
    old_schema = fastavro.parse_schema(old)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for claim in generate_claims(40, 15):
        record = claim_from_json(claim)
        del record["contract_id"]
        body = io.BytesIO()
        fastavro.schemaless_writer(body, old_schema, record)
        producer.produce(settings.topics.input, body.getvalue(), claim["member_id"].encode())
    producer.flush()
    live = build_service(
        settings.model_copy(
            update={
                "processing": settings.processing.model_copy(
                    update={"dlq_max_ratio": 1.0, "dlq_window": 10}
                )
            }
        )
    )
    live.pipeline.stop_when = lambda: live.pipeline.processed >= 40
    live.pipeline.run()
    bootstrap = settings.kafka.bootstrap_servers
    assert len(read_all(bootstrap, [settings.topics.dlq])) == 40

    fixed = settings.model_copy(update={"writer_schema": old_path})
    assert run_replay(fixed, ReplayRequest(source=settings.topics.dlq)) == 0
    decisions = decisions_in(bootstrap, [settings.topics.accepted, settings.topics.pended])
    assert len(decisions) == 40
    assert len(read_all(bootstrap, [settings.topics.dlq])) == 40  # nothing re-appended


def test_replay_errors_are_one_clear_line(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    produce(settings, 30, seed=16)
    bootstrap, source = settings.kafka.bootstrap_servers, settings.topics.input
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(source, 0, 5)])
    for future in futures.values():
        future.result(timeout=30)
    monkeypatch.setenv("INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("INFUSION_VALIDATOR_TOPICS__INPUT", source)
    bad_rules = tmp_path / "bad.yaml"
    bad_rules.write_text("policy_id: RB.046.A\nversion: x\n")
    cases = {
        ("--source", "no-such-topic"): "topic no-such-topic does not exist",
        ("--partition", "0", "--from-offset", "2"): "offset 2 is before the log start 5",
        ("--partition", "0", "--from-offset", "99"): "is past the end",
        ("--partition", "0", "--from-time", "2000-01-01T00:00Z"): "is before the log start",
        (
            "--partition",
            "7",
        ): "no partition [7]",
        ("--rule-set", str(bad_rules)): "bad.yaml: ",
    }
    for args, message in cases.items():
        assert main(["replay", *args]) == 2
        err = capsys.readouterr().err
        assert message in err, (args, err)
        assert err.startswith("infusion-validator: error: ")
        assert err.count("\n") == 1, err
