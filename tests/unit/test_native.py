"""The compiled hot path (`consumer._native`) against the Python reference, byte for byte.

For every claim here the native side either hands the record back (None: the Python path
decides it) or writes exactly the value the Python path writes - same decision, reasons,
messages, headers and bytes - given the same `decided_at`. Golden cases and generated
claims must take the fast path; fuzzed claims and corrupted bytes may fall back, never differ.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer import _native
from consumer.claims import claim_from_json
from consumer.decisions import decision_record, source_of
from consumer.decoding import RawClaimDecoder
from consumer.encoding import RawDecisionEncoder, body_writer
from consumer.engine import ACCEPTED, Engine
from consumer.errors import DecodeError
from consumer.fastpath import missing_native_rules, native_config
from consumer.metrics import CLAIM_BUCKETS
from consumer.samples import generate_claims
from consumer.schemas import claim_schema, decision_schema
from tests.claim_examples import claim_record, claim_records

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
TOPIC, PARTITION = "claims.submitted", 2
ACCEPTED_TOPIC, PENDED_TOPIC = "claims.accepted", "claims.pended"


@dataclass
class Message:
    _value: bytes | None
    _offset: int = 41

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return PARTITION

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return b"M000123456"

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_780_000_000_000)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def new_native(engine: Engine, max_lines: int = 50) -> _native.FastPath:
    return _native.FastPath(
        native_config(engine),
        validator_version="test",
        accepted_topic=ACCEPTED_TOPIC,
        pended_topic=PENDED_TOPIC,
        max_value_bytes=1 << 20,
        max_lines=max_lines,
        duration_bounds=list(CLAIM_BUCKETS),
    )


@pytest.fixture(scope="module")
def native(engine: Engine) -> _native.FastPath:
    return new_native(engine)


_write_claim = body_writer(claim_schema())
_encoder = RawDecisionEncoder()
_decoder = RawClaimDecoder()


def avro_body(record: dict[str, Any]) -> bytes:
    out = bytearray()
    _write_claim(record, out)
    return bytes(out)


def python_output(
    engine: Engine, value: bytes, offset: int, decided_at: Any
) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """What the Python path writes for `value` (the reference)."""
    claim, body = _decoder.decode_with_body(value)
    outcome = engine.decide(claim)
    record = decision_record(
        claim, outcome, source=source_of(TOPIC, PARTITION, offset), decided_at=decided_at
    )
    record["validator_version"] = "test"
    topic = ACCEPTED_TOPIC if outcome.decision == ACCEPTED else PENDED_TOPIC
    headers = [
        ("decision", outcome.decision.encode()),
        ("rule_set_version", outcome.rule_set_version.encode()),
        ("source.topic", TOPIC.encode()),
        ("source.partition", str(PARTITION).encode()),
        ("source.offset", str(offset).encode()),
    ]
    return topic, _encoder.encode(record, topic, body), headers


def decided_at_of(value: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(value), decision_schema())["decided_at"]


def check(engine: Engine, native: _native.FastPath, values: list[bytes]) -> int:
    """Assert native == Python for every value the native side takes; return how many fell
    back to the Python path."""
    messages = [Message(v, offset) for offset, v in enumerate(values)]
    fell_back = 0
    for message, result in zip(messages, native.process(messages), strict=True):
        if result is None:
            fell_back += 1
            continue
        topic, value, headers = result
        expected = python_output(engine, message.value() or b"", message.offset(), None)
        assert (topic, headers) == (expected[0], expected[2])
        wanted = python_output(
            engine, message.value() or b"", message.offset(), decided_at_of(value)
        )
        if value != wanted[1]:
            got = fastavro.schemaless_reader(io.BytesIO(value), decision_schema())
            ref = fastavro.schemaless_reader(io.BytesIO(wanted[1]), decision_schema())
            assert got == ref  # shows the differing field
            raise AssertionError("same record, different bytes")
    native.take_tally()
    return fell_back


def test_every_registered_rule_has_a_native_implementation() -> None:
    assert missing_native_rules() == []


def test_golden_cases_take_the_fast_path_and_match_python(
    engine: Engine, native: _native.FastPath
) -> None:
    cases = sorted(GOLDEN.rglob("*.json"))
    values = [avro_body(claim_from_json(json.loads(p.read_text())["claim"])) for p in cases]
    assert len(values) > 150
    assert check(engine, native, values) == 0


def test_generated_claims_take_the_fast_path_and_match_python(
    engine: Engine, native: _native.FastPath
) -> None:
    values = [avro_body(claim_from_json(c)) for c in generate_claims(3000, seed=11)]
    assert check(engine, native, values) == 0


def test_the_tally_counts_what_was_decided(engine: Engine, native: _native.FastPath) -> None:
    native.take_tally()
    claims = [claim_from_json(c) for c in generate_claims(500, seed=5)]
    native.process([Message(avro_body(c)) for c in claims])
    tally = native.take_tally()
    outcomes = [engine.decide(c) for c in claims]
    by_decision: dict[tuple[str, str], int] = {}
    by_rule: dict[str, int] = {}
    for claim, outcome in zip(claims, outcomes, strict=True):
        key = (outcome.decision, claim["line_of_business"])
        by_decision[key] = by_decision.get(key, 0) + 1
        for reason in outcome.reasons:
            if reason["carc"]:
                by_rule[reason["rule_id"]] = by_rule.get(reason["rule_id"], 0) + 1
    assert tally["decisions"] == by_decision
    assert tally["rule_failures"] == by_rule
    assert sum(tally["duration_buckets"]) == 500
    assert len(tally["duration_buckets"]) == len(CLAIM_BUCKETS) + 1
    assert tally["duration_sum"] > 0
    assert native.take_tally()["decisions"] == {}


# Text where Python and Rust could disagree: separators Python strips and Rust does not,
# case mapping beyond ASCII (the long s upper-cases to S, the dotless i to I), quotes.
_odd_text = st.sampled_from(
    [
        "",
        " ",
        "\x1f12\x1c",
        "12",
        " jb ",
        "JB",
        "N4",
        "n4 ",
        "ml",
        "UN",
        "\u017f9500",
        "\u0131",
        "a'b",
    ]
)
_LINE_TEXT = ("procedure_code", "place_of_service", "prior_authorization", "description")
_NDC_TEXT = ("code", "qualifier", "unit")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=claim_records(allow_nan=True, max_lines=5))
def test_any_schema_valid_claim_matches_python_or_falls_back(
    engine: Engine, native: _native.FastPath, record: dict[str, Any]
) -> None:
    check(engine, native, [avro_body(record)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    line_text=st.dictionaries(st.sampled_from(_LINE_TEXT), _odd_text),
    ndc_text=st.dictionaries(st.sampled_from(_NDC_TEXT), _odd_text),
    modifiers=st.lists(_odd_text, max_size=3),
    member=_odd_text,
)
def test_odd_text_in_a_real_claim_matches_python_or_falls_back(
    engine: Engine,
    native: _native.FastPath,
    seed: int,
    line_text: dict[str, str],
    ndc_text: dict[str, str],
    modifiers: list[str],
    member: str,
) -> None:
    record = claim_from_json(next(generate_claims(1, seed=seed)))
    line = record["lines"][0]
    line.update(line_text, modifiers=modifiers)
    line["ndc"] = {"code": "00002143380", "qualifier": "N4", "unit": "ML", "quantity": 1.0}
    line["ndc"].update(ndc_text)
    record["member_id"] = member
    check(engine, native, [avro_body(record)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 6))
def test_corrupted_bytes_never_decide_differently(
    engine: Engine, native: _native.FastPath, seed: int, flips: int
) -> None:
    rng = random.Random(seed)
    value = bytearray(avro_body(claim_from_json(next(generate_claims(1, seed=seed)))))
    for _ in range(flips):
        if not value:
            break
        action = rng.random()
        at = rng.randrange(len(value))
        if action < 0.6:
            value[at] = rng.randrange(256)
        elif action < 0.8:
            del value[at:]
        else:
            value.insert(at, rng.randrange(256))
    result = native.process([Message(bytes(value))])[0]
    try:
        _decoder.decode(bytes(value))
    except DecodeError:
        assert result is None, "the Python path dead-letters this record"
        return
    check(engine, native, [bytes(value)])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("units", float("nan")),
        ("units", float("inf")),
        ("units", 1e16),
        ("units", 1.5e-5),
        ("units", -0.0),
        ("units", 123456789.125),
    ],
)
def test_float_messages_read_like_python(
    engine: Engine, native: _native.FastPath, field: str, value: float
) -> None:
    record = claim_record()
    record["lines"][0][field] = value
    assert check(engine, native, [avro_body(record)]) == 0


def test_records_the_python_path_must_judge_come_back(
    engine: Engine, native: _native.FastPath
) -> None:
    valid = avro_body(claim_record())
    too_many = claim_record(n_lines=3)
    strict = new_native(engine, max_lines=2)
    assert strict.process([Message(avro_body(too_many))]) == [None]
    non_ascii = claim_record()
    non_ascii["lines"][0]["procedure_code"] = "\u017f9500"  # long s: Python upper-cases it to S
    assert native.process(
        [Message(b""), Message(None), Message(valid + b"\x00"), Message(avro_body(non_ascii))]
    ) == [None, None, None, None]
    assert native.process([Message(valid)])[0] is not None


def test_confluent_framing_takes_the_compiled_path_for_our_schema_id(engine: Engine) -> None:
    """Values framed with the id of our schema under `<input>-value` are decided natively and
    framed with the decision schema's id; another id (another writer schema) goes to Python;
    either way the output equals the Python path's."""
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    from consumer.decoding import ConfluentClaimDecoder
    from consumer.dlq import DeadLetterGuard
    from consumer.encoding import ConfluentDecisionEncoder
    from consumer.fastpath import build_fast_path
    from consumer.processing import ClaimProcessor
    from consumer.schemas import CLAIM, schema_json
    from consumer.settings import Settings, TopicSettings

    registry = SchemaRegistryClient.new_client({"url": "mock://native-confluent"})
    settings = Settings(wire_format="confluent")  # type: ignore[call-arg]
    ours = registry.register_schema(
        f"{settings.topics.input}-value", Schema(schema_json(CLAIM), "AVRO")
    )
    other_schema = json.loads(schema_json(CLAIM))
    other_schema["doc"] = "the same record, registered again under another subject with a doc"
    other = registry.register_schema("elsewhere-value", Schema(json.dumps(other_schema), "AVRO"))
    assert ours != other

    def framed(schema_id: int, record: dict[str, Any]) -> bytes:
        return b"\x00" + schema_id.to_bytes(4, "big") + avro_body(record)

    pended = claim_record(place_of_service="11")
    batch = [
        Message(framed(ours, claim_record()), 0),
        Message(framed(ours, pended), 1),
        Message(framed(other, claim_record()), 2),
        Message(b"\x00\x00\x00\x00\x63garbage", 3),
    ]
    outputs = []
    for compiled in (False, True):
        processor = ClaimProcessor(
            engine,
            ConfluentClaimDecoder(registry).decode_with_body,
            ConfluentDecisionEncoder(registry).encode,
            TopicSettings(),
            DeadLetterGuard(max_ratio=0.9, window=10),
            fast=build_fast_path(settings, engine, registry) if compiled else None,
        )
        if compiled:
            assert processor.fast is not None
            taken = [r is not None for r in processor.fast.process(batch)]
            assert taken == [True, True, False, False]
        produced = processor.process_batch(batch)
        rows = []
        for topic, value, headers in produced:
            if topic.endswith("dlq"):
                rows.append((topic, value, [h for h in headers if h[0] != "dlq.failed.at"]))
                continue
            decision = fastavro.schemaless_reader(io.BytesIO(value[5:]), decision_schema())
            decision["decided_at"] = None
            rows.append((topic, value[:5], headers, decision))
        outputs.append(rows)
    assert outputs[0] == outputs[1]
    assert [row[0] for row in outputs[1]] == [
        ACCEPTED_TOPIC,
        PENDED_TOPIC,
        ACCEPTED_TOPIC,
        "claims.dlq",
    ]
