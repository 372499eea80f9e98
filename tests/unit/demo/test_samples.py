"""The synthetic claim generator: deterministic, realistic, exactly as many lines as asked."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime

import orjson
import pytest

from consumer._native import valid_npi as is_valid_npi
from consumer.demo.catalog import LOB_WEIGHTS
from consumer.demo.samples import RESENT, generate_claims, generate_labelled_claims
from consumer.records.claims import claim_from_json

G_CODES = {"G0068", "G0069", "G0070", "G0088", "G0089", "G0090"}
NURSING = {"99601", "99602", "S9123", "S9124"}


def _days(line: dict) -> tuple[date, date]:
    frm = date.fromisoformat(line["service_date_from"])
    return frm, date.fromisoformat(line["service_date_to"] or line["service_date_from"])


def test_same_seed_same_claims() -> None:
    assert list(generate_claims(300, 42)) == list(generate_claims(300, 42))
    assert list(generate_claims(50, 7, lines_per_claim=5)) == list(
        generate_claims(50, 7, lines_per_claim=5)
    )


def test_other_seed_other_claims() -> None:
    assert list(generate_claims(50, 1)) != list(generate_claims(50, 2))


def test_line_of_business_mix_is_roughly_the_weights() -> None:
    count = 6000
    mix = Counter(c["line_of_business"] for c in generate_claims(count, 3))
    for lob, weight in LOB_WEIGHTS:
        assert abs(mix[lob] / count - weight / 100) < 0.03, (lob, mix)


@pytest.mark.parametrize("lines", [1, 5, 12])
def test_lines_per_claim_is_exact(lines: int) -> None:
    for claim in generate_claims(1500, 5, lines_per_claim=lines, invalid_ratio=0.5):
        assert len(claim["lines"]) == lines
        assert [ln["line_number"] for ln in claim["lines"]] == list(range(1, lines + 1))


def test_default_claims_have_one_to_six_lines() -> None:
    sizes = Counter(len(c["lines"]) for c in generate_claims(2000, 9))
    assert set(sizes) == {1, 2, 3, 4, 5, 6}


def test_claims_are_json_and_read_back_as_claim_records() -> None:
    for claim in generate_claims(500, 11, invalid_ratio=0.5):
        assert json.loads(orjson.dumps(claim)) == claim
        claim_from_json(claim)  # raises ClaimFormatError on any deviation from SPEC §2.1


def test_event_and_claim_ids_are_unique_and_members_repeat() -> None:
    claims = list(generate_claims(4000, 13, history_events=False))
    assert len({c["event_id"] for c in claims}) == len(claims)
    assert len({c["claim_id"] for c in claims}) == len(claims)
    assert len({c["member_id"] for c in claims}) < len(claims) * 0.7


def test_history_events_repeat_ids_as_upstream_systems_do() -> None:
    """Re-sent events repeat an event id; duplicates, replacements and voids a claim id of the
    same member; each kind shows up in a demo-sized stream."""
    labelled = list(generate_labelled_claims(20_000, 13))
    first: dict[str, dict] = {}
    kinds: Counter[str] = Counter()
    for claim, labels in labelled:
        earlier = first.setdefault(claim["claim_id"], claim)
        if RESENT in labels:
            kinds["resent"] += 1
            assert any(c["event_id"] == claim["event_id"] for c, _ in labelled[:20_000])
        elif earlier is not claim:
            assert earlier["member_id"] == claim["member_id"]
            kinds[claim["frequency"] if claim["payer_claim_number"] else "duplicate"] += 1
        kinds.update(label for label in labels if label.startswith("history."))
    for kind in ("resent", "duplicate", "REPLACEMENT", "VOID", "history.per-diem-overlap",
                 "history.initial-visit"):  # fmt: skip
        assert kinds[kind] >= 20, kinds


def test_seeds_do_not_share_members_or_ids() -> None:
    """Two runs into one topic must not look like duplicates or overlapping episodes."""
    one, two = list(generate_claims(500, 1)), list(generate_claims(500, 2))
    for field in ("member_id", "claim_id", "event_id"):
        assert not {c[field] for c in one} & {c[field] for c in two}


def test_invalid_ratio_is_honoured() -> None:
    def defective(ratio: float) -> float:
        claims = generate_labelled_claims(4000, 17, invalid_ratio=ratio, history_events=False)
        labelled = [labels for _, labels in claims]
        return sum(1 for labels in labelled if labels) / len(labelled)

    assert defective(0.0) == 0.0
    assert defective(1.0) == 1.0
    assert abs(defective(0.3) - 0.3) < 0.03


def test_clean_claims_are_clean() -> None:
    """NPIs, code sets, per-diem units, dates and totals on claims without injected defects."""
    for claim, labels in generate_labelled_claims(3000, 19, invalid_ratio=0.3):
        if labels or claim["frequency"] != "ORIGINAL":
            continue
        npis = [claim["billing_npi"], claim["rendering_npi"]]
        npis += [ln["rendering_npi"] for ln in claim["lines"]]
        assert all(is_valid_npi(n) for n in npis if n is not None), npis
        codes = {ln["procedure_code"] for ln in claim["lines"]}
        if claim["line_of_business"] in ("MEDICAID", "CHIP"):
            assert not codes & G_CODES
        else:
            assert not any(c.startswith("S") for c in codes)
            assert not codes & NURSING
        submitted = date.fromisoformat(claim["submitted_at"][:10])
        for line in claim["lines"]:
            frm, to = _days(line)
            assert frm <= to <= submitted
            assert frm.year == to.year
            assert line["units"] > 0
            assert line["units"] == int(line["units"])
            if line["procedure_code"] in {"S9500", "S9338", "S9365", "S5502"}:
                assert line["units"] == (to - frm).days + 1
        total = sum(int(ln["charge"].replace(".", "")) for ln in claim["lines"])
        assert int(claim["total_charge"].replace(".", "")) == total


def test_start_sets_the_service_window() -> None:
    start = datetime(2026, 12, 20, 9, 30)
    for claim in generate_claims(500, 23, start=start, invalid_ratio=0.0):
        for line in claim["lines"]:
            frm, to = _days(line)
            assert frm >= start.date()
            assert frm.year == to.year  # spans near New Year are moved into January


@pytest.mark.parametrize("lines", [None, 5])
def test_labels_match_the_rule_engine_deciding_the_stream(lines: int | None) -> None:
    """Each defect and history event fails exactly the rules it is labelled with; clean claims
    are ACCEPTED; re-sent events get no decision."""
    from consumer._native import History
    from consumer.codec.encoding import claim_body
    from consumer.engine import Engine
    from consumer.offline.validate import decider

    stream = decider(Engine.load(), History(400))
    for claim, labels in generate_labelled_claims(6000, 29, lines_per_claim=lines):
        explained = stream.explain_body(claim_body(claim_from_json(claim)))
        if explained is None:
            assert labels == (RESENT,), claim["event_id"]
            continue
        decision, _ = explained
        assert {r.rule_id for r in decision.reasons} == set(labels), claim["claim_id"]
        assert decision.decision == ("PENDED" if labels else "ACCEPTED")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": -1}, "count"),
        ({"lines_per_claim": 0}, "lines_per_claim"),
        ({"invalid_ratio": 1.5}, "invalid_ratio"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    args = {"count": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        generate_claims(**args)
