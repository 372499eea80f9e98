"""Fuzzing the rule engine: any claim the schema allows gets a decision, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.engine import Engine

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


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=claim)
def test_every_schema_valid_claim_gets_a_decision(engine: Engine, record: dict[str, Any]) -> None:
    outcome = engine.decide(record)
    assert outcome.decision in ("ACCEPTED", "PENDED")
    assert all(isinstance(r["message"], str) for r in outcome.reasons)
    assert (outcome.decision == "PENDED") == any(r["carc"] for r in outcome.reasons)


def test_year_9999_and_year_1_dates_are_pended_not_crashed(engine: Engine) -> None:
    from tests.claim_examples import claim_record

    record = claim_record()
    record["lines"][0]["service_date_to"] = datetime(9999, 12, 31).date()
    record["lines"][1]["service_date_from"] = datetime(1, 1, 1).date()
    outcome = engine.decide(record)
    assert outcome.decision == "PENDED"
    assert {"dates.future", "dates.calendar-year"} <= {r["rule_id"] for r in outcome.reasons}
