"""The validator as a real process on the real broker decides every claim exactly once, on the
right topic, exactly as the offline engine does, with the record contract of SPEC §2.3."""

from __future__ import annotations

import copy
import random
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consumer.codec.decoding import ERROR_CLASSES as DECODE_ERROR_CLASSES
from consumer.demo.samples import generate_claims
from consumer.engine import Engine
from tests.integration.streaming import (
    GroupWatcher,
    TopicReader,
    Validator,
    assert_exactly_once,
    claim_encoder,
    decide_offline,
    input_index,
    make_topics,
    outcome_of,
    produce_claims,
    produce_values,
    read_all,
    validate_offline,
)

CLAIMS = 10_000


def test_every_claim_is_decided_once_on_its_topic_exactly_as_offline(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
    tmp_path: Path,
) -> None:
    topics = make_topics(topic_factory, 3)
    claims = list(generate_claims(CLAIMS, seed=101))
    assert produce_claims(kafka_bootstrap, topics, claims) == CLAIMS
    expected = validate_offline(claims, tmp_path)
    validator = validators(topics).start()
    reader = TopicReader(kafka_bootstrap, topics.outputs)
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        reader.wait_for_count(len(expected), timeout=120, topics=topics.decisions)
        group.wait_caught_up(30, lambda: validator.tail())
        reader.drain()
        consumed = validator.metric("infusion_validator_records_consumed_total")
        code, _seconds = validator.terminate()
    finally:
        reader.close()
        group.close()

    decisions = reader.of(topics.decisions)
    assert_exactly_once(decisions, expected)
    assert reader.of([topics.dlq]) == []
    assert consumed == CLAIMS
    assert code == 0, validator.tail()

    # Same decision, rule-set version and reasons as the offline path, on the matching topic.
    wrong_outcome = [
        (r.event_id, outcome_of(r.decision), expected[r.event_id])
        for r in decisions
        if outcome_of(r.decision) != expected[r.event_id]
    ]
    assert not wrong_outcome, f"{len(wrong_outcome)} differ from offline, e.g. {wrong_outcome[0]}"
    by_topic = Counter((r.topic, r.decision["decision"]) for r in decisions)
    assert set(by_topic) == {(topics.accepted, "ACCEPTED"), (topics.pended, "PENDED")}, by_topic
    assert by_topic[(topics.pended, "PENDED")] == sum(
        1 for decision, _v, _r in expected.values() if decision == "PENDED"
    )

    # Key, headers and source: each decision points at the input record it decided.
    inputs = input_index(kafka_bootstrap, topics)
    assert len(inputs) == CLAIMS
    for r in decisions:
        d = r.decision
        source = (int(r.header("source.partition")), int(r.header("source.offset")))
        assert r.header("source.topic") == topics.input
        assert d["source"] == {"topic": topics.input, "partition": source[0], "offset": source[1]}
        assert inputs[source] == (r.key, d["event_id"]), (source, r.key, d["event_id"])
        assert r.key == d["member_id"].encode()
        assert r.header("decision") == d["decision"]
        assert r.header("rule_set_version") == d["rule_set_version"]
        assert d["claim"]["event_id"] == d["event_id"]
        assert d["policy_id"] == "RB.046.A"


# --- poison -------------------------------------------------------------------------------

GOOD_BETWEEN = 8  # good claims before each special record
# A small window makes the guard live during the test: it would trip after 11 dead letters
# among 20 records, and the poison below is at most one record in nine.
GUARD = {
    "INFUSION_VALIDATOR_PROCESSING__DLQ_WINDOW": "20",
    "INFUSION_VALIDATOR_PROCESSING__DLQ_MAX_RATIO": "0.5",
}
TEN_MB = 10 * 1024 * 1024
# Under the validator's max_value_bytes (1 MiB) and the broker's default max.message.bytes,
# over librdkafka's default producer message.max.bytes (1,000,000).
NEAR_LIMIT = 1_040_000
# The input topic takes the 2 MB record (an upstream allowed to write big records); the DLQ
# keeps the broker's default limit.
BIG_INPUT = {"max.message.bytes": str(12 * 1024 * 1024)}
BIG_PRODUCER = {"message.max.bytes": 16 * 1024 * 1024}


