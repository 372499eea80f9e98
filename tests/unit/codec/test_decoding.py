"""Kafka value bytes <-> records in both wire formats, and every poison input (SPEC §2.4, §10).

The confluent path runs against confluent-kafka's in-process mock registry
(`SchemaRegistryClient.new_client({"url": "mock://..."})`).
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.codec.decoding import (
    ERROR_CLASSES,
    ConfluentClaimDecoder,
    DecodeLimits,
    RawClaimDecoder,
    make_claim_decoder,
)
from consumer.codec.encoding import claim_body
from consumer.codec.registry import SchemaRegistryUnavailableError, decision_prefix
from consumer.errors import DecodeError, SchemaError
from consumer.records import schemas
from tests.claim_examples import claim_record

CLAIM_TOPIC = "claims.submitted"


def avro_body(record: dict[str, Any], schema: dict[str, Any] | None = None) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema or schemas.claim_schema(), record)
    return out.getvalue()


def framed(schema_id: int, body: bytes) -> bytes:
    return struct.pack(">bI", 0, schema_id) + body


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> SchemaRegistryClient:
    # One mock store per test: the mock keeps its schemas per client instance.
    return SchemaRegistryClient.new_client({"url": f"mock://{request.node.name}"})


@pytest.fixture
def claim_id(registry: SchemaRegistryClient) -> int:
    schema = Schema(schemas.schema_json(schemas.CLAIM), "AVRO")
    return int(registry.register_schema(f"{CLAIM_TOPIC}-value", schema))


def error_class(decode: Callable[[Any], Any], value: Any) -> str:
    with pytest.raises(DecodeError) as caught:
        decode(value)
    assert caught.value.error_class in ERROR_CLASSES
    return caught.value.error_class


# --- round trips ----------------------------------------------------------------------------


def test_raw_round_trip() -> None:
    record = claim_record()
    assert RawClaimDecoder().decode(avro_body(record)) == record
    assert claim_body(record) == avro_body(record)


def test_raw_with_a_configured_writer_schema_file(tmp_path: Any) -> None:
    older = json.loads(schemas.schema_json(schemas.CLAIM))
    older["fields"] = [f for f in older["fields"] if f["name"] != "prior_authorization"]
    path = tmp_path / "claim-v0.avsc"
    path.write_text(json.dumps(older))
    record = claim_record()
    del record["prior_authorization"]
    decoder = make_claim_decoder("raw", writer_schema_path=path)
    body = avro_body(record, fastavro.parse_schema(older))
    assert decoder.decode(body) == record | {"prior_authorization": None}


def test_confluent_round_trip(registry: SchemaRegistryClient, claim_id: int) -> None:
    record = claim_record()
    decoder = make_claim_decoder("confluent", registry=registry)
    assert decoder.decode(framed(claim_id, avro_body(record))) == record

    prefix = decision_prefix(registry, "claims.pended")
    magic, schema_id = struct.unpack(">bI", prefix)
    assert magic == 0
    registered = json.loads(registry.get_schema(schema_id).schema_str)
    assert fastavro.parse_schema(registered)["name"] == schemas.DECISION
    assert registry.get_latest_version("claims.pended-value").schema_id == schema_id


def test_confluent_decoder_fetches_each_schema_id_once(
    registry: SchemaRegistryClient, claim_id: int
) -> None:
    calls: list[int] = []
    real = registry.get_schema

    def counting(schema_id: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(schema_id)
        return real(schema_id, *args, **kwargs)

    registry.get_schema = counting  # type: ignore[method-assign]
    decoder = ConfluentClaimDecoder(registry)
    value = framed(claim_id, avro_body(claim_record()))
    for _ in range(3):
        decoder.decode(value)
    for _ in range(3):
        error_class(decoder.decode, framed(claim_id + 100, b"\x00"))
    assert calls == [claim_id, claim_id + 100]  # unknown ids are remembered too


def test_decision_prefix_without_auto_register(registry: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaError, match=r"under subject claims\.pended-value"):
        decision_prefix(registry, "claims.pended", auto_register=False)
    registry.register_schema(
        "claims.pended-value", Schema(schemas.schema_json(schemas.DECISION), "AVRO")
    )
    assert decision_prefix(registry, "claims.pended", auto_register=False)[0] == 0


def test_confluent_with_an_older_writer_schema(registry: SchemaRegistryClient) -> None:
    older = json.loads(schemas.schema_json(schemas.CLAIM))
    older["fields"] = [f for f in older["fields"] if f["name"] != "contract_id"]
    old_id = int(registry.register_schema("claims.submitted-value", Schema(json.dumps(older))))
    record = claim_record()
    del record["contract_id"]
    value = framed(old_id, avro_body(record, fastavro.parse_schema(older)))
    assert ConfluentClaimDecoder(registry).decode(value) == record | {"contract_id": None}


def test_the_decoder_names_the_schema_ids_whose_writer_schema_is_ours(
    registry: SchemaRegistryClient, claim_id: int
) -> None:
    older = json.loads(schemas.schema_json(schemas.CLAIM))
    older["fields"] = [f for f in older["fields"] if f["name"] != "contract_id"]
    old_id = int(registry.register_schema("claims.submitted-value", Schema(json.dumps(older))))
    record = claim_record()
    decoder = ConfluentClaimDecoder(registry)
    ours: list[int] = []
    decoder.on_our_schema = ours.append
    for _ in range(2):  # each id is fetched, and named, once
        decoder.decode(framed(claim_id, avro_body(record)))
    del record["contract_id"]
    decoder.decode(framed(old_id, avro_body(record, fastavro.parse_schema(older))))
    assert ours == [claim_id]


def test_claim_body_explains_a_record_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="ClaimSubmitted"):
        claim_body(claim_record() | {"total_charge": "125.00"})  # a str, not a Decimal


def test_confluent_needs_a_registry() -> None:
    with pytest.raises(ValueError, match="Schema Registry"):
        make_claim_decoder("confluent")


# --- registry failures are not poison -------------------------------------------------------


class BrokenRegistry:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_schema(self, schema_id: int, *args: Any) -> Any:
        raise self.error

    def register_schema(self, subject: str, schema: Any, *args: Any) -> int:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("connection refused"),
        SchemaRegistryError(500, 50001, "backend store error"),
        SchemaRegistryError(401, 40101, "unauthorized"),
        SchemaRegistryError(404, -1, "HTML 404 from a proxy"),
    ],
)
def test_unreachable_registry_is_retryable_not_a_decode_error(error: Exception) -> None:
    decoder = ConfluentClaimDecoder(BrokenRegistry(error))  # type: ignore[arg-type]
    with pytest.raises(SchemaRegistryUnavailableError) as caught:
        decoder.decode(framed(7, avro_body(claim_record())))
    assert not isinstance(caught.value, DecodeError)
    assert caught.value.retryable
    assert caught.value.error_class == "schema_registry_unavailable"


def test_registry_outage_while_registering_is_retryable() -> None:
    registry = BrokenRegistry(TimeoutError("timed out"))
    with pytest.raises(SchemaRegistryUnavailableError):
        decision_prefix(registry, "claims.accepted")  # type: ignore[arg-type]


def test_registry_refusing_the_schema_is_fatal() -> None:
    registry = BrokenRegistry(SchemaRegistryError(409, 409, "incompatible schema"))
    with pytest.raises(SchemaError, match="refused to register"):
        decision_prefix(registry, "claims.accepted")  # type: ignore[arg-type]


@pytest.mark.parametrize("error_code", [409, 0], ids=["confluent", "apicurio"])
def test_an_incompatible_claim_schema_is_one_line_for_the_producer(error_code: int) -> None:
    """Apicurio's Confluent API answers an incompatible schema with HTTP 409 but error_code 0."""
    from consumer.codec.registry import register_claim_schema

    message = "Incompatible artifact: in-value [AVRO], num of incompatible diffs: {1}"
    refused = SchemaRegistryError(409, error_code, message)
    with pytest.raises(SchemaError) as caught:
        register_claim_schema(BrokenRegistry(refused), "in-value")  # type: ignore[arg-type]
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(
        "Schema Registry refused to register infusion.claims.ClaimSubmitted under subject "
        "in-value: incompatible with the schema already registered there"
    )
    assert text.endswith(f"(HTTP 409: {message})")


