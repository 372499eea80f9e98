"""Data tables behind the synthetic claim generator (`consumer.demo.samples`).

Everything here is plain tuples so the generator can index into it without copying. The codes,
units and dose sizes follow the research notes (HCPCS 2020 descriptors, the HIT payment
categories, NHIA per-diem practice); NDCs are 11-digit 5-4-2 codes with real labeler prefixes
(Takeda 00944, CSL Behring 44206, Baxter 00338, Hospira 00409, Fresenius 63323, ...), shaped
like real package codes but not guaranteed to be the exact marketed package.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from consumer._native import valid_npi

# (line of business, weight). Medicaid is the largest book, MA next (RB.046.A covers all four).
LOB_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("MEDICAID", 35),
    ("MEDICARE_ADVANTAGE", 30),
    ("CHIP", 15),
    ("INDIVIDUAL_FAMILY", 20),
)
# Member-id prefixes per plan; a member belongs to exactly one plan.
MEMBER_PREFIX = {
    "MEDICAID": "EVW",  # "EverWell", the Medicaid plan in RB.046.A
    "MEDICARE_ADVANTAGE": "JMA",
    "CHIP": "CHP",
    "INDIVIDUAL_FAMILY": "IFP",
}
# Medicaid/CHIP bill the S-code per-diem system; MA/IFP bill HIT professional G-codes.
S_CODE_LOBS = frozenset({"MEDICAID", "CHIP"})


class Drug(NamedTuple):
    code: str  # HCPCS J/Q/B code
    ndc: str | None  # 11-digit 5-4-2 NDC without hyphens; None: none reported (B-code solutions)
    ndc_unit: str  # CTP05-1 unit of measure
    units_per_dose: int  # HCPCS units for one infusion (dose / descriptor amount, rounded up)
    ndc_qty_per_dose: float  # NDC quantity for one infusion, in ndc_unit
    cents_per_unit: int  # charge per HCPCS unit
    needs_auth: bool  # immune globulin and chemotherapy (J9000-J9999) need prior auth
    scig: bool  # subcutaneous immune globulin: MA requires modifier JB


def _d(
    code: str,
    ndc: str | None,
    unit: str,
    per_dose: int,
    qty: float,
    cents: int,
    auth: bool = False,
    scig: bool = False,
) -> Drug:
    return Drug(code, ndc, unit, per_dose, qty, cents, auth, scig)


# Anti-infectives, each with the per-diem code matching its dosing interval (S9500 q24h,
# S9501 q12h, S9502 q8h, S9503 q6h) and the doses given per day.
CEFTRIAXONE = _d("J0696", "25021010510", "UN", 4, 1, 1_250)  # 1 g = 4 x 250 mg
DAPTOMYCIN = _d("J0878", "67919001101", "UN", 500, 1, 45)  # 500 mg = 500 x 1 mg
VANCOMYCIN = _d("J3370", "00338358048", "ML", 2, 200, 900)  # 1 g = 2 x 500 mg
CEFAZOLIN = _d("J0690", "00338350341", "ML", 4, 100, 300)  # 2 g = 4 x 500 mg
MEROPENEM = _d("J2185", "63323050720", "UN", 10, 1, 280)  # 1 g = 10 x 100 mg
PIP_TAZO = _d("J2543", "00206886216", "UN", 4, 1, 650)  # 4.5 g = 4 x 1.125 g
ANTI_INFECTIVES: tuple[tuple[str, Drug, int], ...] = (
    ("S9500", CEFTRIAXONE, 1),
    ("S9500", DAPTOMYCIN, 1),
    ("S9501", VANCOMYCIN, 2),
    ("S9502", CEFAZOLIN, 3),
    ("S9502", MEROPENEM, 3),
    ("S9503", PIP_TAZO, 4),
)

# Subcutaneous / intravenous immune globulin (per 500 mg or per 100 mg descriptors).
GAMMAGARD = _d("J1569", "00944270002", "ML", 20, 100, 8_500, auth=True, scig=True)  # 10 g
HIZENTRA = _d("J1559", "44206045101", "ML", 100, 50, 1_900, auth=True, scig=True)  # 10 g
CUVITRU = _d("J1555", "00944285001", "ML", 80, 40, 1_950, auth=True, scig=True)  # 8 g
HYQVIA = _d("J1575", "00944251002", "ML", 100, 100, 2_050, auth=True, scig=True)  # 10 g
GAMUNEX = _d("J1561", "13533080012", "ML", 20, 100, 8_200, auth=True, scig=True)  # 10 g
PRIVIGEN = _d("J1459", "44206043605", "ML", 60, 300, 8_300, auth=True)  # IVIG 30 g
SCIG_DRUGS = (GAMMAGARD, HIZENTRA, CUVITRU, HYQVIA, GAMUNEX)
IVIG_DRUGS = (PRIVIGEN, GAMMAGARD, GAMUNEX)

# HIT category 1 (Medicare external infusion pump drugs) and their Medicaid analogues.
MILRINONE = _d("J2260", "00409277652", "ML", 10, 50, 1_100)  # 50 mg/day = 10 x 5 mg
DOBUTAMINE = _d("J1250", "00338107302", "ML", 2, 250, 1_400)  # 500 mg = 2 x 250 mg
HYDROMORPHONE = _d("J1170", "00409263401", "ML", 3, 12, 700)  # 12 mg = 3 x 4 mg
MORPHINE = _d("J2270", "00409189001", "ML", 4, 40, 650)  # 40 mg = 4 x 10 mg
ACYCLOVIR = _d("J0133", "63323032510", "ML", 100, 10, 60)  # 500 mg = 100 x 5 mg
GANCICLOVIR = _d("J1570", "00004694003", "UN", 1, 1, 4_800)  # 500 mg
AMPHOTERICIN = _d("J0289", "00469305130", "UN", 35, 7, 2_200)  # 350 mg liposomal
TREPROSTINIL = _d("J3285", "66302010101", "ML", 2, 2, 9_800)  # 2 mg/day
EPOPROSTENOL = _d("J1325", "66215040201", "UN", 3, 1, 3_600)  # 1.5 mg/day
FLUOROURACIL = _d("J9190", "63323011710", "ML", 8, 80, 950, auth=True)  # 4 g / 46 h
CYTARABINE = _d("J9100", "61703031922", "ML", 10, 50, 850, auth=True)  # 1 g
DOXORUBICIN = _d("J9000", "00069303020", "ML", 6, 30, 1_500, auth=True)  # 60 mg
HEPARIN_FLUSH = _d("J1642", "00409115170", "ML", 10, 5, 90)  # 100 units per flush
SALINE_250 = _d("J7050", "00338004902", "ML", 4, 1_000, 1_800)  # 1 L = 4 x 250 cc
INFLIXIMAB_DYYB = _d("Q5103", "00069080901", "UN", 50, 5, 1_700)  # 500 mg = 50 x 10 mg

# Parenteral nutrition (B-codes, one unit per day); the lipid emulsion carries an NDC.
PN_PREMIX = _d("B4189", None, "UN", 1, 1, 26_000)
PN_LIPIDS = _d("B4185", "00338051913", "ML", 5, 250, 3_100)  # 50 g/day = 5 x 10 g
PN_ADDITIVES = _d("B4216", None, "UN", 1, 1, 1_900)
PN_KIT = _d("B4222", None, "UN", 1, 1, 2_400)


class Therapy(NamedTuple):
    name: str
    per_diem: tuple[tuple[str, Drug, int], ...]  # (S-code, drug, doses/day) for Medicaid/CHIP
    g_codes: tuple[str, str] | None  # (subsequent, initial) HIT G-code for MA/IFP; None: none
    g_drugs: tuple[Drug, ...]  # drugs billed alongside G-code visits
    dx: tuple[str, ...]  # billable ICD-10-CM, dotted form; the generator may drop the dot
    span: tuple[int, int]  # inclusive range of therapy days per claim
    pump: str | None  # E0779/E0780/E0781 pump (separately billable outside the per diem)


def _pd(code: str, drugs: tuple[Drug, ...], doses: int) -> tuple[tuple[str, Drug, int], ...]:
    return tuple((code, d, doses) for d in drugs)


THERAPIES: tuple[Therapy, ...] = (
    Therapy(
        "anti-infective",
        ANTI_INFECTIVES,
        ("G0068", "G0088"),
        (ACYCLOVIR, GANCICLOVIR, AMPHOTERICIN, CEFTRIAXONE, DAPTOMYCIN),
        ("M86.171", "A41.9", "L03.115", "N39.0", "T82.7XXA", "B25.9", "B44.9", "A41.01"),
        (3, 14),
        "E0781",
    ),
    Therapy(
        "immunotherapy",
        _pd("S9338", IVIG_DRUGS, 1),
        ("G0069", "G0089"),
        SCIG_DRUGS,
        ("D83.9", "D80.1", "G61.81", "D84.9", "D80.0"),
        (1, 3),
        "E0779",
    ),
    Therapy(
        "inotrope",
        _pd("S9348", (MILRINONE, DOBUTAMINE), 1),
        ("G0068", "G0088"),
        (MILRINONE, DOBUTAMINE),
        ("I50.22", "I50.23", "I50.9"),
        (7, 14),
        "E0781",
    ),
    Therapy(
        "pain",
        _pd("S9326", (HYDROMORPHONE, MORPHINE), 1),
        ("G0068", "G0088"),
        (HYDROMORPHONE, MORPHINE),
        ("G89.3", "C50.911", "C34.90", "C25.9"),
        (7, 14),
        "E0779",
    ),
    Therapy(
        "pulmonary-hypertension",
        _pd("S9347", (TREPROSTINIL, EPOPROSTENOL), 1),
        ("G0068", "G0088"),
        (TREPROSTINIL, EPOPROSTENOL),
        ("I27.0", "I27.21", "I27.20"),
        (7, 14),
        "E0781",
    ),
    Therapy(
        "chemotherapy",
        _pd("S9330", (FLUOROURACIL, CYTARABINE), 1),
        ("G0070", "G0090"),
        (FLUOROURACIL, CYTARABINE, DOXORUBICIN),
        ("C18.9", "C25.9", "C92.00", "C50.911"),
        (2, 5),
        "E0781",
    ),
    Therapy(
        "hydration",
        _pd("S9374", (SALINE_250,), 1),
        None,
        (),
        ("E86.0", "R11.2", "K52.9"),
        (3, 7),
        None,
    ),
    Therapy(
        "parenteral-nutrition",
        _pd("S9365", (PN_PREMIX,), 1),
        None,
        (PN_PREMIX,),
        ("K90.9", "K91.2", "E43", "K50.90", "E44.0"),
        (7, 14),
        None,
    ),
)
# Relative frequency of each therapy, by code-set family (same order as THERAPIES).
THERAPY_WEIGHTS_S = (34, 14, 8, 10, 4, 6, 12, 12)
THERAPY_WEIGHTS_G = (24, 26, 12, 12, 8, 10, 0, 8)

# Charges in cents: per day for per diems, per visit/hour/unit otherwise.
CENTS = {
    "S9500": 15_000, "S9501": 17_500, "S9502": 19_500, "S9503": 21_500, "S9338": 32_000,
    "S9348": 16_500, "S9326": 14_000, "S9347": 21_000, "S9330": 28_000, "S9374": 9_500,
    "S9365": 18_000, "S5502": 1_500, "S5498": 3_200, "99601": 17_500, "99602": 8_500,
    "S9123": 9_000, "G0068": 6_500, "G0069": 7_000, "G0070": 8_000, "G0088": 9_500,
    "G0089": 10_500, "G0090": 11_500, "E0779": 4_500, "E0781": 19_000, "A4222": 2_600,
    "A4221": 5_800, "B9004": 31_000,
}  # fmt: skip

# Non-home places of service used for the "wrong POS" defect: office, outpatient hospital,
# assisted living (home-like, but RB.046.A requires 12), infusion suite in an independent clinic.
WRONG_POS = ("11", "22", "13", "49")
# Non-billable ICD-10-CM categories/subcategories a provider might send by mistake.
NON_BILLABLE_DX = ("E11", "D80", "I50", "M86.17", "I27.2")
# A real labeler prefix with the product/package written in the 10-digit hyphenated form.
HYPHENATED_NDC = "0944-2700-02"


def _with_check_digit(body: str) -> str:
    """The NPI whose first nine digits are `body` (the engine's check, the one definition)."""
    return next(body + digit for digit in "0123456789" if valid_npi(body + digit))


def _npi_pool(rng: random.Random, size: int) -> tuple[str, ...]:
    return tuple(_with_check_digit(f"1{rng.randrange(10**8):08d}") for _ in range(size))


# Provider pools do not depend on the generator seed: the same home infusion agencies (each
# with its contract) and the same nurses bill in every run.
_POOLS = random.Random(0x046A)  # noqa: S311 - synthetic test data, not security
BILLING_NPIS = _npi_pool(_POOLS, 40)
RENDERING_NPIS = _npi_pool(_POOLS, 200)
CONTRACTS = tuple(f"JHP-HIT-{i:03d}" for i in range(len(BILLING_NPIS)))

LINE_COUNTS = (1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 6)  # lines per claim when not fixed
# Lines after the main service line and the drug, in order. Past the end, nursing visits
# (Medicaid/CHIP) or G-code visit days (MA/IFP) repeat, so any line count can be met exactly.
S_FILLERS = ("99601", "99602", "J1642", "S5502")
PN_FILLERS = ("B4185", "B4222", "99601", "B4216", "99602")
G_FILLERS = ("pump", "A4222", "visit", "A4221")
PN_G_LINES = 4  # B4189, B4185, B4222, B9004: an MA/IFP PN claim (no G-code) has no more lines
PN_PARTS = {"B4185": PN_LIPIDS, "B4222": PN_KIT, "B4216": PN_ADDITIVES}
