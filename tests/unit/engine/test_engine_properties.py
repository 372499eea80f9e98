"""What must always hold of the engine (hypothesis): any claim the schema allows gets a
decision and never an exception; PENDED exactly when a reason is not informational; reasons
in a deterministic order; and the same claim gets the same decision whether it arrives as
JSON, as a raw Avro value or Confluent-framed.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.codec.encoding import claim_body
from consumer.engine import RULE_IDS, Engine
from consumer.offline.validate import decider
from consumer.records import schemas
from consumer.records.claims import claim_to_json
from consumer.settings import TopicSettings
from consumer.stream.processing import stream_decider
from tests.claim_examples import FakeMessage, decode_decision

LOBS = ["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN"]
CODES = ["S9500", "J1569", "G0068", "G0088", "99602", "E0781", "S9810", "J3490", "B4189", "ZZ"]
text = st.text(max_size=12)
optional_text = st.none() | text
money = st.decimals(
    min_value=Decimal("-999999999.99"),
    max_value=Decimal("999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)

ndc = st.none() | st.fixed_dictionaries(
    {"code": text, "qualifier": text, "unit": text, "quantity": st.floats()}
)
line = st.fixed_dictionaries(
    {
        "line_number": st.integers(-5, 60),
        "procedure_code": st.sampled_from(CODES) | text,
        "modifiers": st.lists(st.sampled_from(["JB", "RR", " jb "]) | text, max_size=4),
        "service_date_from": st.dates(),
        "service_date_to": st.none() | st.dates(),
        "units": st.floats(),  # NaN, infinities and fractions included
        "infusions": st.none() | st.integers(-(2**31), 2**31 - 1),
        "place_of_service": optional_text,
        "diagnosis_pointers": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4),
        "charge": money,
        "ndc": ndc,
        "prior_authorization": optional_text,
        "rendering_npi": optional_text,
        "description": optional_text,
    }
)
claim = st.fixed_dictionaries(
    {
        "event_id": text,
        "claim_id": text,
        "frequency": st.sampled_from(["ORIGINAL", "REPLACEMENT", "VOID"]),
        "payer_claim_number": optional_text,
        "submitted_at": st.datetimes(timezones=st.just(UTC)),
        "line_of_business": st.sampled_from(LOBS),
        "contract_id": st.none() | st.just("IFP-HOME-INFUSION-SCODES") | text,
        "member_id": text,
        "billing_npi": text,
        "rendering_npi": optional_text,
        "place_of_service": optional_text,
        "diagnosis_codes": st.lists(st.sampled_from(["E11.9", "E11", "Z45.2"]) | text, max_size=4),
        "prior_authorization": optional_text,
        "total_charge": money,
        "lines": st.lists(line, min_size=1, max_size=6),
    }
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def key(decision: Any) -> tuple[str, list[tuple[Any, ...]]]:
    """What must agree between two decisions of the same claim: all of it but the clock."""
    reasons = [(r.rule_id, r.line_number, r.carc, r.rarc, r.message) for r in decision.reasons]
    return decision.decision, reasons


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=claim)
def test_every_schema_valid_claim_gets_a_decision(engine: Engine, record: dict[str, Any]) -> None:
    decision = engine.decide(record)
    assert decision.decision in ("ACCEPTED", "PENDED")
    # PENDED exactly when some reason is not informational (has a CARC).
    assert (decision.decision == "PENDED") == any(r.carc for r in decision.reasons)
    # Deterministic: the same claim, the same reasons in the same order (rule registry order).
    assert key(engine.decide(record)) == key(decision)
    order = [RULE_IDS.index(r.rule_id) for r in decision.reasons if r.rule_id in RULE_IDS]
    assert order == sorted(order)


@pytest.fixture(scope="module")
def wire_forms(engine: Engine) -> Any:
    """Deciders for the same claim as JSON Lines, a raw value and a Confluent-framed value."""
    registry = SchemaRegistryClient.new_client({"url": "mock://properties"})
    schema = Schema(schemas.schema_json(schemas.CLAIM), "AVRO")
    claim_id = int(registry.register_schema("claims.submitted-value", schema))
    limits = {"max_value_bytes": 1 << 20, "max_lines": 50}
    raw = stream_decider(engine, TopicSettings(), **limits)
    framed = stream_decider(engine, TopicSettings(), header_len=5, **limits)
    framed.allow_schema_id(claim_id)
    json_lines = decider(engine)  # no history: each claim on its own, as Engine.decide
    return raw, framed, claim_id, json_lines


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=claim)
def test_the_same_claim_gets_the_same_decision_whatever_its_wire_form(
    engine: Engine, wire_forms: Any, record: dict[str, Any]
) -> None:
    raw, framed, claim_id, json_lines = wire_forms
    want = key(engine.decide(record))
    body = claim_body(record)
    for stream, value in ((raw, body), (framed, struct.pack(">bI", 0, claim_id) + body)):
        topic, out, _ = stream.process([FakeMessage(value)])[0][0]
        decision = decode_decision(out)  # no decision prefix configured here
        reasons = [tuple(r.values()) for r in decision["reasons"]]
        assert (decision["decision"], reasons) == want
        assert topic == f"claims.{decision['decision'].lower()}"
    line = orjson.dumps(claim_to_json(record))
    decided, _, stopped = json_lines.decide_text(line + b"\n", 0)
    if stopped == 0:  # a spelling only Python's reader takes: it decides the re-encoded claim
        decided = json_lines.decide_body(body, line)
    decision = orjson.loads(decided)
    reasons = [tuple(r.values()) for r in decision["reasons"]]
    assert (decision["decision"], reasons) == want


def test_year_9999_and_year_1_dates_are_pended_not_crashed(engine: Engine) -> None:
    from tests.claim_examples import claim_record

    record = claim_record()
    record["lines"][0]["service_date_to"] = datetime(9999, 12, 31).date()
    record["lines"][1]["service_date_from"] = datetime(1, 1, 1).date()
    decision = engine.decide(record)
    assert decision.decision == "PENDED"
    assert {"dates.future", "dates.calendar-year"} <= {r.rule_id for r in decision.reasons}
