"""Example claims and decisions for tests, so no test carries a big literal dict.

`claim_json()` is a realistic 5-line MEDICAID home infusion claim in JSON form (SPEC §2.1)
that passes every default rule: an antibiotic per diem with its drug, a nursing visit with
its add-on hour and a per-hour nursing line. Override any claim field with keyword
arguments and any line field with `line_json(i, ...)`. The `*_record` helpers return the
record form (what fastavro decodes).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import fastavro
from hypothesis import strategies as st

from consumer.records.claims import claim_from_json
from consumer.records.schemas import decision_schema


@dataclass
class FakeMessage:
    """Stands in for confluent_kafka.Message (the processor's KafkaRecord protocol)."""

    _value: bytes | None
    _key: bytes | None = b"M000123456"
    _offset: int = 41

    def topic(self) -> str:
        return "claims.submitted"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_780_000_000_000)


def decode_decision(value: bytes) -> dict[str, Any]:
    """A raw ClaimDecision value, read with our schema."""
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value), decision_schema(), None)  # type: ignore[assignment]
    return record


VALID_NPI = "1234567893"  # the CMS example NPI; passes the Luhn check with prefix 80840
OTHER_NPI = "1245319599"

_LINES: list[dict[str, Any]] = [
    {
        "line_number": 1,
        "procedure_code": "S9500",  # antibiotic per diem, every 24 hours
        "modifiers": [],
        "service_date_from": "2026-07-01",
        "service_date_to": "2026-07-03",
        "units": 3.0,
        "infusions": None,
        "place_of_service": "12",
        "diagnosis_pointers": [1],
        "charge": "450.00",
        "ndc": None,
        "prior_authorization": "PA-77120",
        "rendering_npi": None,
        "description": None,
    },
    {
        "line_number": 2,
        "procedure_code": "J0690",  # cefazolin 500 mg
        "modifiers": [],
        "service_date_from": "2026-07-01",
        "service_date_to": "2026-07-03",
        "units": 6.0,
        "infusions": 3,
        "place_of_service": None,
        "diagnosis_pointers": [1, 2],
        "charge": "84.30",
        "ndc": {"code": "60505075100", "qualifier": "N4", "unit": "UN", "quantity": 3.0},
        "prior_authorization": None,
        "rendering_npi": None,
        "description": None,
    },
    {
        "line_number": 3,
        "procedure_code": "99601",  # home infusion visit, first 2 hours
        "modifiers": [],
        "service_date_from": "2026-07-01",
        "service_date_to": None,
        "units": 1.0,
        "infusions": None,
        "place_of_service": "12",
        "diagnosis_pointers": [1],
        "charge": "160.00",
        "ndc": None,
        "prior_authorization": None,
        "rendering_npi": OTHER_NPI,
        "description": None,
    },
    {
        "line_number": 4,
        "procedure_code": "99602",  # each additional hour
        "modifiers": [],
        "service_date_from": "2026-07-01",
        "service_date_to": None,
        "units": 1.0,
        "infusions": None,
        "place_of_service": "12",
        "diagnosis_pointers": [1],
        "charge": "65.00",
        "ndc": None,
        "prior_authorization": None,
        "rendering_npi": OTHER_NPI,
        "description": None,
    },
    {
        "line_number": 5,
        "procedure_code": "S9123",  # nursing care in the home, per hour
        "modifiers": [],
        "service_date_from": "2026-07-02",
        "service_date_to": None,
        "units": 2.0,
        "infusions": None,
        "place_of_service": "12",
        "diagnosis_pointers": [2],
        "charge": "130.00",
        "ndc": None,
        "prior_authorization": None,
        "rendering_npi": None,
        "description": None,
    },
]

_CLAIM: dict[str, Any] = {
    "event_id": "evt-0001",
    "claim_id": "CLM-2026-000001",
    "frequency": "ORIGINAL",
    "payer_claim_number": None,
    "submitted_at": "2026-07-05T14:30:00Z",
    "line_of_business": "MEDICAID",
    "contract_id": None,
    "member_id": "M000123456",
    "billing_npi": VALID_NPI,
    "rendering_npi": None,
    "place_of_service": "12",
    "diagnosis_codes": ["A41.9", "Z45.2"],
    "prior_authorization": None,
    "total_charge": "889.30",
    "lines": [],
}