def test_a_registry_outage_while_a_producer_registers_is_retryable() -> None:
    from consumer.codec.registry import register_claim_schema

    with pytest.raises(SchemaRegistryUnavailableError):
        register_claim_schema(BrokenRegistry(ConnectionError("refused")), "in-value")  # type: ignore[arg-type]


# --- poison inputs --------------------------------------------------------------------------


@pytest.fixture
def raw() -> Callable[[Any], Any]:
    return RawClaimDecoder().decode


@pytest.fixture
def confluent(registry: SchemaRegistryClient, claim_id: int) -> Callable[[Any], Any]:
    return ConfluentClaimDecoder(registry).decode


def test_empty_value(raw: Callable[[Any], Any], confluent: Callable[[Any], Any]) -> None:
    for decode in (raw, confluent):
        assert error_class(decode, b"") == "empty_value"
        assert error_class(decode, None) == "empty_value"


def test_ten_megabyte_value_is_refused_before_decoding(
    raw: Callable[[Any], Any], confluent: Callable[[Any], Any]
) -> None:
    value = b"\x00" * (10 * 1024 * 1024)
    assert error_class(raw, value) == "oversized"
    assert error_class(confluent, value) == "oversized"
    small = RawClaimDecoder(limits=DecodeLimits(max_value_bytes=100)).decode
    assert error_class(small, avro_body(claim_record())) == "oversized"


