"""Events that only the member's claim history catches (SPEC §3.1), for the sample stream.

Derived from claims the stream already carried, as upstream systems produce them: an event
re-sent (sometimes changed), a claim billed again, a per-diem span billed again on a new
claim, an initial-visit G-code within 60 days of another visit, and replacements and voids of
earlier claims. Each comes with the rule ids it must fail (`RESENT`: no second decision).
"""

from __future__ import annotations

import copy
import random
from collections import deque
from datetime import date, timedelta
from typing import Any

Claim = dict[str, Any]
RESENT = "RESENT"  # the label of an event decided before: it gets no decision at all

# (kind, share of all events). About 3 % of the stream, each kind visible in a demo summary.
KINDS = (
    ("resent", 0.008),
    ("duplicate", 0.006),
    ("overlap", 0.005),
    ("initial_visit", 0.004),
    ("replacement", 0.004),
    ("void", 0.003),
)
_RECENT = 2000  # earlier claims kept to derive from


def _shift(day: str | None, days: int) -> str | None:
    return None if day is None else (date.fromisoformat(day) + timedelta(days)).isoformat()


class HistoryEvents:
    """Remembers the stream's recent originals and derives history events from them."""

    def __init__(self, rng: random.Random, tag: str, *, new_claims: bool = True) -> None:
        """`new_claims`: also derive claims of one line (a per diem or a visit billed again);
        off when every claim must have some other number of lines."""
        self.rng = rng
        self.tag = tag
        self.new_claims = new_claims
        # (claim, its labels): the originals not replaced, voided or derived from yet.
        self.recent: deque[tuple[Claim, tuple[str, ...]]] = deque(maxlen=_RECENT)

    def remember(self, claim: Claim, labels: tuple[str, ...]) -> None:
        if claim["frequency"] == "ORIGINAL" and claim["member_id"].strip():
            self.recent.append((claim, labels))

    def derive(self, index: int) -> tuple[Claim, tuple[str, ...]] | None:
        """A history event for stream position `index`, or None (a new claim then)."""
        x = self.rng.random()
        for kind, share in KINDS:
            if x >= share:
                x -= share
                continue
            if not self.recent:
                return None
            pick = int(self.rng.random() * len(self.recent))
            source, labels = self.recent[pick]
            derived: tuple[Claim, tuple[str, ...]] | None = getattr(self, f"_{kind}")(
                copy.deepcopy(source), labels, index
            )
            if derived is not None and kind != "resent":
                # One derived claim per source: a replacement of a claim whose per diem was
                # billed again since would itself overlap, and its labels would not say so.
                del self.recent[pick]
            return derived
        return None

    def _new_ids(self, claim: Claim, index: int, *, new_claim: bool) -> Claim:
        claim["event_id"] = f"ev-{self.tag}-{index:010d}"
        if new_claim:
            claim["claim_id"] = f"HI{self.tag.upper()}{index:010d}"
        return claim

    def _resent(self, claim: Claim, labels: tuple[str, ...], index: int) -> Any:
        if self.rng.random() < 0.5:  # changed on the way: the first decision still stands
            claim["submitted_at"] = claim["submitted_at"][:11] + "23:59:59Z"
        return claim, (RESENT,)

    def _duplicate(self, claim: Claim, labels: tuple[str, ...], index: int) -> Any:
        return self._new_ids(claim, index, new_claim=False), (*labels, "history.duplicate-claim")

    def _replacement(self, claim: Claim, labels: tuple[str, ...], index: int) -> Any:
        claim["frequency"] = "REPLACEMENT"
        claim["payer_claim_number"] = f"PCN{claim['claim_id'][-10:]}"
        return self._new_ids(claim, index, new_claim=False), labels

    def _void(self, claim: Claim, labels: tuple[str, ...], index: int) -> Any:
        claim["frequency"] = "VOID"
        claim["payer_claim_number"] = f"PCN{claim['claim_id'][-10:]}"
        return self._new_ids(claim, index, new_claim=False), labels

    def _overlap(self, claim: Claim, labels: tuple[str, ...], index: int) -> Any:
        """The per-diem line again, one day later, on a claim of its own."""
        if labels or not self.new_claims or claim["line_of_business"] not in ("MEDICAID", "CHIP"):
            return None
        line = copy.deepcopy(claim["lines"][0])  # the per diem, one day later (a span of one
        shift = 1 if line["service_date_to"] else 0  # day: the same day, else no day shared)
        line["service_date_to"] = _shift(
            line["service_date_to"] or line["service_date_from"], shift
        )
        line["service_date_from"] = _shift(line["service_date_from"], shift)
        if line["service_date_from"][:4] != line["service_date_to"][:4]:
            return None  # would cross into a new year: another defect
        claim["lines"] = [line]
        claim["total_charge"] = line["charge"]
        claim["submitted_at"] = _shift(line["service_date_to"], 2) + claim["submitted_at"][10:]
        return self._new_ids(claim, index, new_claim=True), ("history.per-diem-overlap",)

    def _initial_visit(self, claim: Claim, labels: tuple[str, ...], index: int) -> Any:
        """An initial-visit G-code 1-59 days after the member's earlier visit."""
        visits = [ln for ln in claim["lines"] if ln["procedure_code"][:3] == "G00"]
        if labels or not visits or not self.new_claims:
            return None
        line = copy.deepcopy(visits[0])
        number = int(line["procedure_code"][3:])
        line["procedure_code"] = f"G00{number + 20 if number < 88 else number}"  # G0068 -> G0088
        line["service_date_from"] = _shift(
            line["service_date_from"], 1 + int(self.rng.random() * 59)
        )
        line["line_number"] = 1
        claim["lines"] = [line]
        claim["total_charge"] = line["charge"]
        claim["submitted_at"] = _shift(line["service_date_from"], 1) + claim["submitted_at"][10:]
        return self._new_ids(claim, index, new_claim=True), ("history.initial-visit",)
