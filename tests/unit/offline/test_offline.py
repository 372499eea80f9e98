"""Offline `validate` and `explain`: bad lines reported, others decided; Avro files; every
spelling of a claim decided alike; decision lines that fit the ClaimDecision schema;
explanations an analyst can act on."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from consumer.cli import main
from consumer.engine import Engine
from consumer.offline.validate import validate
from consumer.records.claims import record_from_json
from consumer.records.schemas import DECISION, claim_schema
from tests.claim_examples import claim_json, claim_record


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def decide_lines(engine: Engine, tmp_path: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    source = tmp_path / "claims.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = io.BytesIO()
    validate(str(source), engine, out, io.StringIO())
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_a_claim_spelt_differently_is_the_same_claim_with_the_same_decision(
    engine: Engine, tmp_path: Path
) -> None:
    """The plain JSON form is read by the engine; other spellings the form allows (decimals as
    numbers, a timestamp with an offset, omitted optionals) by Python - decided alike."""
    plain = claim_json()
    plain["lines"][1]["ndc"] = None  # pended, so reasons are in the comparison too
    odd = claim_json()
    odd["lines"][1]["ndc"] = None
    odd["total_charge"] = float(odd["total_charge"])
    odd["submitted_at"] = "2026-11-25T12:00:00+02:00"
    del odd["lines"][0]["description"]
    decisions = decide_lines(engine, tmp_path, [orjson.dumps(plain), orjson.dumps(odd)])
    for decision in decisions:
        decision.pop("decided_at")
        decision.pop("claim")
        record_from_json(
            {**decision, "decided_at": "2026-11-25T10:00:00Z", "claim": plain}, DECISION
        )
    assert decisions[0] == decisions[1]
    assert decisions[0]["decision"] == "PENDED"


def test_bad_lines_are_reported_with_their_number_and_the_rest_decided(
    tmp_path: Path, engine: Engine
) -> None:
    good = orjson.dumps(claim_json())
    missing_units = claim_json()
    del missing_units["lines"][0]["units"]
    bad_date = claim_json()
    bad_date["lines"][2]["service_date_from"] = "07/01/2026"
    source = tmp_path / "claims.jsonl"
    source.write_bytes(
        b"\n".join([good, b"{not json", orjson.dumps(missing_units), b"", orjson.dumps(bad_date),
                    good]) + b"\n"
    )  # fmt: skip
    out, err = io.BytesIO(), io.StringIO()
    summary = validate(str(source), engine, out, err)
    assert (summary.claims, summary.unreadable) == (2, 3)
    messages = err.getvalue().splitlines()
    assert messages[0].startswith(f"{source}:2: skipped: not valid JSON")
    assert messages[1].startswith(f"{source}:3: skipped: lines[0].units")
    assert messages[2].startswith(f"{source}:5: skipped: lines[2].service_date_from")
    assert len(out.getvalue().splitlines()) == 2


def test_an_avro_container_file_is_read_too(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "claims.avro"
    with path.open("wb") as handle:
        fastavro.writer(handle, claim_schema(), [claim_record(), claim_record(event_id="e2")])
    out = io.BytesIO()
    summary = validate(str(path), engine, out, io.StringIO())
    assert summary.decisions["ACCEPTED"] == 2
    decisions = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [d["event_id"] for d in decisions] == ["evt-0001", "e2"]
    assert decisions[0]["claim"]["lines"][0]["service_date_from"] == "2026-07-01"


def test_explain_names_the_rule_the_line_and_the_fix_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claim = claim_json()
    claim["lines"][0]["units"] = 5.0  # S9500 for 3 days
    path = tmp_path / "one.jsonl"
    path.write_bytes(orjson.dumps(claim) + b"\n")
    assert main(["explain", str(path)]) == 0
    text = capsys.readouterr().out
    assert "CLM-2026-000001" in text
    assert "PENDED" in text
    assert (
        "line 1 (S9500, 2026-07-01 to 2026-07-03): S9500 is billed per day: 2026-07-01 to "
        "2026-07-03 is 3 day(s), but 5 unit(s) were billed." in text
    )
    assert "[units.per-diem] CARC 16 (Claim/service lacks information" in text
    assert "RARC N345 (Date range not valid with units submitted.)" in text
    assert "FAIL  units.per-diem" in text
    assert "pass  pos.missing" in text


def test_validate_command_exits_zero_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps(claim_json()) + b"\n" + b"oops\n")
    assert main(["validate", str(path), "-o", str(tmp_path / "d.jsonl")]) == 0
    assert "1 claims decided, 1 accepted, 1 unreadable" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "absent.jsonl")]) == 2


def test_decided_at_is_utc_milliseconds(engine: Engine, tmp_path: Path) -> None:
    decided = decide_lines(engine, tmp_path, [orjson.dumps(claim_json())])[0]["decided_at"]
    assert decided.endswith("Z")
    assert datetime.fromisoformat(decided).tzinfo == UTC


@pytest.mark.parametrize("block", [64, 1000, 1 << 20])
def test_decisions_come_out_in_file_order_whatever_reads_each_line(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Lines the engine reads, lines Python reads (another spelling) and unreadable lines,
    across block boundaries (a line cut by a block is read whole), with no final newline."""
    monkeypatch.setattr("consumer.offline.validate.BLOCK", block)
    claims = [claim_json(claim_id=f"C{i}", event_id=f"E{i}") for i in range(7)]
    lines = [orjson.dumps(c) for c in claims]
    lines[2] = orjson.dumps({**claims[2], "total_charge": float(claims[2]["total_charge"])})
    lines[4] = b"{not json"
    source = tmp_path / "claims.jsonl"
    source.write_bytes(b"\n".join([lines[0], b"", *lines[1:]]))  # a blank line, no last \n
    out, err = io.BytesIO(), io.StringIO()
    summary = validate(str(source), engine, out, err)
    decided = [orjson.loads(line)["claim_id"] for line in out.getvalue().splitlines()]
    assert decided == ["C0", "C1", "C2", "C3", "C5", "C6"]
    assert err.getvalue().startswith(f"{source}:6: skipped: not valid JSON")
    assert (summary.claims, summary.unreadable) == (6, 1)


def test_explain_against_another_rule_set_shows_one_claim_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from consumer.engine.engine import DEFAULT_RULES_PATH

    other = tmp_path / "rules-r2"
    shutil.copytree(DEFAULT_RULES_PATH, other)
    text = (other / "RB.046.A.yaml").read_text().replace('-r1"', '-r2"')
    (other / "RB.046.A.yaml").write_text(
        text.replace(
            'auth.missing: { carc: "197", rarc: M62 }', 'auth.missing: { carc: "197", rarc: N54 }'
        )
    )
    claim = claim_json()
    for line in claim["lines"]:
        line["prior_authorization"] = None  # S9500 on Medicaid needs one: auth.missing
    path = tmp_path / "one.jsonl"
    path.write_bytes(orjson.dumps(claim) + b"\n")
    assert main(["explain", str(path), "--against", str(other)]) == 0
    text = capsys.readouterr().out
    assert "PENDED under RB.046.A-2026.06.14-r1, PENDED under RB.046.A-2026.06.14-r2" in text
    assert "Differs: ~auth.missing" in text
    assert "Only under RB.046.A-2026.06.14-r2:" in text
    assert "RARC N54" in text
    assert "Only under RB.046.A-2026.06.14-r1:" in text
    assert "RARC M62" in text
