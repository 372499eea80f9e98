"""Golden decisions: every case in tests/data/golden/ decided exactly as its file says.

The cases are the shared specification of the rules: `cargo test` runs them against the
engine directly (`native/tests/golden.rs`, from `tests/data/engine.json`), and here they go
through the Python facade and the real `infusion-validator validate` command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.engine import RULE_IDS, Engine, Reason
from consumer.paths import REPO
from consumer.records.claims import claim_from_json
from tests.data import engine_fixture

GOLDEN = REPO / "tests" / "data" / "golden"
CASES = sorted(GOLDEN.rglob("*.json"))
# The claim-history rules: sequences of claims, each step with its expected decision (or
# RESENT: no second decision), all decided as one stream.
SEQUENCES = sorted((GOLDEN.parent / "sequences").glob("*.json"))

Reasons = set[tuple[str, str | None, str | None]]


def expected_of(case: dict[str, Any]) -> tuple[str, Reasons]:
    wanted = case["expected"]
    return wanted["decision"], {(r["rule_id"], r["carc"], r["rarc"]) for r in wanted["reasons"]}


def reasons_of(reasons: list[Reason]) -> Reasons:
    return {(r.rule_id, r.carc, r.rarc) for r in reasons}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def sequence_steps() -> list[dict[str, Any]]:
    return [step for path in SEQUENCES for step in orjson.loads(path.read_bytes())["steps"]]


def test_there_are_golden_cases_for_every_rule() -> None:
    failing: set[str] = set()
    for case in [orjson.loads(path.read_bytes()) for path in CASES] + sequence_steps():
        if case["expected"]["decision"] != "RESENT":
            failing |= {rule for rule, _, _ in expected_of(case)[1]}
    # code.not-effective needs a code out of effect on 2026 dates (test_engine); the calendar
    # month rule is on only under a contract (test_engine).
    assert set(RULE_IDS) - failing <= {"code.not-effective", "dates.calendar-month"}


def test_cargo_tests_decide_from_the_rule_set_as_it_is_shipped() -> None:
    assert engine_fixture.FIXTURE.read_text() == engine_fixture.fixture(), (
        "tests/data/engine.json is out of date: run `python tests/data/engine_fixture.py`"
    )


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_case(engine: Engine, path: Path) -> None:
    case = orjson.loads(path.read_bytes())
    decision = engine.decide(claim_from_json(case["claim"]))
    got = (decision.decision, reasons_of(decision.reasons))
    assert got == expected_of(case), case["description"]


def test_validate_command_decides_the_golden_files(tmp_path: Path) -> None:
    claims = tmp_path / "claims.jsonl"
    cases = [orjson.loads(p.read_bytes()) for p in CASES] + sequence_steps()
    claims.write_bytes(b"".join(orjson.dumps(c["claim"]) + b"\n" for c in cases))
    run = subprocess.run(
        [sys.executable, "-m", "consumer", "validate", str(claims)],
        capture_output=True,
        check=True,
    )
    decisions = [orjson.loads(line) for line in run.stdout.splitlines()]
    resent = [c for c in cases if c["expected"]["decision"] == "RESENT"]
    cases = [c for c in cases if c not in resent]  # re-sent events get no decision line
    assert len(decisions) == len(cases)
    for case, decision in zip(cases, decisions, strict=True):
        assert decision["claim_id"] == case["claim"]["claim_id"]
        got = (
            decision["decision"],
            {(r["rule_id"], r["carc"], r["rarc"]) for r in decision["reasons"]},
        )
        assert got == expected_of(case)
    assert f"{len(cases)} claims decided" in run.stderr.decode()
    assert f"{len(resent)} re-sent events skipped" in run.stderr.decode()