def line_json(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A copy of example line `index` (0..4) in JSON form, with `overrides` applied."""
    line = copy.deepcopy(_LINES[index % len(_LINES)])
    line["line_number"] = index + 1
    line.update(overrides)
    return line


def claim_json(n_lines: int = 5, **overrides: Any) -> dict[str, Any]:
    """The example claim in JSON form with `n_lines` lines (cycling the five examples).

    `total_charge` is the sum of the line charges unless overridden.
    """
    claim = copy.deepcopy(_CLAIM)
    claim["lines"] = [line_json(i) for i in range(n_lines)]
    total = sum((Decimal(line["charge"]) for line in claim["lines"]), Decimal("0.00"))
    claim["total_charge"] = str(total)
    claim.update(overrides)
    return claim


def claim_record(n_lines: int = 5, **overrides: Any) -> dict[str, Any]:
    """The example claim in record form (as fastavro decodes it)."""
    return claim_from_json(claim_json(n_lines, **overrides))


def decision_record(claim: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A PENDED ClaimDecision record for `claim` (default: `claim_record()`), one reason."""
    claim = claim if claim is not None else claim_record()
    decision: dict[str, Any] = {
        "event_id": claim["event_id"],
        "claim_id": claim["claim_id"],
        "member_id": claim["member_id"],
        "decision": "PENDED",
        "reasons": [
            {
                "rule_id": "pos",
                "line_number": 2,
                "carc": "16",
                "rarc": "M77",
                "message": "Line 2 has no place of service and the claim has none.",
            }
        ],
        "policy_id": "RB.046.A",
        "rule_set_version": "2026.06.14-1",
        "decided_at": datetime(2026, 7, 5, 14, 30, 0, 125000, tzinfo=UTC),
        "validator_version": "0.1.0",
        "source": {"topic": "claims.submitted", "partition": 3, "offset": 1234567},
        "claim": claim,
    }
    decision.update(overrides)
    return decision


# --- hypothesis strategies: any record the schemas allow (record form) ---------------------

_TEXT = st.text(max_size=12)
_INT = st.integers(-(2**31), 2**31 - 1)
_MONEY = st.integers(-(10**11) + 1, 10**11 - 1).map(lambda n: Decimal(n).scaleb(-2))
_MILLIS = st.datetimes(timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def claim_records(
    *, allow_nan: bool = False, max_lines: int = 3
) -> st.SearchStrategy[dict[str, Any]]:
    """Any ClaimSubmitted record (NaN only when `allow_nan`: NaN != NaN defeats equality)."""
    double = st.floats(allow_nan=allow_nan)
    ndc = st.fixed_dictionaries(
        {"code": _TEXT, "qualifier": _TEXT, "unit": _TEXT, "quantity": double}
    )
    line = st.fixed_dictionaries(
        {
            "line_number": _INT,
            "procedure_code": _TEXT,
            "modifiers": st.lists(_TEXT, max_size=4),
            "service_date_from": st.dates(),
            "service_date_to": _opt(st.dates()),
            "units": double,
            "infusions": _opt(_INT),
            "place_of_service": _opt(_TEXT),
            "diagnosis_pointers": st.lists(_INT, max_size=4),
            "charge": _MONEY,
            "ndc": _opt(ndc),
            "prior_authorization": _opt(_TEXT),
            "rendering_npi": _opt(_TEXT),
            "description": _opt(_TEXT),
        }
    )
    return st.fixed_dictionaries(
        {
            "event_id": _TEXT,
            "claim_id": _TEXT,
            "frequency": st.sampled_from(["ORIGINAL", "REPLACEMENT", "VOID"]),
            "payer_claim_number": _opt(_TEXT),
            "submitted_at": _MILLIS,
            "line_of_business": st.sampled_from(
                ["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN"]
            ),
            "contract_id": _opt(_TEXT),
            "member_id": _TEXT,
            "billing_npi": _TEXT,
            "rendering_npi": _opt(_TEXT),
            "place_of_service": _opt(_TEXT),
            "diagnosis_codes": st.lists(_TEXT, max_size=4),
            "prior_authorization": _opt(_TEXT),
            "total_charge": _MONEY,
            "lines": st.lists(line, min_size=1, max_size=max_lines),
        }
    )


def decision_records() -> st.SearchStrategy[dict[str, Any]]:
    """Any ClaimDecision record."""
    reason = st.fixed_dictionaries(
        {
            "rule_id": _TEXT,
            "line_number": _opt(_INT),
            "carc": _opt(_TEXT),
            "rarc": _opt(_TEXT),
            "message": _TEXT,
        }
    )
    source = st.fixed_dictionaries(
        {"topic": _TEXT, "partition": _INT, "offset": st.integers(0, 2**63 - 1)}
    )
    return st.fixed_dictionaries(
        {
            "event_id": _TEXT,
            "claim_id": _TEXT,
            "member_id": _TEXT,
            "decision": st.sampled_from(["ACCEPTED", "PENDED"]),
            "reasons": st.lists(reason, max_size=3),
            "policy_id": _TEXT,
            "rule_set_version": _TEXT,
            "decided_at": _MILLIS,
            "validator_version": _TEXT,
            "source": _opt(source),
            "claim": claim_records(max_lines=2),
        }
    )
