"""The record processor without a broker: decisions, dead letters, metrics, no exception escapes.

The processor counts into its tally; the metrics see a batch only when the pipeline publishes
it after the commit (`publish` below stands for that)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import fastavro
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.codec.wire import Wire
from consumer.engine import RULE_IDS, Engine
from consumer.records import schemas
from consumer.records.claims import claim_from_json
from consumer.settings import load_settings
from consumer.stream.dlq import DeadLetterGuard, DeadLetterRatioError
from consumer.stream.metrics import Metrics
from consumer.stream.processing import (
    DLQ_ERROR_CLASSES,
    ENGINE_ERROR,
    ClaimProcessor,
    build_processor,
)
from tests.claim_examples import FakeMessage, claim_record, decode_decision


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


class Parts(NamedTuple):
    processor: ClaimProcessor
    registry: CollectorRegistry
    encode: Callable[[dict[str, Any]], bytes]
    publish: Callable[[], None]  # what the pipeline does after a commit


def new_parts(engine: Engine, writer_schema: str | None = None, **processing: Any) -> Parts:
    overrides: dict[str, Any] = {"processing": {"dlq_window": 10, **processing}}
    if writer_schema:
        overrides["writer_schema"] = writer_schema
    settings = load_settings(**overrides)
    registry = CollectorRegistry()
    metrics = Metrics(registry, RULE_IDS, DLQ_ERROR_CLASSES)
    wire = Wire.build(settings)
    processor = build_processor(wire, engine)
    return Parts(processor, registry, claim_body, lambda: processor.tally.publish(metrics))


@pytest.fixture
def parts(engine: Engine) -> Parts:
    return new_parts(engine)


def test_a_clean_claim_goes_to_accepted_keyed_like_the_input(parts: Parts) -> None:
    processor, registry, encode, publish = parts
    out = processor.process(FakeMessage(encode(claim_record())))
    assert (out.topic, out.key, out.decision) == ("claims.accepted", b"M000123456", "ACCEPTED")
    headers = dict(out.headers)
    assert headers["decision"] == b"ACCEPTED"
    assert headers["source.offset"] == b"41"
    decision = decode_decision(out.value)
    assert decision["source"] == {"topic": "claims.submitted", "partition": 2, "offset": 41}
    assert decision["claim"] == claim_record()
    labels = {"decision": "ACCEPTED", "line_of_business": "MEDICAID"}
    assert registry.get_sample_value("infusion_validator_decisions_total", labels) == 0
    publish()
    assert registry.get_sample_value("infusion_validator_decisions_total", labels) == 1
    assert registry.get_sample_value("infusion_validator_claim_duration_seconds_count") == 1


def test_a_bad_claim_goes_to_pended_with_its_reasons_counted(parts: Parts) -> None:
    processor, registry, encode, publish = parts
    claim = claim_record(place_of_service="11")
    for line in claim["lines"]:
        line["place_of_service"] = None
    claim["lines"][0]["units"] = math.nan
    out = processor.process(FakeMessage(encode(claim)))
    assert out.topic == "claims.pended"
    rules = {r["rule_id"] for r in decode_decision(out.value)["reasons"]}
    assert rules == {"pos.not-home", "units.invalid", "units.per-diem"}
    publish()
    value = registry.get_sample_value(
        "infusion_validator_rule_failures_total", {"rule_id": "pos.not-home"}
    )
    assert value == 5


@pytest.mark.parametrize(
    ("value", "error_class"),
    [(b"", "empty_value"), (None, "empty_value"), (b"\xff\xfe garbage", "not_avro")],
)
def test_undecodable_records_become_dead_letters_with_their_bytes(
    parts: Parts, value: bytes | None, error_class: str
) -> None:
    processor, registry, _, publish = parts
    out = processor.process(FakeMessage(value, _key=b"k"))
    publish()
    headers = dict(out.headers)
    assert (out.topic, out.key, out.value, out.decision) == ("claims.dlq", b"k", value or b"", None)
    assert headers["dlq.error.class"] == error_class.encode()
    assert headers["dlq.source.partition"] == b"2"
    assert (
        registry.get_sample_value(
            "infusion_validator_dlq_records_total", {"error_class": error_class}
        )
        == 1
    )
    assert registry.get_sample_value("infusion_validator_claim_duration_seconds_count") == 0


def test_a_claim_the_engine_cannot_take_is_dead_lettered_instead_of_stopping(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor, _, encode, _ = parts

    def broken(claim: dict[str, Any]) -> bytes:
        raise ValueError("record does not fit ClaimSubmitted")

    class ReadsNothingInPlace:  # so the record goes through the decoder and claim_body
        def __init__(self, decider: Any) -> None:
            self.decider = decider

        def process(
            self, records: list[Any], start: int = 0, end: int | None = None
        ) -> tuple[list[Any], int]:
            return [], start

        def __getattr__(self, name: str) -> Any:
            return getattr(self.decider, name)

    monkeypatch.setattr("consumer.stream.processing.claim_body", broken)
    processor.decider = ReadsNothingInPlace(processor.decider)  # type: ignore[assignment]
    out = processor.process(FakeMessage(encode(claim_record())))
    assert out.topic == "claims.dlq"
    assert dict(out.headers)["dlq.error.class"] == ENGINE_ERROR.encode()


def a_batch(encode: Callable[[dict[str, Any]], bytes]) -> list[FakeMessage]:
    """Two accepted claims, one pended (not at home, on every line) and one dead letter."""
    pended = claim_record(place_of_service="11")
    for line in pended["lines"]:
        line["place_of_service"] = None
    values = [encode(claim_record()), encode(pended), b"garbage", encode(claim_record())]
    return [FakeMessage(v, _offset=i) for i, v in enumerate(values)]


CLAIM_SERIES = (
    "infusion_validator_decisions_total",
    "infusion_validator_rule_failures_total",
    "infusion_validator_dlq_records_total",
    "infusion_validator_claim_duration_seconds_count",
)


def claim_samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.name, repr(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name in CLAIM_SERIES
    }


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_a_batch_decided_in_chunks_is_the_batch_decided_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    whole, chunked = new_parts(engine), new_parts(engine)
    expected = whole.processor.process_batch(a_batch(whole.encode))
    monkeypatch.setattr("consumer.stream.processing.DECIDE_CHUNK", chunk)
    got = chunked.processor.process_batch(a_batch(chunked.encode))

    def stable(produced: list[Any]) -> list[Any]:  # the wall clock left out
        return [(t, [h for h in headers if h[0] != "dlq.failed.at"]) for t, _, headers in produced]

    assert stable(got) == stable(expected)
    assert [topic for topic, _, _ in got] == [
        "claims.accepted",
        "claims.pended",
        "claims.dlq",
        "claims.accepted",
    ]
    whole.publish()
    chunked.publish()
    assert claim_samples(chunked.registry) == claim_samples(whole.registry)


def test_an_aborted_batch_is_counted_once_when_it_is_decided_again(engine: Engine) -> None:
    once, twice = new_parts(engine), new_parts(engine)
    for msg in a_batch(once.encode):
        once.processor.process(msg)
    once.publish()

    for msg in a_batch(twice.encode):
        twice.processor.process(msg)
    twice.processor.tally.clear()  # the transaction was aborted; the batch is read again
    for msg in a_batch(twice.encode):
        twice.processor.process(msg)
    twice.publish()

    counted = claim_samples(twice.registry)
    assert counted == claim_samples(once.registry)
    count = twice.registry.get_sample_value
    assert count("infusion_validator_claim_duration_seconds_count") == 3
    assert count("infusion_validator_dlq_records_total", {"error_class": "not_avro"}) == 1
    assert count("infusion_validator_rule_failures_total", {"rule_id": "pos.not-home"}) == 5
    medicaid = {"line_of_business": "MEDICAID"}
    assert count("infusion_validator_decisions_total", {"decision": "ACCEPTED", **medicaid}) == 2
    assert count("infusion_validator_decisions_total", {"decision": "PENDED", **medicaid}) == 1


def test_the_guard_stops_when_most_recent_records_are_dead_letters() -> None:
    guard = DeadLetterGuard(max_ratio=0.5, window=10)
    for i in range(20):  # alternating good and bad: exactly 50 %, never over
        guard.record(dead=i % 2 == 0)
    assert guard.ratio == 0.5
    guard.record(dead=True)  # pushes out a dead one: still 5 of 10
    with pytest.raises(DeadLetterRatioError, match="6 of the last 10 records"):
        guard.record(dead=True)


def test_the_guard_needs_a_full_window_before_judging() -> None:
    guard = DeadLetterGuard(max_ratio=0.5, window=10)
    for _ in range(9):
        guard.record(dead=True)  # 9 of 9, but the window is not full yet
    with pytest.raises(DeadLetterRatioError):
        guard.record(dead=True)


@pytest.fixture(scope="module")
def fuzz_processor(engine: Engine) -> ClaimProcessor:
    # The guard never trips: fuzz input is mostly garbage.
    return new_parts(engine, dlq_max_ratio=1.0).processor


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=400))
def test_no_exception_escapes_the_processor_for_any_bytes(
    fuzz_processor: ClaimProcessor, value: bytes
) -> None:
    out = fuzz_processor.process(FakeMessage(value))
    assert out.topic in ("claims.accepted", "claims.pended", "claims.dlq")


def test_records_in_another_writer_schema_are_decided_by_the_same_engine(
    engine: Engine, tmp_path: Path
) -> None:
    """A configured writer schema (an older ClaimSubmitted): every value is decoded in Python,
    re-encoded in ours and decided by the engine, with the same decision as our encoding."""
    older = json.loads(schemas.schema_json(schemas.CLAIM))
    older["fields"] = [f for f in older["fields"] if f["name"] != "contract_id"]
    path = tmp_path / "claim-v0.avsc"
    path.write_text(json.dumps(older))
    ours, theirs = new_parts(engine), new_parts(engine, writer_schema=str(path))
    pended = claim_record(place_of_service="11")
    for claim in (claim_record(), pended):
        mine = ours.processor.process(FakeMessage(ours.encode(claim)))
        old = {k: v for k, v in claim.items() if k != "contract_id"}
        body = io.BytesIO()
        fastavro.schemaless_writer(body, fastavro.parse_schema(older), old)
        other = theirs.processor.process(FakeMessage(body.getvalue()))
        want, got = decode_decision(mine.value), decode_decision(other.value)
        assert got["decision"] == want["decision"]
        assert got["reasons"] == want["reasons"]
        assert got["claim"] == claim


def test_with_a_history_a_resent_event_writes_nothing_and_an_abort_forgets_the_batch(
    engine: Engine,
) -> None:
    history = History(400)
    history.assign(2)  # FakeMessage's partition
    settings = load_settings()
    wire = Wire.build(settings)
    processor = build_processor(wire, engine, history=history)
    encode = claim_body
    first = claim_record()
    again = claim_record(event_id="evt-again")  # the same claim id, another event
    batch = [FakeMessage(encode(first)), FakeMessage(encode(first)), FakeMessage(encode(again))]

    def decide() -> list[tuple[str, list[str]]]:
        out = processor.process_batch(batch)
        return [
            (t, [r["rule_id"] for r in decode_decision(v)["reasons"]] if t else [])
            for t, v, _ in out
        ]

    want = [
        ("claims.accepted", []),
        ("", []),  # re-sent: the first decision stands
        ("claims.pended", ["history.duplicate-claim"]),
    ]
    assert decide() == want
    assert processor.tally.resent == 1
    changelog = history.changelog().records()
    assert {(p, k) for p, k, _ in changelog} == {(2, b""), (2, first["member_id"].encode())}
    history.abort()  # the transaction failed: the batch is read and decided again, alike
    processor.tally.clear()
    assert decide() == want
    history.commit()
    assert history.changelog().records() == []
    assert history.members(2) == 1
    # After the commit the same events are re-sent ones.
    assert [t for t, _, _ in processor.process_batch(batch)] == ["", "", ""]


def test_a_shadow_rule_set_disagrees_exactly_where_compare_says_and_writes_nothing_live(
    engine: Engine, tmp_path: Path
) -> None:
    """The shadow decides each claim beside the live rule set: its disagreements are the ones
    `Engine.compare` (replay --diff) finds, and the live outputs are those without it."""
    import shutil

    from consumer.demo.samples import generate_claims
    from consumer.engine.engine import DEFAULT_RULES_PATH

    shutil.copy(DEFAULT_RULES_PATH / "catalogue.yaml", tmp_path)
    text = (DEFAULT_RULES_PATH / "RB.046.A.yaml").read_text()
    text = text.replace(
        "extra_prior_authorization: {}", "extra_prior_authorization: { ALL: [J1170] }"
    )
    (tmp_path / "RB.046.A.yaml").write_text(text.replace('-r1"', '-shadow"'))
    candidate = Engine.load(tmp_path)

    wire = Wire.build(load_settings())
    plain, shadowed = build_processor(wire, engine), build_processor(wire, engine, shadow=candidate)
    encode = claim_body
    claims = [claim_from_json(c) for c in generate_claims(400, 5, history_events=False)]
    batch = [FakeMessage(encode(c), _offset=i) for i, c in enumerate(claims)]
    live = [(t, decode_decision(v)["reasons"]) for t, v, _ in plain.process_batch(batch)]
    with_shadow = shadowed.process_batch(batch)
    assert [(t, decode_decision(v)["reasons"]) for t, v, _ in with_shadow] == live

    differences, _, _ = engine.compare(candidate, [claim_body(c) for c in claims])
    changed = {d.event_id: d for d in differences if d is not None}
    assert changed, "the sample must contain claims the change affects"
    records = {
        orjson.loads(value)["event_id"]: orjson.loads(value) for _, value in shadowed.shadow_records
    }
    assert records.keys() == changed.keys()
    for event_id, record in records.items():
        assert record["rules"] == [f"{sign}{rule}" for rule, sign in changed[event_id].rules]
        assert record["shadow"]["rule_set_version"].endswith("-shadow")
    kinds = shadowed.tally.shadow["disagreements"]
    assert sum(kinds.values()) == len(changed)
    assert sum(shadowed.tally.shadow["decisions"].values()) == len(claims)


def test_kept_decisions_are_the_decisions_handed_out(engine: Engine) -> None:
    """`keep_decisions` (docs/decisions/0006): the engine keeps the decisions, in input order,
    and Python writes only the dead letters; what it keeps is what it would hand out."""
    handed, kept = new_parts(engine), new_parts(engine)
    wire = Wire.build(load_settings(processing={"dlq_window": 10}))
    kept = kept._replace(processor=build_processor(wire, engine, keep_decisions=True))
    batch = a_batch(handed.encode)
    expected = handed.processor.process_batch(batch)
    got = kept.processor.process_batch(batch)
    assert [t for t, _, _ in got] == ["", "", "claims.dlq", ""]  # only the dead letter
    decisions = kept.processor.take_decisions()
    assert len(decisions) == 3
    assert len(kept.processor.take_decisions()) == 0  # taken

    def stable(topic: str, value: bytes, headers: Any) -> tuple[Any, ...]:
        decision = decode_decision(value)
        decision.pop("decided_at")  # the wall clock
        return topic, decision, [(name, bytes(v)) for name, v in headers]

    want = [stable(t, v, h) for t, v, h in expected if t != "claims.dlq"]
    records = decisions.records()
    assert [stable(t, v, h) for t, _, v, h in records] == want
    assert [k for _, k, _, _ in records] == [m.key() for m in batch if m.value() != b"garbage"]
    # An abandoned batch leaves nothing behind for the next one.
    kept.processor.process_batch(batch)
    kept.processor.abandoned()
    assert len(kept.processor.take_decisions()) == 0


def test_a_claim_decoded_in_python_is_kept_in_its_place(engine: Engine, tmp_path: Path) -> None:
    """With a configured writer schema every value goes through Python's decoder and
    `decide_body`: with `keep_decisions` its decision is kept too, in input order."""
    older = json.loads(schemas.schema_json(schemas.CLAIM))
    older["fields"] = [f for f in older["fields"] if f["name"] != "contract_id"]
    path = tmp_path / "claim-v0.avsc"
    path.write_text(json.dumps(older))
    wire = Wire.build(load_settings(writer_schema=str(path)))
    processor = build_processor(wire, engine, keep_decisions=True)
    claims = [claim_record(claim_id=f"C-{i}", event_id=f"E-{i}") for i in range(3)]
    batch = []
    for i, claim in enumerate(claims):
        body = io.BytesIO()
        old = {k: v for k, v in claim.items() if k != "contract_id"}
        fastavro.schemaless_writer(body, fastavro.parse_schema(older), old)
        batch.append(FakeMessage(body.getvalue(), _offset=i))
    assert [t for t, _, _ in processor.process_batch(batch)] == ["", "", ""]
    kept = processor.take_decisions().records()
    assert [decode_decision(v)["claim"]["claim_id"] for _, _, v, _ in kept] == ["C-0", "C-1", "C-2"]
    assert [dict(h)["source.offset"] for _, _, _, h in kept] == [b"0", b"1", b"2"]