def test_random_bytes(raw: Callable[[Any], Any], confluent: Callable[[Any], Any]) -> None:
    value = bytes.fromhex("9f3a7c11e0d2b4")
    assert error_class(raw, value) in {"not_avro", "truncated"}
    assert error_class(confluent, value) == "bad_magic_byte"


def test_wrong_magic_byte(confluent: Callable[[Any], Any], claim_id: int) -> None:
    value = framed(claim_id, avro_body(claim_record()))
    assert error_class(confluent, b"\x01" + value[1:]) == "bad_magic_byte"


def test_unknown_schema_id(confluent: Callable[[Any], Any], claim_id: int) -> None:
    value = framed(claim_id + 41, avro_body(claim_record()))
    assert error_class(confluent, value) == "unknown_schema_id"


def test_non_avro_registered_schema(registry: SchemaRegistryClient) -> None:
    protobuf = Schema('syntax = "proto3"; message Claim { string id = 1; }', "PROTOBUF")
    schema_id = int(registry.register_schema("other-value", protobuf))
    decoder = ConfluentClaimDecoder(registry)
    assert error_class(decoder.decode, framed(schema_id, b"\x02a")) == "unsupported_schema"


def test_writer_schema_of_another_record(registry: SchemaRegistryClient) -> None:
    other = '{"type":"record","name":"Invoice","fields":[{"name":"id","type":"string"}]}'
    schema_id = int(registry.register_schema("invoices-value", Schema(other, "AVRO")))
    decoder = ConfluentClaimDecoder(registry)
    assert error_class(decoder.decode, framed(schema_id, b"\x02a")) == "incompatible_schema"


def test_confluent_header_cut_short(confluent: Callable[[Any], Any]) -> None:
    assert error_class(confluent, b"\x00\x00\x01") == "truncated"


def test_every_truncation_of_a_valid_body(
    raw: Callable[[Any], Any], confluent: Callable[[Any], Any], claim_id: int
) -> None:
    body = avro_body(claim_record())
    for cut in range(1, len(body)):
        assert error_class(raw, body[:cut]) == "truncated", cut
        assert error_class(confluent, framed(claim_id, body[:cut])) == "truncated", cut


def test_trailing_bytes(raw: Callable[[Any], Any]) -> None:
    assert error_class(raw, avro_body(claim_record()) + b"\x00") == "not_avro"


def test_invalid_utf8(raw: Callable[[Any], Any]) -> None:
    record = claim_record(event_id="ABCD")
    body = avro_body(record).replace(b"ABCD", b"AB\xff\xfe", 1)
    assert error_class(raw, body) == "not_avro"