def _special_records(
    encode: Callable[[dict[str, Any]], bytes], seed: int
) -> tuple[list[tuple[str, bytes | None, str | None]], list[dict[str, Any]]]:
    """([(name, value, expected DLQ error class or None for "any decode class")], claims
    that decode but must be PENDED)."""
    rnd = random.Random(seed)
    base = list(generate_claims(3, seed))
    body = encode(base[0])
    thousand_lines = copy.deepcopy(base[1])
    line = thousand_lines["lines"][0]
    thousand_lines["lines"] = [dict(line, line_number=n) for n in range(1, 1001)]
    no_lines = dict(copy.deepcopy(base[2]), lines=[])
    poison: list[tuple[str, bytes | None, str | None]] = [
        ("random bytes", rnd.randbytes(200), None),
        ("more random bytes", rnd.randbytes(3000), None),
        ("truncated avro", body[: len(body) // 2], "truncated"),
        ("avro cut by one byte", body[:-1], "truncated"),
        ("unknown confluent schema id", b"\x00" + struct.pack(">I", 99_999) + body, "not_avro"),
        ("garbage prefix", b"\xff\xfe\xfd\xfc\xfb" + body, "not_avro"),
        ("empty value", b"", "empty_value"),
        ("tombstone", None, "empty_value"),
        ("value near the 1 MiB limit", rnd.randbytes(NEAR_LIMIT), None),
        ("10 MB value", rnd.randbytes(TEN_MB), "oversized"),
        ("1000 lines", encode(thousand_lines), "too_many_lines"),
        ("no lines", encode(no_lines), "no_lines"),
    ]
    odd = list(generate_claims(3, seed * 10))
    nan_units = copy.deepcopy(odd[0])
    nan_units["lines"][0]["units"] = float("nan")
    year_9999 = copy.deepcopy(odd[1])
    for ln in year_9999["lines"]:
        ln["service_date_from"], ln["service_date_to"] = "9999-12-30", "9999-12-31"
    all_9999 = copy.deepcopy(odd[2])
    all_9999["submitted_at"] = "9999-12-31T23:59:59.999Z"
    for ln in all_9999["lines"]:
        ln["service_date_from"], ln["service_date_to"] = "9999-12-31", None
    return poison, [nan_units, year_9999, all_9999]


def test_poison_records_are_dead_lettered_and_odd_claims_pended_while_the_stream_goes_on(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    # The DLQ takes what the input takes, so an oversized record goes there whole.
    topics = make_topics(
        topic_factory, 1, output_partitions=1, input_config=BIG_INPUT, dlq_config=BIG_INPUT
    )
    encode = claim_encoder(kafka_bootstrap, topics)
    poison, odd_claims = _special_records(encode, seed=404)
    specials: list[tuple[str, bytes | None, str | None, dict[str, Any] | None]] = [
        *((name, value, cls, None) for name, value, cls in poison),
        *((f"odd claim {c['event_id']}", encode(c), None, c) for c in odd_claims),
    ]
    good = list(generate_claims(GOOD_BETWEEN * (len(specials) + 1), seed=405))
    items: list[tuple[bytes | None, bytes | None]] = []
    special_at: dict[int, int] = {}  # index in `items` -> index in `specials`
    for i, (_name, value, _cls, _claim) in enumerate(specials):
        chunk = good[i * GOOD_BETWEEN : (i + 1) * GOOD_BETWEEN]
        items += [(c["member_id"].encode(), encode(c)) for c in chunk]
        special_at[len(items)] = i
        items.append((f"special-{i}".encode(), value))
    items += [(c["member_id"].encode(), encode(c)) for c in good[len(specials) * GOOD_BETWEEN :]]
    coordinates = produce_values(kafka_bootstrap, topics.input, items, config=BIG_PRODUCER)

    validator = validators(topics, env=GUARD).start()
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        group.wait_caught_up(90, lambda: f"\n{validator.tail()}")
        outputs = read_all(kafka_bootstrap, topics.outputs)
        assert validator.running, validator.tail()
        metrics = validator.metrics()
        code, _ = validator.terminate()
    finally:
        group.close()
    assert code == 0, validator.tail()

    # Every good claim and every odd claim decided exactly once; odd claims PENDED, as offline.
    decisions = [r for r in outputs if r.topic in topics.decisions]
    assert_exactly_once(decisions, {c["event_id"] for c in [*good, *odd_claims]})
    engine = Engine.load()
    by_event = {r.event_id: r for r in decisions}
    for claim in odd_claims:
        r = by_event[claim["event_id"]]
        assert r.topic == topics.pended
        assert r.decision["decision"] == "PENDED"
        assert outcome_of(r.decision) == decide_offline(claim, engine)
        assert r.decision["reasons"], claim["event_id"]

    # Every poison record in the DLQ once, original key and value, headers saying why/where.
    dead = sorted((r for r in outputs if r.topic == topics.dlq), key=lambda r: r.offset)
    expected_dead = [(i, s) for i, s in special_at.items() if specials[s][3] is None]
    assert len(dead) == len(expected_dead), [r.headers for r in dead]
    for r, (index, s) in zip(dead, expected_dead, strict=True):
        name, value, error_class, _ = specials[s]
        partition, offset = coordinates[index]
        assert r.key == items[index][0], name
        assert (r.value or b"") == (value or b""), name  # oversized too: the DLQ holds it
        assert "dlq.value.omitted.bytes" not in r.headers, name
        assert r.header("dlq.source.topic") == topics.input, name
        assert (int(r.header("dlq.source.partition")), int(r.header("dlq.source.offset"))) == (
            partition,
            offset,
        ), name
        assert r.header("dlq.error.message"), name
        assert r.header("dlq.failed.at"), name
        if error_class is None:
            assert r.header("dlq.error.class") in DECODE_ERROR_CLASSES, (name, r.headers)
        else:
            assert r.header("dlq.error.class") == error_class, (name, r.headers)
    dead_by_class = Counter(r.header("dlq.error.class") for r in dead)
    for error_class, count in dead_by_class.items():
        sample = ("infusion_validator_dlq_records_total", frozenset({("error_class", error_class)}))
        assert metrics[sample] == count, error_class


def test_a_dlq_smaller_than_the_input_is_a_start_up_warning_and_keeps_the_size_only(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    topics = make_topics(topic_factory, 1, output_partitions=1, input_config=BIG_INPUT)
    claims = list(generate_claims(20, seed=606))
    big = random.Random(607).randbytes(3 * 1024 * 1024)
    produce_values(kafka_bootstrap, topics.input, [(b"big", big)], config=BIG_PRODUCER)
    produce_claims(kafka_bootstrap, topics, claims)
    validator = validators(topics).start()
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        group.wait_caught_up(60, lambda: f"\n{validator.tail()}")
        code, _ = validator.terminate()
    finally:
        group.close()
    assert code == 0, validator.tail()
    warning = validator.events(
        "the DLQ topic cannot hold every record the input topic accepts: an oversized record "
        "larger than the DLQ's limit goes there without its value"
    )
    assert len(warning) == 1, validator.tail()
    assert warning[0]["input_topic"] == topics.input
    assert warning[0]["dlq_topic"] == topics.dlq
    assert warning[0]["input_max_message_bytes"] == 12 * 1024 * 1024
    assert warning[0]["dlq_max_message_bytes"] < warning[0]["input_max_message_bytes"]
    (dead,) = read_all(kafka_bootstrap, [topics.dlq])
    assert not dead.value
    assert dead.header("dlq.value.omitted.bytes") == str(len(big))
    assert dead.header("dlq.error.class") == "oversized"
    assert_exactly_once(
        read_all(kafka_bootstrap, topics.decisions), {c["event_id"] for c in claims}
    )


def test_a_stream_of_mostly_garbage_stops_the_service_loudly_and_commits_none_of_it(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    topics = make_topics(topic_factory, 1, output_partitions=1)
    good = list(generate_claims(40, seed=505))
    produce_claims(kafka_bootstrap, topics, good)
    validator = validators(topics, env=GUARD).start()
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        group.wait_caught_up(60, lambda: f"\n{validator.tail()}")
        decided = group.committed()
        # A bad deploy upstream: 30 records, one in five a claim, the rest not Avro. In one
        # transaction, so the validator reads them as one batch.
        encode = claim_encoder(kafka_bootstrap, topics)
        rnd = random.Random(506)
        more = list(generate_claims(6, seed=507))
        garbage = [
            (b"k", encode(more.pop())) if i % 5 == 0 else (b"k", b"\x02garbage" + rnd.randbytes(40))
            for i in range(30)
        ]
        produce_values(kafka_bootstrap, topics.input, garbage, transactional=True)

        code = validator.wait_exit(60)
        after_stop = group.committed()
        # Restarted, it re-reads the same records and stops again: nothing was skipped.
        validator.start()
        code_again = validator.wait_exit(60)
        after_restart = group.committed()
    finally:
        group.close()

    assert decided == {0: len(good)}
    assert code != 0
    assert code_again != 0
    assert after_stop == after_restart == decided  # nothing of the failing batch committed
    lines = validator.output().splitlines()
    assert lines[-1].startswith("infusion-validator: error: "), validator.tail()
    assert "records could not be decoded" in lines[-1]
    assert "stopping without committing them" in lines[-1]
    assert "Traceback" not in validator.output()
    assert read_all(kafka_bootstrap, [topics.dlq]) == []  # the aborted dead letters
    assert_exactly_once(read_all(kafka_bootstrap, topics.decisions), {c["event_id"] for c in good})
