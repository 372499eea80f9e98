"""Contract test of schemas/avro/: file layout, field contract (SPEC §2.1, §2.3), round trips,
evolution, and the loader's errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import load_schema, parse_schema

from consumer.codec.decoding import RawClaimDecoder
from consumer.errors import SchemaError
from consumer.records import schemas
from consumer.records.claims import (
    claim_from_json,
    claim_to_json,
    decision_to_json,
    record_from_json,
)
from tests.claim_examples import claim_json, claim_record, decision_record

FILES = schemas.schema_files()
NAMED = {"record", "enum", "fixed"}
DATE = {"type": "int", "logicalType": "date"}
MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 11, "scale": 2}
NS = "infusion.claims"

# The field contract: name -> Avro type as written in the file (SPEC §2.1 and §2.3).
CONTRACT: dict[str, dict[str, Any]] = {
    "ClaimSubmitted": {
        "event_id": "string",
        "claim_id": "string",
        "frequency": f"{NS}.ClaimFrequency",
        "payer_claim_number": ["null", "string"],
        "submitted_at": MILLIS,
        "line_of_business": f"{NS}.LineOfBusiness",
        "contract_id": ["null", "string"],
        "member_id": "string",
        "billing_npi": "string",
        "rendering_npi": ["null", "string"],
        "place_of_service": ["null", "string"],
        "diagnosis_codes": {"type": "array", "items": "string"},
        "prior_authorization": ["null", "string"],
        "total_charge": MONEY,
        "lines": {"type": "array", "items": f"{NS}.ServiceLine"},
    },
    "ServiceLine": {
        "line_number": "int",
        "procedure_code": "string",
        "modifiers": {"type": "array", "items": "string"},
        "service_date_from": DATE,
        "service_date_to": ["null", DATE],
        "units": "double",
        "infusions": ["null", "int"],
        "place_of_service": ["null", "string"],
        "diagnosis_pointers": {"type": "array", "items": "int"},
        "charge": MONEY,
        "ndc": ["null", f"{NS}.Ndc"],
        "prior_authorization": ["null", "string"],
        "rendering_npi": ["null", "string"],
        "description": ["null", "string"],
    },
    "Ndc": {"code": "string", "qualifier": "string", "unit": "string", "quantity": "double"},
    "Reason": {
        "rule_id": "string",
        "line_number": ["null", "int"],
        "carc": ["null", "string"],
        "rarc": ["null", "string"],
        "message": "string",
    },
    "Source": {"topic": "string", "partition": "int", "offset": "long"},
    "ClaimDecision": {
        "event_id": "string",
        "claim_id": "string",
        "member_id": "string",
        "decision": f"{NS}.Decision",
        "reasons": {"type": "array", "items": f"{NS}.Reason"},
        "policy_id": "string",
        "rule_set_version": "string",
        "decided_at": MILLIS,
        "validator_version": "string",
        "source": ["null", f"{NS}.Source"],
        "claim": f"{NS}.ClaimSubmitted",
    },
}
ENUMS = {
    "ClaimFrequency": (["ORIGINAL", "REPLACEMENT", "VOID"], "ORIGINAL"),
    "LineOfBusiness": (
        ["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN"],
        "UNKNOWN",
    ),
    "Decision": (["ACCEPTED", "PENDED"], "PENDED"),
}


def raw(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def nested_named_types(schema: Any, top: bool = True) -> list[str]:
    """Named types defined (not referenced) below the top level of a schema file."""
    found: list[str] = []
    if isinstance(schema, list):
        for branch in schema:
            found += nested_named_types(branch, top=False)
    elif isinstance(schema, dict):
        if schema.get("type") in NAMED and not top:
            found.append(schema["name"])
        for field in schema.get("fields", []):
            found += nested_named_types(field["type"], top=False)
        for key in ("items", "values"):
            if key in schema:
                found += nested_named_types(schema[key], top=False)
    return found


def test_every_type_of_the_contract_has_its_file() -> None:
    names = {path.stem for path in FILES}
    assert names == {f"{NS}.{name}" for name in [*CONTRACT, *ENUMS]}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_file_is_one_named_type_named_like_the_file(path: Path) -> None:
    schema = raw(path)
    assert schema["namespace"] == NS
    assert f"{schema['namespace']}.{schema['name']}" == path.stem
    assert nested_named_types(schema) == []
    assert schema.get("doc")
    load_schema(str(path))  # fastavro resolves the sibling files by full name


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_record_fields_are_the_contract(name: str) -> None:
    schema = raw(schemas.DEFAULT_SCHEMA_DIR / f"{NS}.{name}.avsc")
    assert {f["name"]: f["type"] for f in schema["fields"]} == CONTRACT[name]
    for field in schema["fields"]:
        assert field.get("doc"), f"{name}.{field['name']} has no doc"
        if isinstance(field["type"], list):
            assert field["type"][0] == "null"
            assert "default" in field
            assert field["default"] is None


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enums_are_the_contract(name: str) -> None:
    schema = raw(schemas.DEFAULT_SCHEMA_DIR / f"{NS}.{name}.avsc")
    assert (schema["symbols"], schema["default"]) == ENUMS[name]


def test_claim_defaults() -> None:
    fields = {
        f["name"]: f
        for f in raw(schemas.DEFAULT_SCHEMA_DIR / f"{NS}.ClaimSubmitted.avsc")["fields"]
    }
    assert fields["frequency"]["default"] == "ORIGINAL"
    assert fields["line_of_business"]["default"] == "UNKNOWN"
    assert fields["diagnosis_codes"]["default"] == []
    assert "default" not in fields["lines"]


def test_schema_json_is_self_contained_and_equivalent() -> None:
    for full_name in (schemas.CLAIM, schemas.DECISION):
        text = schemas.schema_json(full_name)
        assert "__fastavro" not in text
        reparsed = parse_schema(json.loads(text))  # no sibling files needed
        assert schemas.canonical_form(reparsed) == schemas.canonical_form(
            schemas.parsed_schema(full_name)
        )


def test_parsed_schemas_are_cached() -> None:
    assert schemas.claim_schema() is schemas.claim_schema()
    assert schemas.decision_schema() is schemas.parsed_schema(schemas.DECISION)


def fastavro_round_trip(record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    out.seek(0)
    return fastavro.schemaless_reader(out, schema)  # type: ignore[return-value]


def test_example_claim_round_trips_through_avro_and_json() -> None:
    record = claim_record()
    decoded = fastavro_round_trip(record, schemas.claim_schema())
    assert decoded == record
    assert claim_to_json(decoded) == claim_json()
    assert claim_from_json(json.loads(json.dumps(claim_to_json(decoded)))) == record


def test_example_decision_round_trips_through_avro_and_json() -> None:
    record = decision_record()
    decoded = fastavro_round_trip(record, schemas.decision_schema())
    assert decoded == record
    as_json = json.loads(json.dumps(decision_to_json(decoded)))
    assert as_json["decided_at"] == "2026-07-05T14:30:00.125Z"
    assert record_from_json(as_json, schemas.DECISION) == record


def old_claim_schema(drop: str) -> dict[str, Any]:
    """The expanded claim schema as an older producer might have had it: without `drop`."""
    schema = json.loads(schemas.schema_json(schemas.CLAIM))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != drop]
    return schema


def test_old_writer_new_reader() -> None:
    old = parse_schema(old_claim_schema("contract_id"))
    record = claim_record(contract_id="C-1")
    del record["contract_id"]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, old, record)
    decoded = RawClaimDecoder(old).decode(body.getvalue())
    assert decoded["contract_id"] is None
    assert decoded == {**record, "contract_id": None}


def test_unknown_enum_symbol_from_a_newer_writer_reads_as_the_default() -> None:
    newer = json.loads(schemas.schema_json(schemas.CLAIM))
    lob = next(f for f in newer["fields"] if f["name"] == "line_of_business")
    lob["type"]["symbols"].append("EXCHANGE")
    parsed = parse_schema(newer)
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body, parsed, claim_record(line_of_business="MEDICAID") | {"line_of_business": "EXCHANGE"}
    )
    assert RawClaimDecoder(parsed).decode(body.getvalue())["line_of_business"] == "UNKNOWN"


# --- the loader's errors ------------------------------------------------------------------


def copy_schemas(tmp_path: Path) -> Path:
    for path in FILES:
        (tmp_path / path.name).write_text(path.read_text())
    return tmp_path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"infusion\.claims\.Nope\.avsc: schema file not found"):
        schemas.parsed_schema("infusion.claims.Nope", tmp_path)


def test_file_that_is_not_json(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    (directory / f"{NS}.Source.avsc").write_text("{not json")
    with pytest.raises(SchemaError, match=r"Source\.avsc: not a valid Avro schema"):
        schemas.parsed_schema(f"{NS}.Source", directory)


def test_reference_to_a_missing_type(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path)
    (directory / f"{NS}.Ndc.avsc").unlink()
    with pytest.raises(SchemaError, match=r"infusion\.claims\.Ndc"):
        schemas.parsed_schema(f"{NS}.ServiceLine", directory)


def test_file_named_for_another_type(tmp_path: Path) -> None:
    (tmp_path / f"{NS}.Other.avsc").write_text(
        (schemas.DEFAULT_SCHEMA_DIR / f"{NS}.Source.avsc").read_text()
    )
    with pytest.raises(SchemaError, match=r"defines 'infusion\.claims\.Source'"):
        schemas.parsed_schema(f"{NS}.Other", tmp_path)


def test_writer_schema_file_override(tmp_path: Path) -> None:
    path = tmp_path / "writer.avsc"
    path.write_text(json.dumps(old_claim_schema("contract_id")))
    assert schemas.load_schema_file(path)["name"] == schemas.CLAIM
    assert schemas.load_schema_file(path) is schemas.load_schema_file(str(path))