def test_overlong_varint(raw: Callable[[Any], Any]) -> None:
    assert error_class(raw, b"\xff" * 11 + b"\x01") == "not_avro"


def test_bad_union_and_enum_indexes(raw: Callable[[Any], Any]) -> None:
    body = avro_body(claim_record(event_id="e", claim_id="c", frequency="VOID"))
    assert body[4] == 4  # frequency: zigzag(2), after "\x02e\x02c"
    assert error_class(raw, body[:4] + b"\x06" + body[5:]) == "not_avro"  # index 3 of 3
    assert error_class(raw, body[:5] + b"\x04" + body[6:]) == "not_avro"  # union index 2


def test_no_lines(raw: Callable[[Any], Any]) -> None:
    assert error_class(raw, avro_body(claim_record() | {"lines": []})) == "no_lines"


def test_thousand_line_claim(raw: Callable[[Any], Any], confluent: Callable[[Any], Any]) -> None:
    record = claim_record(n_lines=1000)
    assert error_class(raw, avro_body(record)) == "too_many_lines"
    generous = RawClaimDecoder(limits=DecodeLimits(max_lines=1000))
    assert len(generous.decode(avro_body(record))["lines"]) == 1000


def test_dates_beyond_year_9999(raw: Callable[[Any], Any]) -> None:
    schema = json.loads(schemas.schema_json(schemas.CLAIM))
    for line_field in schema["fields"][-1]["type"]["items"]["fields"]:
        if line_field["name"] == "service_date_from":
            line_field["type"] = "int"  # same bytes, lets us write any day number
    record = claim_record(n_lines=1)
    record["lines"][0]["service_date_from"] = 3_000_000  # about year 10183
    body = avro_body(record, fastavro.parse_schema(schema))
    assert error_class(raw, body) == "value_out_of_range"


def test_timestamp_beyond_year_9999(raw: Callable[[Any], Any]) -> None:
    schema = json.loads(schemas.schema_json(schemas.CLAIM))
    submitted = next(f for f in schema["fields"] if f["name"] == "submitted_at")
    submitted["type"] = "long"
    body = avro_body(claim_record() | {"submitted_at": 2**62}, fastavro.parse_schema(schema))
    assert error_class(raw, body) == "value_out_of_range"


def test_schema_valid_oddities_decode(raw: Callable[[Any], Any]) -> None:
    record = claim_record(member_id="")
    record["lines"][0]["units"] = math.nan
    record["lines"][1]["service_date_from"] = record["lines"][1]["service_date_from"].replace(
        year=9999
    )
    decoded = raw(avro_body(record))
    assert math.isnan(decoded["lines"][0]["units"])
    assert decoded["lines"][1]["service_date_from"].year == 9999
    assert decoded["member_id"] == ""


# --- fuzz: nothing but DecodeError escapes --------------------------------------------------

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = avro_body(claim_record())


def only_decode_errors(decode: Callable[[bytes], Any], value: bytes) -> None:
    try:
        decode(value)
    except DecodeError as exc:
        raised = exc.error_class
    else:
        return
    assert raised in ERROR_CLASSES


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_raw_arbitrary_bytes(value: bytes) -> None:
    only_decode_errors(RawClaimDecoder().decode, value)


@FUZZ
@given(st.data())
def test_fuzz_raw_mutated_valid_bodies(data: st.DataObject) -> None:
    body = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    only_decode_errors(RawClaimDecoder().decode, bytes(body))


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_confluent_arbitrary_bytes(value: bytes) -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://fuzz"})
    claim = Schema(schemas.schema_json(schemas.CLAIM), "AVRO")
    schema_id = registry.register_schema("claims.submitted-value", claim)
    decoder = ConfluentClaimDecoder(registry)
    only_decode_errors(decoder.decode, value)
    only_decode_errors(decoder.decode, framed(schema_id, value))
    only_decode_errors(decoder.decode, b"\x00" + value)


def test_fuzz_smoke_with_os_random() -> None:
    decode = RawClaimDecoder().decode
    for _ in range(2000):
        only_decode_errors(decode, os.urandom(64))
