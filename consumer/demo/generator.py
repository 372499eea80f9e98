"""The sample generator's claims (`consumer.demo.samples` is the API): one claim at a time,
every value drawn from one `random.Random` in a fixed order, each line a fresh literal dict
built from the flat tables of `consumer.demo.catalog`."""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date
from typing import Any

from consumer.demo import catalog as cat
from consumer.demo.catalog import BILLING_NPIS, CONTRACTS, RENDERING_NPIS
from consumer.demo.defects import apply_defects
from consumer.demo.scratch import Scratch

Claim = dict[str, Any]
DEFAULT_START = date(2026, 6, 15)  # first full day under RB.046.A (effective 2026-06-14)


def _cumulative(weights: tuple[int, ...]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(sum(weights[: i + 1]) / total for i in range(len(weights)))


_LOBS = tuple(lob for lob, _ in cat.LOB_WEIGHTS)
_LOB_CUM = _cumulative(tuple(w for _, w in cat.LOB_WEIGHTS))
_THERAPY_CUM = {True: _cumulative(cat.THERAPY_WEIGHTS_S), False: _cumulative(cat.THERAPY_WEIGHTS_G)}
_MEMBER_PREFIX = tuple(cat.MEMBER_PREFIX[lob] for lob in _LOBS)
_DX_FORMS = {t.name: (t.dx, tuple(c.replace(".", "") for c in t.dx)) for t in cat.THERAPIES}
_CLOCK = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
_SECONDS = tuple(f"{s:02d}" for s in range(60))


def _pick(x: float, cum: tuple[float, ...]) -> int:
    return min(bisect_right(cum, x), len(cum) - 1)  # min(): float rounding of the last sum


class Generator:
    def __init__(self, seed: int, lines: int | None, invalid: float, start: date, count: int):
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
        self.r = self.rng.random
        self.lines = lines
        self.invalid = invalid
        self.base = start.toordinal()
        # Ids and members derive from the seed, so runs with different seeds never collide in
        # the validator's state (duplicate claim ids, overlapping spans of one member); the
        # same seed replays the same event ids, which the validator deduplicates.
        self.tag = f"{seed & 0xFFFFFFFF:08x}"
        self.members = [f"{p}{seed % 10_000:04d}" for p in _MEMBER_PREFIX]
        # About four claims per member on average, so members (Kafka keys) repeat.
        pool = min(max(count // 4, 100), 100_000)
        self.pool = [max(1, pool * w // 100) for _, w in cat.LOB_WEIGHTS]
        self.cursor: dict[str, int] = {}  # member -> first day free for their next claim
        self.g_seen: set[str] = set()  # members who already billed a HIT G-code
        self.iso: dict[int, str] = {}  # ordinal -> ISO date; dates are few, formatting is not
        self.jan1: dict[int, int] = {}  # ordinal -> ordinal of the next 1 January

    def day(self, ordinal: int) -> str:
        text = self.iso.get(ordinal)
        if text is None:
            text = self.iso[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def next_jan1(self, ordinal: int) -> int:
        jan1 = self.jan1.get(ordinal)
        if jan1 is None:
            year = date.fromordinal(ordinal).year + 1
            jan1 = self.jan1[ordinal] = date(year, 1, 1).toordinal()
        return jan1

    def auth(self) -> str:
        return f"PA{int(self.r() * 1e9):09d}"

    def add(self, s: Scratch, code: str, frm: int, to: int, units: int, cents: int) -> Claim:
        iso = self.iso
        line = {
            "line_number": len(s.lines) + 1,
            "procedure_code": code,
            "modifiers": [],
            "service_date_from": iso[frm] if frm in iso else self.day(frm),
            "service_date_to": None if to == frm else iso[to] if to in iso else self.day(to),
            "units": float(units),
            "infusions": None,
            "place_of_service": None,
            "diagnosis_pointers": [1],
            "charge": f"{cents // 100}.{cents % 100:02d}",
            "ndc": None,
            "prior_authorization": None,
            "rendering_npi": None,
            "description": None,
        }
        s.lines.append(line)
        s.cents.append(cents)
        if to > s.last:
            s.last = to
        return line

    def claim(self, index: int) -> tuple[Claim, tuple[str, ...]]:
        r = self.r
        li = _pick(r(), _LOB_CUM)
        lob = _LOBS[li]
        k = int(r() * self.pool[li])
        member = self.members[li] + str(k).zfill(6)
        s_codes = lob in cat.S_CODE_LOBS
        n = self.lines or cat.LINE_COUNTS[int(r() * len(cat.LINE_COUNTS))]
        therapy = cat.THERAPIES[_pick(r(), _THERAPY_CUM[s_codes])]
        if not s_codes and therapy.g_codes is None and n > cat.PN_G_LINES:
            therapy = cat.THERAPIES[0]
        lo, hi = therapy.span
        span = lo + int(r() * (hi - lo + 1))
        d0 = self.cursor.get(member) or self.base + int(r() * 120)
        # Keep every line inside one calendar year (CARC 268): the claim reaches at most
        # span + 3 days per extra line + 4 days (catheter care, a widened G-code line).
        jan1 = self.next_jan1(d0)
        if d0 + span + 3 * n + 4 >= jan1:
            d0 = jan1
        # 837P carries ICD-10 without the dot; both forms arrive.
        dx = _DX_FORMS[therapy.name][r() < 0.5]
        codes = [dx[int(r() * len(dx))]]
        second = dx[int(r() * len(dx))]
        if r() < 0.5 and second != codes[0]:
            codes.append(second)
        s = Scratch(lob, len(codes), d0)
        if s_codes:
            self._s_lines(s, therapy, n, d0, span)
        elif therapy.g_codes is None:
            self._pn_lines(s, n, d0, span)
        else:
            self._g_lines(s, therapy, n, d0, span, member)
        provider = k % len(BILLING_NPIS)
        claim: Claim = {
            "event_id": f"ev-{self.tag}-{index:010d}",
            "claim_id": f"HI{self.tag.upper()}{index:010d}",
            "frequency": "ORIGINAL",
            "payer_claim_number": None,
            "submitted_at": "",
            "line_of_business": lob,
            "contract_id": CONTRACTS[provider],
            "member_id": member,
            "billing_npi": BILLING_NPIS[provider],
            "rendering_npi": s.claim_rendering,
            "place_of_service": "12",
            "diagnosis_codes": codes,
            "prior_authorization": s.claim_auth,
            "total_charge": "",
            "lines": s.lines,
        }
        labels = apply_defects(claim, s, self.rng) if r() < self.invalid else ()
        self.cursor[member] = s.last + 2 + int(r() * 10)
        # Submitted 1-6 days after the last day of service (the "future DOS" defect: before it).
        sub = s.last - 1 if s.future else s.last + 1 + int(r() * 6)
        claim["submitted_at"] = (
            f"{self.day(sub)}T{_CLOCK[int(r() * 1440)]}:{_SECONDS[int(r() * 60)]}Z"
        )
        total = sum(s.cents) + s.total_skew
        claim["total_charge"] = f"{total // 100}.{total % 100:02d}"
        return claim, labels

    def _drug(self, s: Scratch, drug: cat.Drug, frm: int, to: int, doses: int) -> Claim:
        infusions = (to - frm + 1) * doses
        units = drug.units_per_dose * infusions
        line = self.add(s, drug.code, frm, to, units, drug.cents_per_unit * units)
        line["infusions"] = infusions
        if drug.ndc is not None:
            q = round(float(drug.ndc_qty_per_dose) * infusions, 3)
            line["ndc"] = {
                "code": drug.ndc,
                "qualifier": "N4",
                "unit": drug.ndc_unit,
                "quantity": q,
            }
        if s.dx_count == 2:
            line["diagnosis_pointers"] = [1, 2]
        if drug.needs_auth:
            s.auth_lines.append(line)
            if s.claim_auth is None and self.r() < 0.5:
                line["prior_authorization"] = self.auth()
            elif s.claim_auth is None:
                s.claim_auth = self.auth()
        if drug.scig:
            line["modifiers"] = ["JB"]  # route modifier: required on MA, good practice elsewhere
            s.scig = line
        if drug.code[0] in "JQ" and s.drug is None:
            s.drug = line
        return line

    def _nurse(self, s: Scratch, code: str, day: int) -> None:
        line = self.add(s, code, day, day, 1, cat.CENTS[code])
        s.rendered.append(line)
        if code == "99601":
            line["rendering_npi"] = RENDERING_NPIS[int(self.r() * len(RENDERING_NPIS))]
            s.solo.append(line)
        else:  # the add-on hour belongs to the visit of the same day, by the same nurse
            visit = s.solo.pop()
            line["rendering_npi"] = visit["rendering_npi"]
            s.pairs.append(visit)

    def _s_lines(self, s: Scratch, therapy: cat.Therapy, n: int, d0: int, span: int) -> None:
        code, drug, doses = therapy.per_diem[int(self.r() * len(therapy.per_diem))]
        end = d0 + span - 1
        s.claim_auth = self.auth()  # every Medicaid/CHIP per diem needs prior authorization
        s.auth_lines.append(self.add(s, code, d0, end, span, cat.CENTS[code] * span))
        s.per_diem = s.lines[0]
        if n >= 2:
            self._drug(s, drug, d0, end, doses)
        fillers = cat.PN_FILLERS if code == "S9365" else cat.S_FILLERS
        visit = d0
        for i in range(n - 2):
            kind = fillers[i] if i < len(fillers) else ("99601", "99602")[(i - len(fillers)) % 2]
            if kind == "99601":
                if s.solo or s.pairs:
                    visit += 3
                self._nurse(s, kind, visit)
            elif kind == "99602":
                self._nurse(s, kind, visit)
            elif kind == "J1642":
                s.flush = self._drug(s, cat.HEPARIN_FLUSH, d0, end, 1)
            elif kind == "S5502":  # catheter maintenance for the days after the therapy ends
                days = 1 + int(self.r() * 3)
                s.auth_lines.append(
                    self.add(s, kind, end + 1, end + days, days, cat.CENTS[kind] * days)
                )
            else:
                self._drug(s, cat.PN_PARTS[kind], d0, end, 1)

    def _pn_lines(self, s: Scratch, n: int, d0: int, span: int) -> None:
        end = d0 + span - 1
        for drug in (cat.PN_PREMIX, cat.PN_LIPIDS, cat.PN_KIT)[:n]:
            self._drug(s, drug, d0, end, 1)
        if n == cat.PN_G_LINES:
            self.add(s, "B9004", d0, d0, 1, cat.CENTS["B9004"])["modifiers"] = ["RR"]

    def _g_lines(self, s: Scratch, t: cat.Therapy, n: int, d0: int, span: int, member: str) -> None:
        assert t.g_codes is not None
        r = self.r
        subsequent, initial = t.g_codes
        first = member not in self.g_seen
        self.g_seen.add(member)
        if r() < 0.4:
            s.claim_rendering = RENDERING_NPIS[int(r() * len(RENDERING_NPIS))]
        code = initial if first else subsequent
        s.g.append(self.add(s, code, d0, d0, 4 + int(r() * 9), cat.CENTS[code]))
        drug = t.g_drugs[int(r() * len(t.g_drugs))]
        end = d0 + (0 if drug.scig else span - 1)  # SCIG: one weekly self-infusion day
        if n >= 2:
            self._drug(s, drug, d0, end, 1)
        visit = d0
        for i in range(n - 2):
            kind = cat.G_FILLERS[i] if i < len(cat.G_FILLERS) else "visit"
            if kind == "visit":  # at least two days apart: one G line per category per day
                visit += 2 + int(r() * 2)
                units = 4 + int(r() * 9)  # 15-minute increments: 1 to 3 hours
                s.g.append(self.add(s, subsequent, visit, visit, units, cat.CENTS[subsequent]))
            elif kind == "pump":
                pump = self.add(s, t.pump or "E0781", d0, d0, 1, cat.CENTS[t.pump or "E0781"])
                pump["modifiers"] = ["RR", "JB"] if drug.scig else ["RR"]
            elif kind == "A4222":
                self.add(s, kind, d0, end, end - d0 + 1, cat.CENTS[kind] * (end - d0 + 1))
            else:
                weeks = (end - d0 + 7) // 7  # catheter maintenance supplies, per week
                self.add(s, kind, d0, end, weeks, cat.CENTS[kind] * weeks)
