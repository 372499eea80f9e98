"""The decision engine: rule independence, effective dating, contracts, explain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from consumer.engine import Engine
from consumer.engine.engine import DEFAULT_RULES_PATH
from consumer.records.claims import claim_from_json
from tests.claim_examples import claim_json, line_json


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def reason_ids(engine: Engine, claim: dict) -> set[tuple[str, str | None, str | None]]:
    outcome = engine.decide(claim_from_json(claim))
    return {(r.rule_id, r.carc, r.rarc) for r in outcome.reasons}


def test_example_claim_is_accepted_without_reasons(engine: Engine) -> None:
    outcome = engine.decide(claim_from_json(claim_json()))
    assert outcome.decision == "ACCEPTED"
    assert outcome.reasons == []
    assert outcome.policy_id == "RB.046.A"


def test_rules_are_independent_a_claim_collects_every_failure(engine: Engine) -> None:
    # SPEC §3: a per-diem line with units 2.5 over 3 days fails `units` and `per-diem units`.
    claim = claim_json(lines=[line_json(0, units=2.5)], total_charge="450.00")
    assert reason_ids(engine, claim) == {
        ("units.invalid", "16", "M53"),
        ("units.per-diem", "16", "N345"),
    }


def test_line_reasons_name_their_line_and_claim_reasons_none(engine: Engine) -> None:
    claim = claim_json(billing_npi="1234567890")
    claim["lines"][2]["place_of_service"] = "11"
    outcome = engine.decide(claim_from_json(claim))
    where = {r.rule_id: r.line_number for r in outcome.reasons}
    assert where == {"pos.not-home": 3, "npi.billing": None}
    assert outcome.decision == "PENDED"


def test_lines_before_the_effective_date_are_not_subject_to_the_policy(engine: Engine) -> None:
    early = line_json(4, service_date_from="2026-06-01", place_of_service="11", units=0.5)
    claim = claim_json(lines=[line_json(0), line_json(1), early])
    claim["total_charge"] = "664.30"
    assert reason_ids(engine, claim) == set()


def test_claim_entirely_before_the_policy_is_accepted_with_an_informational_reason(
    engine: Engine,
) -> None:
    lines = [line_json(2, service_date_from="2026-06-10", place_of_service="11")]
    outcome = engine.decide(claim_from_json(claim_json(lines=lines, total_charge="160.00")))
    assert outcome.decision == "ACCEPTED"
    assert [(r.rule_id, r.carc, r.rarc) for r in outcome.reasons] == [
        ("policy.not-in-effect", None, None)
    ]


def test_contract_override_lets_an_ifp_contract_bill_per_diem_s_codes(engine: Engine) -> None:
    per_diem = claim_json(line_of_business="INDIVIDUAL_FAMILY", lines=[line_json(0)])
    per_diem["total_charge"] = "450.00"
    assert ("lob.code-set", "16", "N657") in reason_ids(engine, per_diem)

    per_diem["contract_id"] = "IFP-HOME-INFUSION-SCODES"
    assert reason_ids(engine, per_diem) == set()

    # The same contract bars the G-codes instead, and limits a line to one calendar month.
    visit = line_json(0, procedure_code="G0068", service_date_to=None, units=4.0)
    gcode = claim_json(line_of_business="INDIVIDUAL_FAMILY", contract_id=per_diem["contract_id"])
    gcode["lines"] = [visit, line_json(1, service_date_from="2026-06-30")]
    gcode["lines"][1]["line_number"] = 2
    gcode["total_charge"] = "534.30"
    assert reason_ids(engine, gcode) == {
        ("lob.code-set", "16", "N657"),
        ("dates.calendar-month", "267", "N74"),
    }


def test_an_unknown_contract_gets_the_default_policy(engine: Engine) -> None:
    assert reason_ids(engine, claim_json(contract_id="NO-SUCH-CONTRACT")) == set()


def write_rule_set(folder: Path, name: str, replace: dict[str, str]) -> Path:
    text = (DEFAULT_RULES_PATH / "RB.046.A.yaml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text)
    return path


def test_rule_sets_are_effective_dated_and_sit_side_by_side(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_RULES_PATH / "catalogue.yaml", tmp_path)
    write_rule_set(tmp_path, "RB.046.A.yaml", {"effective_to: null": "effective_to: 2027-01-01"})
    write_rule_set(
        tmp_path,
        "RB.046.B.yaml",
        {
            'version: "RB.046.A-2026.06.14-r1"': 'version: "RB.046.B-2027.01.01-r1"',
            "effective_from: 2026-06-14": "effective_from: 2027-01-01",
            "extra_prior_authorization: {}": "extra_prior_authorization: { ALL: [J0690] }",
        },
    )
    engine = Engine.load(tmp_path)
    assert engine.versions == ["RB.046.A-2026.06.14-r1", "RB.046.B-2027.01.01-r1"]

    in_2026 = engine.decide(claim_from_json(claim_json()))
    assert (in_2026.decision, in_2026.rule_set_version) == ("ACCEPTED", "RB.046.A-2026.06.14-r1")

    lines = [line_json(1, service_date_from="2027-02-01", service_date_to="2027-02-03")]
    in_2027 = engine.decide(
        claim_from_json(
            claim_json(lines=lines, total_charge="84.30", submitted_at="2027-02-05T09:00:00Z")
        )
    )
    assert in_2027.rule_set_version == "RB.046.B-2027.01.01-r1"
    assert {r.rule_id for r in in_2027.reasons} == {"auth.missing"}


def test_a_rule_switched_off_in_the_file_does_not_run(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_RULES_PATH / "catalogue.yaml", tmp_path)
    path = write_rule_set(
        tmp_path,
        "RB.046.A.yaml",
        {'pos.not-home: { carc: "5", rarc: M77 }': 'pos.not-home: { carc: "5", enabled: false }'},
    )
    claim = claim_json(place_of_service="11")
    for line in claim["lines"]:
        line["place_of_service"] = None
    assert reason_ids(Engine.load(path), claim) == set()


def test_explain_reports_every_rule_with_the_failures_first(engine: Engine) -> None:
    claim = claim_json()
    claim["lines"][1]["ndc"] = None
    outcome, results = engine.explain(claim_from_json(claim))
    assert outcome.decision == "PENDED"
    failed = [r for r in results if r.status == "fail"]
    assert [r.rule_id for r in failed] == ["ndc.code"]
    assert failed[0].reasons[0].line_number == 2
    assert failed[0].summary.startswith("A J- or Q-code drug line carries an 11-digit NDC")
    statuses = {r.rule_id: r.status for r in results}
    assert statuses["pos.missing"] == "pass"
    assert statuses["dates.calendar-month"] == "off"
