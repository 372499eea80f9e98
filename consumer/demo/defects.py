"""Realistic billing defects injected into synthetic claims (`consumer.demo.samples`).

Each injector edits one claim in place and returns the rule ids (SPEC §3) the edit must make
fail, or `()` when the claim has nothing it could corrupt (no drug line, no G-code...). An
injector never adds or removes lines, so `lines_per_claim` stays exact, and two injectors of the
same group never hit one claim, so each label is caused by exactly one edit.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from consumer.demo import catalog as cat
from consumer.demo.scratch import Scratch

__all__ = ["apply_defects"]

Injector = Callable[[dict[str, Any], Scratch, random.Random], tuple[str, ...]]


def _wrong_pos(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    c["place_of_service"] = rng.choice(cat.WRONG_POS)
    return ("pos.not-home",)


def _no_pos(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    c["place_of_service"] = None
    return ("pos.missing",)


def _wrong_code_set(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    # The usual mix-up: Medicare's G-code on a Medicaid/CHIP nursing visit, or CPT nursing
    # instead of the HIT G-code on an MA/IFP visit.
    if s.lob in cat.S_CODE_LOBS:
        if not s.solo:
            return ()
        s.solo[0]["procedure_code"] = "G0068"
        s.solo[0]["units"] = 6.0
    else:
        if not s.g:
            return ()
        s.g[0]["procedure_code"] = "99601"
        s.g[0]["units"] = 1.0
    return ("lob.code-set",)


def _gcode_span(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if not s.g:
        return ()
    line = s.g[-1]  # the latest visit: no other G line the next day
    nxt = date.fromisoformat(line["service_date_from"]) + timedelta(days=1)
    line["service_date_to"] = nxt.isoformat()
    s.last = max(s.last, nxt.toordinal())
    return ("gcode.single-day",)


def _orphan_addon(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if not s.pairs:
        return ()
    s.pairs[0]["procedure_code"] = "99602"
    return ("addon.primary-missing",)


def _fractional_units(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    nursing = s.solo + s.pairs
    line = s.g[-1] if s.g else nursing[0] if nursing else s.drug
    if line is None:
        return ()
    line["units"] += 0.5
    return ("units.invalid",)


def _per_diem_units(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.per_diem is None:
        return ()
    days = s.per_diem["units"]
    s.per_diem["units"] = days + 1 if days == 1 or rng.random() < 0.5 else days - 1
    return ("units.per-diem",)


def _no_ndc(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.drug is None:
        return ()
    s.drug["ndc"] = None
    return ("ndc.code",)


def _hyphenated_ndc(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.drug is None or s.drug["ndc"] is None:
        return ()
    code = s.drug["ndc"]["code"]
    # Copied from the package label: 5-4-2 with hyphens, or the 10-digit form without zero-fill.
    if code[0] == "0" and rng.random() < 0.5:
        s.drug["ndc"]["code"] = f"{code[1:5]}-{code[5:9]}-{code[9:]}"
    else:
        s.drug["ndc"]["code"] = f"{code[:5]}-{code[5:9]}-{code[9:]}"
    return ("ndc.code",)


def _bad_ndc_unit(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.drug is None or s.drug["ndc"] is None:
        return ()
    if rng.random() < 0.7:
        s.drug["ndc"]["unit"] = "MG"  # a dose unit, not an X12 CTP05 code
    else:
        s.drug["ndc"]["quantity"] = 0.0
    return ("ndc.quantity",)


def _no_infusions(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.drug is None:
        return ()
    s.drug["infusions"] = None if rng.random() < 0.7 else 0
    return ("drug.infusions",)


def _no_auth(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if not s.auth_lines:
        return ()
    c["prior_authorization"] = None
    for line in s.auth_lines:
        line["prior_authorization"] = None
    return ("auth.missing",)


def _bad_billing_npi(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    npi = c["billing_npi"]
    c["billing_npi"] = npi[:9] + str((int(npi[9]) + 1 + rng.randrange(9)) % 10)
    return ("npi.billing",)


def _bad_rendering_npi(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if c["rendering_npi"]:
        holder = c
    elif s.rendered:
        holder = s.rendered[0]
    else:
        return ()
    npi = holder["rendering_npi"]
    holder["rendering_npi"] = npi[:9] + str((int(npi[9]) + 1 + rng.randrange(9)) % 10)
    return ("npi.rendering",)


def _non_billable_dx(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    c["diagnosis_codes"][0] = rng.choice(cat.NON_BILLABLE_DX)
    return ("diagnosis.invalid",)


def _dangling_pointer(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    s.lines[-1]["diagnosis_pointers"] = [s.dx_count + 1]
    return ("diagnosis.missing",)


def _total_mismatch(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    s.total_skew = rng.choice((-1, 1)) * (100 + rng.randrange(5_000))
    return ("charges.total",)


def _no_route_modifier(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.lob != "MEDICARE_ADVANTAGE" or s.scig is None:
        return ()
    s.scig["modifiers"] = [] if rng.random() < 0.7 else ["JA"]
    return ("modifier.route",)


def _future_dos(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    s.future = True
    return ("dates.future",)


def _pump_in_per_diem(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    if s.lob not in cat.S_CODE_LOBS or s.flush is None:
        return ()
    line = s.flush  # a rental pump billed beside the per diem that already includes it
    line.update(procedure_code="E0781", modifiers=["RR"], units=1.0, infusions=None, ndc=None)
    line["service_date_to"] = None
    return ("bundled.per-diem",)


_HOURLY = frozenset({"S9500", "S9501", "S9502", "S9503"})  # S9494 "do not use with" these


def _exclusive_per_diem(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    pd = s.per_diem
    if pd is None or s.flush is None or pd["procedure_code"] not in _HOURLY:
        return ()
    line = s.flush  # the "antibiotic total" per diem on top of the hourly-schedule one
    frm = date.fromisoformat(line["service_date_from"])
    to = date.fromisoformat(line["service_date_to"] or line["service_date_from"])
    line.update(procedure_code="S9494", units=float((to - frm).days + 1), infusions=None, ndc=None)
    return ("codes.mutually-exclusive",)


def _no_payer_claim_number(c: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    c["frequency"] = "REPLACEMENT" if rng.random() < 0.8 else "VOID"
    c["payer_claim_number"] = None
    return ("frequency.payer-claim-number",)


# (injector, group, weight). Weights follow how often each defect shows up in front-end edits:
# POS, code set, NDC, per-diem units and authorization dominate.
_DEFECTS: tuple[tuple[Injector, str, int], ...] = (
    (_wrong_pos, "pos", 10),
    (_no_pos, "pos", 3),
    (_wrong_code_set, "code", 10),
    (_gcode_span, "code", 5),
    (_orphan_addon, "code", 4),
    (_fractional_units, "code", 4),
    (_per_diem_units, "units", 10),
    (_no_ndc, "ndc", 10),
    (_hyphenated_ndc, "ndc", 6),
    (_bad_ndc_unit, "ndc", 5),
    (_no_infusions, "infusions", 8),
    (_no_auth, "auth", 10),
    (_bad_billing_npi, "npi", 6),
    (_bad_rendering_npi, "npi", 3),
    (_non_billable_dx, "dx", 8),
    (_dangling_pointer, "pointer", 3),
    (_total_mismatch, "charges", 6),
    (_no_route_modifier, "modifier", 6),
    (_future_dos, "dates", 3),
    (_pump_in_per_diem, "flush", 5),
    (_exclusive_per_diem, "flush", 2),
    (_no_payer_claim_number, "frequency", 3),
)
_TOTAL = sum(w for _, _, w in _DEFECTS)
_DRAWS = 6
_CUM = tuple(sum(w for _, _, w in _DEFECTS[: i + 1]) / _TOTAL for i in range(len(_DEFECTS)))


def apply_defects(claim: dict[str, Any], s: Scratch, rng: random.Random) -> tuple[str, ...]:
    """Inject one defect (two in 30% of cases) and return the rule ids that must fail."""
    labels: list[str] = []
    used: set[str] = set()
    for _ in range(2 if rng.random() < 0.3 else 1):
        # Redraw when the claim cannot carry the drawn defect, so the mix among applicable
        # defects keeps its weights; the final walk ends because POS, NPI and charge defects
        # apply to every claim.
        order = [min(bisect_right(_CUM, rng.random()), len(_CUM) - 1) for _ in range(_DRAWS)]
        order += range(len(_DEFECTS))
        for i in order:
            injector, group, _ = _DEFECTS[i]
            if group in used:
                continue
            got = injector(claim, s, rng)
            if got:
                labels.extend(got)
                used.add(group)
                break
    return tuple(sorted(labels))
