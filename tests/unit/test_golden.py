"""Golden decisions: every case in tests/data/golden/ decided exactly as its file says.

One parametrised test over the files (decision + the exact set of rule ids with CARC/RARC),
and the same files through the real `infusion-validator validate` command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.claims import claim_from_json
from consumer.engine import Engine

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
CASES = sorted(GOLDEN.rglob("*.json"))

Reasons = set[tuple[str, str | None, str | None]]


def expected_of(case: dict[str, Any]) -> tuple[str, Reasons]:
    wanted = case["expected"]
    return wanted["decision"], {(r["rule_id"], r["carc"], r["rarc"]) for r in wanted["reasons"]}


def reasons_of(reasons: list[dict[str, Any]]) -> Reasons:
    return {(r["rule_id"], r["carc"], r["rarc"]) for r in reasons}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def test_there_are_golden_cases_for_every_stateless_rule(engine: Engine) -> None:
    failing: set[str] = set()
    for path in CASES:
        failing |= {rule for rule, _, _ in expected_of(orjson.loads(path.read_bytes()))[1]}
    enabled = {active.rule.rule_id for active in engine.latest.default.rules}
    # code.not-effective needs a code out of effect on 2026 dates; it is tested in test_engine.
    assert enabled - failing <= {"code.not-effective"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_case(engine: Engine, path: Path) -> None:
    case = orjson.loads(path.read_bytes())
    outcome = engine.decide(claim_from_json(case["claim"]))
    decision, reasons = expected_of(case)
    assert (outcome.decision, reasons_of(outcome.reasons)) == (decision, reasons), case[
        "description"
    ]


def test_validate_command_decides_the_golden_files(tmp_path: Path) -> None:
    claims = tmp_path / "claims.jsonl"
    cases = [orjson.loads(p.read_bytes()) for p in CASES]
    claims.write_bytes(b"".join(orjson.dumps(c["claim"]) + b"\n" for c in cases))
    run = subprocess.run(
        [sys.executable, "-m", "consumer", "validate", str(claims)],
        capture_output=True,
        check=True,
    )
    decisions = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert len(decisions) == len(cases)
    for case, decision in zip(cases, decisions, strict=True):
        assert decision["claim_id"] == case["claim"]["claim_id"]
        assert (decision["decision"], reasons_of(decision["reasons"])) == expected_of(case)
    assert f"{len(cases)} claims decided" in run.stderr.decode()
