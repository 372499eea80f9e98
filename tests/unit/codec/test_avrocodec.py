"""The compiled Avro codec against fastavro: same bytes out, same records in."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.codec.avrocodec import compile_decoder, compile_encoder
from consumer.errors import DecodeError
from consumer.records import schemas
from tests.claim_examples import claim_record, claim_records, decision_record, decision_records

CLAIM = schemas.claim_schema()
DECISION = schemas.decision_schema()
DECODE = {id(s): compile_decoder(s) for s in (CLAIM, DECISION)}
ENCODE = {id(s): compile_encoder(s) for s in (CLAIM, DECISION)}


def fastavro_bytes(record: dict[str, Any], schema: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def fastavro_record(body: bytes, schema: dict[str, Any]) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(body), schema)


def ours_bytes(record: dict[str, Any], schema: dict[str, Any]) -> bytes:
    out = bytearray()
    encoder = ENCODE[id(schema)]
    assert encoder is not None
    encoder(record, out)
    return bytes(out)


def ours_record(body: bytes, schema: dict[str, Any]) -> dict[str, Any]:
    decoder = DECODE[id(schema)]
    assert decoder is not None
    record, end = decoder(body, 0)
    assert end == len(body)
    return record


@settings(max_examples=300, deadline=None)
@given(claim_records(allow_nan=False))
def test_claims_encode_and_decode_like_fastavro(record: dict[str, Any]) -> None:
    body = fastavro_bytes(record, CLAIM)
    assert ours_bytes(record, CLAIM) == body
    assert ours_record(body, CLAIM) == fastavro_record(body, CLAIM) == record


@settings(max_examples=150, deadline=None)
@given(decision_records())
def test_decisions_encode_and_decode_like_fastavro(record: dict[str, Any]) -> None:
    body = fastavro_bytes(record, DECISION)
    assert ours_bytes(record, DECISION) == body
    assert ours_record(body, DECISION) == fastavro_record(body, DECISION) == record


@given(st.floats(allow_nan=True))
def test_every_double_round_trips_bit_for_bit(value: float) -> None:
    record = claim_record()
    record["lines"][0]["units"] = value
    got = ours_record(ours_bytes(record, CLAIM), CLAIM)["lines"][0]["units"]
    assert math.copysign(1, got) == math.copysign(1, value)
    assert got == value or (math.isnan(got) and math.isnan(value))


def test_edge_values() -> None:
    record = claim_record() | {
        "submitted_at": datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        "total_charge": Decimal("-999999999.99"),
    }
    record["lines"][0]["service_date_from"] = date(1, 1, 1)
    record["lines"][0]["service_date_to"] = date(9999, 12, 31)
    record["lines"][0]["line_number"] = -(2**31)
    record["lines"][0]["infusions"] = 2**31 - 1
    body = fastavro_bytes(record, CLAIM)
    assert ours_bytes(record, CLAIM) == body
    assert ours_record(body, CLAIM) == record


def test_decision_with_missing_optional_keys_uses_defaults_like_fastavro() -> None:
    record = decision_record()
    del record["source"]
    assert ours_bytes(record, DECISION) == fastavro_bytes(record, DECISION)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"claim_id": None}, AttributeError),
        ({"frequency": "BOGUS"}, KeyError),
        ({"total_charge": Decimal("1.005")}, ValueError),
        ({"total_charge": Decimal("1000000000.00")}, ValueError),
        ({"submitted_at": "2026-07-01"}, AttributeError),
    ],
)
def test_encoder_refuses_records_that_do_not_fit(change: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        ours_bytes(claim_record() | change, CLAIM)


def test_encoder_refuses_ints_beyond_32_bits() -> None:
    record = claim_record()
    record["lines"][0]["line_number"] = 2**31
    with pytest.raises(ValueError, match="32-bit"):
        ours_bytes(record, CLAIM)


def test_decoder_refuses_decimals_beyond_their_precision() -> None:
    # fastavro would round this 12-digit amount to 11 digits; money must not be rounded.
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "M",
            "fields": [
                {
                    "name": "a",
                    "type": {
                        "type": "bytes",
                        "logicalType": "decimal",
                        "precision": 12,
                        "scale": 2,
                    },
                }
            ],
        }
    )
    body = fastavro_bytes({"a": Decimal("1234567890.12")}, schema)
    narrow = fastavro.parse_schema(
        {
            "type": "record",
            "name": "M",
            "fields": [
                {
                    "name": "a",
                    "type": {
                        "type": "bytes",
                        "logicalType": "decimal",
                        "precision": 11,
                        "scale": 2,
                    },
                }
            ],
        }
    )
    decoder = compile_decoder(narrow)
    assert decoder is not None
    with pytest.raises(DecodeError) as caught:
        decoder(body, 0)
    assert caught.value.error_class == "value_out_of_range"


def test_out_of_scope_schemas_fall_back() -> None:
    with_map = fastavro.parse_schema(
        {
            "type": "record",
            "name": "X",
            "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}],
        }
    )
    assert compile_decoder(with_map) is None
    assert compile_encoder(with_map) is None
