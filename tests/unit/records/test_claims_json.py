"""The JSON form of claims and decisions (SPEC §2.1): both directions and every error path."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import given, settings

from consumer.errors import ClaimFormatError
from consumer.records import schemas
from consumer.records.claims import (
    claim_from_json,
    claim_to_json,
    decision_to_json,
    record_from_json,
    to_json_form,
)
from tests.claim_examples import (
    claim_json,
    claim_record,
    claim_records,
    decision_record,
    decision_records,
    line_json,
)


def decoded_by_fastavro(record: dict[str, Any]) -> dict[str, Any]:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schemas.claim_schema(), record)
    body.seek(0)
    return fastavro.schemaless_reader(body, schemas.claim_schema())  # type: ignore[return-value]


def test_record_form_is_what_fastavro_returns() -> None:
    record = claim_from_json(claim_json())
    assert record == decoded_by_fastavro(record)
    assert list(record) == [f["name"] for f in schemas.claim_schema()["fields"]]
    assert record["submitted_at"] == datetime(2026, 7, 5, 14, 30, tzinfo=UTC)
    assert record["total_charge"] == Decimal("889.30")
    assert str(record["total_charge"]) == "889.30"
    line = record["lines"][1]
    assert line["service_date_from"] == date(2026, 7, 1)
    assert line["units"] == 6.0
    assert type(line["units"]) is float
    assert line["ndc"] == {"code": "60505075100", "qualifier": "N4", "unit": "UN", "quantity": 3.0}


def test_omitted_optionals_and_defaults() -> None:
    claim = claim_json()
    for key in ("frequency", "line_of_business", "payer_claim_number", "diagnosis_codes"):
        del claim[key]
    for line in claim["lines"]:
        for key in ("modifiers", "ndc", "service_date_to", "infusions", "description"):
            line.pop(key)
    record = claim_from_json(claim)
    assert record["frequency"] == "ORIGINAL"
    assert record["line_of_business"] == "UNKNOWN"
    assert record["payer_claim_number"] is None
    assert record["diagnosis_codes"] == []
    assert record["lines"][0]["modifiers"] == []
    assert record["lines"][0]["ndc"] is None
    # Defaults are fresh per record: mutating one claim's list cannot leak into another.
    assert record["lines"][0]["modifiers"] is not record["lines"][1]["modifiers"]


def test_input_lists_are_copied() -> None:
    claim = claim_json()
    record = claim_from_json(claim)
    assert record["diagnosis_codes"] == claim["diagnosis_codes"]
    assert record["diagnosis_codes"] is not claim["diagnosis_codes"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-01T12:00:00Z", datetime(2026, 7, 1, 12, tzinfo=UTC)),
        ("2026-07-01T14:00:00+02:00", datetime(2026, 7, 1, 12, tzinfo=UTC)),
        ("2026-07-01T12:00:00.123987Z", datetime(2026, 7, 1, 12, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc_millis(text: str, expected: datetime) -> None:
    record = claim_from_json(claim_json(submitted_at=text))
    assert record["submitted_at"] == expected
    assert record["submitted_at"].tzinfo is UTC
    assert record == decoded_by_fastavro(record)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("125.00", "125.00"),
        ("125", "125.00"),
        ("125.5", "125.50"),
        ("125.500", "125.50"),
        (125.5, "125.50"),
        (125, "125.00"),
        ("1e3", "1000.00"),
        ("-0.01", "-0.01"),
        ("999999999.99", "999999999.99"),
    ],
)
def test_decimals(value: Any, expected: str) -> None:
    charge = claim_from_json(claim_json(total_charge=value))["total_charge"]
    assert str(charge) == expected


def test_non_finite_doubles_are_strings_both_ways() -> None:
    claim = claim_json()
    claim["lines"][0]["units"] = "NaN"
    claim["lines"][1]["ndc"]["quantity"] = "-Infinity"
    record = claim_from_json(claim)
    assert math.isnan(record["lines"][0]["units"])
    assert record["lines"][1]["ndc"]["quantity"] == -math.inf
    back = claim_to_json(record)
    assert back["lines"][0]["units"] == "NaN"
    assert back["lines"][1]["ndc"]["quantity"] == "-Infinity"
    record["lines"][2]["units"] = math.inf
    assert claim_to_json(record)["lines"][2]["units"] == "Infinity"


def test_json_form_round_trips() -> None:
    claim = claim_json()
    assert claim_to_json(claim_from_json(claim)) == claim
    assert orjson.loads(orjson.dumps(claim_to_json(claim_record()))) == claim


def test_decision_json_form() -> None:
    record = decision_record()
    as_json = decision_to_json(record)
    assert as_json["decided_at"] == "2026-07-05T14:30:00.125Z"
    assert as_json["claim"] == claim_json()
    assert as_json["source"] == {"topic": "claims.submitted", "partition": 3, "offset": 1234567}
    assert record_from_json(orjson.loads(orjson.dumps(as_json)), schemas.DECISION) == record
    no_source = decision_to_json(decision_record(source=None))
    assert no_source["source"] is None


def test_naive_and_offset_datetimes_in_records_are_written_in_utc() -> None:
    record = decision_record(decided_at=datetime(2026, 7, 5, 16, 30, 1))
    assert decision_to_json(record)["decided_at"] == "2026-07-05T16:30:01Z"
    record = decision_record(decided_at=datetime.fromisoformat("2026-07-05T16:30:01+02:00"))
    assert decision_to_json(record)["decided_at"] == "2026-07-05T14:30:01Z"


def with_line(index: int, **changes: Any) -> dict[str, Any]:
    claim = claim_json()
    claim["lines"][index] = line_json(index, **changes)
    return claim


def without(key: str) -> dict[str, Any]:
    claim = claim_json()
    del claim[key]
    return claim


def with_ndc(**changes: Any) -> dict[str, Any]:
    claim = claim_json()
    claim["lines"][1]["ndc"].update(changes)
    return claim


ERRORS = [
    (
        with_line(2, service_date_from="07/01/2026"),
        "lines[2].service_date_from: expected an ISO date like 2026-07-01, got '07/01/2026'",
    ),
    (
        claim_json(frequency="ORIG"),
        "frequency: expected one of ORIGINAL, REPLACEMENT, VOID, got 'ORIG'",
    ),
    (
        claim_json(line_of_business="medicaid"),
        "line_of_business: expected one of MEDICARE_ADVANTAGE, INDIVIDUAL_FAMILY, CHIP, "
        "MEDICAID, UNKNOWN, got 'medicaid'",
    ),
    (claim_json(frequency=["ORIGINAL"]), "frequency: expected one of ORIGINAL"),
    (without("claim_id"), "claim_id: required field is missing"),
    (without("lines"), "lines: required field is missing"),
    (claim_json(lines={"line_number": 1}), "lines: expected a list, got an object"),
    (claim_json(lines="none"), "lines: expected a list, got 'none'"),
    (claim_json(lines=[]), "lines: expected at least one service line, got an empty list"),
    (claim_json(lines=[1]), "lines[0]: expected an object (ServiceLine), got 1"),
    (with_line(0, units="two"), 'lines[0].units: expected a number (or "NaN"'),
    (with_line(0, units=None), "lines[0].units: expected a number"),
    (with_line(0, units=True), "lines[0].units: expected a number"),
    (with_ndc(quantity="3"), "lines[1].ndc.quantity: expected a number"),
    (with_line(1, ndc=[]), "lines[1].ndc: expected an object (Ndc), got a list"),
    (claim_json(diagnosis_codes=["A41.9", 5]), "diagnosis_codes[1]: expected a JSON string, got 5"),
    (with_line(3, diagnosis_pointers=[1, "2"]), "lines[3].diagnosis_pointers[1]: expected an int"),
    (with_line(0, line_number=2**40), "lines[0].line_number: expected an integer (int), got 10995"),
    (with_line(0, line_number=True), "lines[0].line_number: expected an integer (int), got True"),
    (with_line(0, line_number=1.0), "lines[0].line_number: expected an integer (int), got 1.0"),
    (with_line(4, infusions="1"), "lines[4].infusions: expected an integer (int), got '1'"),
    (claim_json(member_id=123), "member_id: expected a JSON string, got 123"),
    (claim_json(member_id=None), "member_id: expected a JSON string, got null"),
    (claim_json(contract_id=7), "contract_id: expected a JSON string, got 7"),
    (claim_json(total_charge="12,50"), 'total_charge: expected a decimal string like "125.00"'),
    (claim_json(total_charge="NaN"), 'total_charge: expected a decimal string like "125.00"'),
    (claim_json(total_charge=True), 'total_charge: expected a decimal string like "125.00"'),
    (claim_json(total_charge="1.005"), "total_charge: expected at most 2 decimal places"),
    (
        claim_json(total_charge="1000000000.00"),
        "total_charge: expected at most 9 digits before the point",
    ),
    (with_line(0, service_date_to=20260701), "lines[0].service_date_to: expected an ISO date"),
    (
        claim_json(submitted_at="2026-07-01T12:00:00"),
        "submitted_at: expected an ISO timestamp with a zone like 2026-07-01T12:00:00Z, "
        "got '2026-07-01T12:00:00'",
    ),
    (claim_json(submitted_at=1782907200000), "submitted_at: expected an ISO timestamp"),
    (claim_json(submitted_at="yesterday"), "submitted_at: expected an ISO timestamp"),
    (with_line(0, unit=3.0), "lines[0]: unknown field 'unit'; did you mean 'units'?"),
    (claim_json(zzz=1), "ClaimSubmitted: unknown field 'zzz'; known fields: event_id, claim_id"),
    (["not", "a", "claim"], "ClaimSubmitted: expected an object (ClaimSubmitted), got a list"),
]


@pytest.mark.parametrize(("claim", "message"), ERRORS, ids=[m[:50] for _, m in ERRORS])
def test_bad_input_names_the_path_and_what_was_expected(claim: Any, message: str) -> None:
    with pytest.raises(ClaimFormatError) as caught:
        claim_from_json(claim)
    assert str(caught.value).startswith(message)


def test_max_lines() -> None:
    claim_from_json(claim_json(n_lines=50), max_lines=50)
    with pytest.raises(ClaimFormatError, match="lines: expected at most 50 service lines, got 51"):
        claim_from_json(claim_json(n_lines=51), max_lines=50)


def test_errors_are_not_chained_to_internal_exceptions() -> None:
    with pytest.raises(ClaimFormatError) as caught:
        claim_from_json(claim_json(frequency="X"))
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@settings(max_examples=150, deadline=None)
@given(claim_records(allow_nan=False))
def test_any_claim_record_round_trips_through_json(record: dict[str, Any]) -> None:
    as_json = orjson.loads(orjson.dumps(claim_to_json(record)))
    assert claim_from_json(as_json) == record


@settings(max_examples=100, deadline=None)
@given(decision_records())
def test_any_decision_record_round_trips_through_json(record: dict[str, Any]) -> None:
    as_json = orjson.loads(orjson.dumps(to_json_form(record, schemas.DECISION)))
    assert record_from_json(as_json, schemas.DECISION) == record
