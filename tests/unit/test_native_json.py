"""Offline `validate` through the compiled path equals the Python path, line for line.

Same decision lines (but for `decided_at`), same messages on stderr for lines that are not
claims, same summary - on golden and generated claims, on every spelling the JSON form
allows or refuses, and on hypothesis claims.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from consumer.claims import claim_to_json
from consumer.engine import Engine
from consumer.fastpath import build_offline_fast_path
from consumer.offline import MAX_LINES, validate
from consumer.samples import generate_claims
from tests.claim_examples import claim_json, claim_records

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def run(engine: Engine, path: Path, compiled: bool) -> tuple[list[Any], str, str]:
    fast = build_offline_fast_path(engine, MAX_LINES) if compiled else None
    out, err = io.BytesIO(), io.StringIO()
    summary = validate(str(path), engine, out, err, fast)
    lines = []
    for line in out.getvalue().splitlines():
        decision = orjson.loads(line)
        decision["decided_at"] = "-"
        lines.append((decision, line.split(b',"claim":', 1)[1]))
    text = summary.describe()
    return lines, err.getvalue(), text[: text.rindex(" in ")]


def same_both_ways(engine: Engine, path: Path) -> int:
    """Assert both paths write the same; return the number of decision lines."""
    python, compiled = run(engine, path, False), run(engine, path, True)
    assert compiled[0] == python[0]
    assert compiled[1:] == python[1:]
    return len(python[0])


def write_lines(tmp_path: Path, lines: list[str | bytes]) -> Path:
    path = tmp_path / "claims.jsonl"
    path.write_bytes(b"\n".join(x.encode() if isinstance(x, str) else x for x in lines) + b"\n")
    return path


def test_golden_and_generated_claims(engine: Engine, tmp_path: Path) -> None:
    claims = [json.loads(p.read_text())["claim"] for p in sorted(GOLDEN.rglob("*.json"))]
    claims += list(generate_claims(3000, seed=23))
    lines = [json.dumps(c) for c in claims]
    path = write_lines(tmp_path, lines)
    assert same_both_ways(engine, path) == len(claims)
    fast = build_offline_fast_path(engine, MAX_LINES)
    assert fast is not None
    assert None not in fast.validate_json([x.encode() for x in lines])  # all took it


def _variant(path: str, value: Any) -> str:
    claim = claim_json()
    target: Any = claim
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return json.dumps(claim)


_DROP = object()
SPELLINGS = [
    ("total_charge", 625), ("total_charge", "625"), ("total_charge", "625.000"),
    ("total_charge", " 625.00"), ("total_charge", "6.25e2"), ("total_charge", "-0.00"),
    ("total_charge", "0625.00"), ("total_charge", "1234567890.00"), ("total_charge", None),
    ("lines.0.charge", 125.5), ("lines.0.charge", "+125.00"), ("lines.0.charge", ".50"),
    ("lines.0.service_date_from", "20260701"), ("lines.0.service_date_from", "2026-W27-3"),
    ("lines.0.service_date_from", "2026-02-30"), ("lines.0.service_date_to", "2026-07-03"),
    ("lines.0.service_date_to", _DROP),
    ("submitted_at", "2026-07-20T12:00:00+02:00"), ("submitted_at", "2026-07-20T23:30:00-05:00"),
    ("submitted_at", "2026-07-20T12:00:00.123456Z"), ("submitted_at", "2026-07-20T12:00:00.1Z"),
    ("submitted_at", "2026-07-20 12:00:00Z"), ("submitted_at", "2026-07-20T12:00:00"),
    ("submitted_at", "2026-07-20T12:00Z"), ("submitted_at", "0001-01-01T00:30:00+01:00"),
    ("lines.0.units", 3), ("lines.0.units", "NaN"), ("lines.0.units", "Infinity"),
    ("lines.0.units", "nan"), ("lines.0.units", 1e300), ("lines.0.units", True),
    ("lines.0.line_number", 1.0), ("lines.0.line_number", 2**40), ("lines.0.infusions", None),
    ("frequency", "VOID"), ("frequency", "void"), ("frequency", None), ("frequency", _DROP),
    ("line_of_business", "PPO"), ("line_of_business", _DROP), ("contract_id", _DROP),
    ("diagnosis_codes", _DROP), ("diagnosis_codes", None), ("lines.0.modifiers", _DROP),
    ("lines.0.ndc", {"code": "00002143380", "qualifier": "n4", "unit": "ml", "quantity": 2}),
    ("lines.0.ndc", {"code": "0002-1433-80", "qualifier": "N4", "unit": "ML", "quantity": 1}),
    ("lines.0.ndc", {"code": "00002143380", "qualifier": "N4", "unit": "ML"}),
    ("member_id", "caf\u00e9 \"quoted\" \\ \t\u0001\u2028"), ("member_id", 12345),
    ("event_id", "\ud83d\ude00 emoji"), ("lines", []), ("lines", [claim_json()["lines"][0]] * 51),
    ("misspelt_field", 1), ("lines.0.unknown", 1),
]  # fmt: skip


def test_every_spelling_the_json_form_allows_or_refuses(engine: Engine, tmp_path: Path) -> None:
    lines: list[str | bytes] = [_variant(p, v) for p, v in SPELLINGS]
    lines += [
        "not json", "[1, 2]", "{}", b"\xff\xfe", '{"event_id": "\\ud800"}',
        '  ' + json.dumps(claim_json()) + ' \t', "",
        json.dumps(claim_json())[:-1] + ', "event_id": "twice"}',
    ]  # fmt: skip
    path = write_lines(tmp_path, lines)
    assert same_both_ways(engine, path) > len(SPELLINGS) // 3
    fast = build_offline_fast_path(engine, MAX_LINES)
    assert fast is not None
    taken = [
        x is not None for x in fast.validate_json([_variant(p, v).encode() for p, v in SPELLINGS])
    ]
    assert 10 < sum(taken) < len(SPELLINGS)  # both paths were exercised


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=claim_records(allow_nan=True, max_lines=4).map(lambda r: [r]))
def test_any_claim_in_json_form(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]
) -> None:
    path = write_lines(
        tmp_path_factory.mktemp("h"), [orjson.dumps(claim_to_json(r)) for r in records]
    )
    same_both_ways(engine, path)
