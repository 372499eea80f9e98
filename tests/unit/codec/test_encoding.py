"""Claims written for producers: the engine's codec writes a plainly written JSON-form claim in
exactly the bytes fastavro writes for the same record, and `Wire.claim_encoder` reads any
other spelling in Python first."""

from __future__ import annotations

import io

import fastavro
import orjson
import pytest

from consumer._native import encode_claim
from consumer.codec.wire import Wire
from consumer.demo.samples import generate_claims
from consumer.paths import REPO
from consumer.records.claims import claim_from_json, record_from_json
from consumer.records.schemas import CLAIM, claim_schema
from consumer.settings import load_settings
from tests.claim_examples import claim_json

GOLDEN = REPO / "tests" / "data" / "golden"


def fastavro_body(claim: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, claim_schema(), claim_from_json(claim))
    return out.getvalue()


def test_the_engine_writes_every_sample_and_golden_claim_as_fastavro_does() -> None:
    golden = [orjson.loads(p.read_bytes())["claim"] for p in sorted(GOLDEN.rglob("*.json"))]
    claims = [*generate_claims(3000, 21), *golden]
    for claim in claims:
        assert encode_claim(orjson.dumps(claim)) == fastavro_body(claim), claim["event_id"]


@pytest.mark.parametrize(
    ("spelling", "in_python"),
    [
        ({"total_charge": 125}, True),  # a number, not the plain "125.00"
        ({"submitted_at": "2026-07-01T12:00:00.123456+02:00"}, False),  # an offset, micros
        ({"claim_id": 'CLM "7"'}, True),  # a JSON escape: not borrowed, so read in Python
    ],
    ids=["charge-as-number", "timestamp-with-offset", "escaped-string"],
)
def test_other_spellings_are_written_as_fastavro_writes_them(
    spelling: dict[str, object], in_python: bool
) -> None:
    claim = claim_json(**spelling)
    assert (encode_claim(orjson.dumps(claim)) is None) == in_python
    encode = Wire.build(load_settings()).claim_encoder()
    assert encode(claim) == fastavro_body(claim)


def test_a_claim_the_validator_would_dead_letter_is_still_written() -> None:
    """No lines: the schema allows it, the validator dead-letters it (`no_lines`)."""
    claim = claim_json(lines=[], total_charge="0.00")
    out = io.BytesIO()
    fastavro.schemaless_writer(out, claim_schema(), record_from_json(claim, CLAIM))
    assert Wire.build(load_settings()).claim_encoder()(claim) == out.getvalue()
