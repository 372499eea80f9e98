"""Plain-language texts of the X12 claim adjustment reason codes (CARC) and remittance advice
remark codes (RARC) the shipped rule set uses, so `explain` can say what a code means.

Texts from the X12 lists as quoted in ../shared/domain/home-infusion-billing-research.md §5.3
(a ~2019 copy; X12 revises wording three times a year). Unknown codes are shown bare.
"""

from __future__ import annotations

CARC = {
    "4": "The procedure code is inconsistent with the modifier used, or a required modifier is "
    "missing.",
    "5": "The procedure code/type of bill is inconsistent with the place of service.",
    "16": "Claim/service lacks information or has submission/billing error(s).",
    "18": "Exact duplicate claim/service.",
    "97": "The benefit for this service is included in the payment/allowance for another "
    "service/procedure.",
    "109": "Claim/service not covered by this payer/contractor.",
    "110": "Billing date predates service date.",
    "146": "Diagnosis was invalid for the date(s) of service reported.",
    "181": "Procedure code was invalid on the date of service.",
    "197": "Precertification/authorization/notification/pre-treatment absent.",
    "207": "National Provider Identifier - invalid format.",
    "231": "Mutually exclusive procedures cannot be done in the same day/setting.",
    "267": "Claim/service spans multiple months.",
    "268": "The claim spans two calendar years. Please resubmit one claim per calendar year.",
}

RARC = {
    "M47": "Missing/incomplete/invalid payer claim control number.",
    "M53": "Missing/incomplete/invalid days or units of service.",
    "M59": "Missing/incomplete/invalid 'to' date(s) of service.",
    "M62": "Missing/incomplete/invalid treatment authorization code.",
    "M76": "Missing/incomplete/invalid diagnosis or condition.",
    "M77": "Missing/incomplete/invalid/inappropriate place of service.",
    "M79": "Missing/incomplete/invalid charge.",
    "M81": "You are required to code to the highest level of specificity.",
    "M84": "Medical code sets used must be the codes in effect at the time of service.",
    "M119": "Missing/incomplete/invalid/deactivated/withdrawn National Drug Code (NDC).",
    "M123": "Missing/incomplete/invalid name, strength, or dosage of the drug furnished.",
    "N63": "Rebill services on separate claim lines.",
    "N74": "Resubmit with multiple claims, each claim covering services provided in only one "
    "calendar month.",
    "N122": "Add-on code cannot be billed by itself.",
    "N257": "Missing/incomplete/invalid billing provider/supplier primary identifier.",
    "N290": "Missing/incomplete/invalid rendering provider primary identifier.",
    "N345": "Date range not valid with units submitted.",
    "N350": "Missing/incomplete/invalid description of service for a Not Otherwise Classified "
    "(NOC) code.",
    "N379": "Claim level information does not match line level information.",
    "N382": "Missing/incomplete/invalid patient identifier.",
    "N390": "This service/report cannot be billed separately.",
    "N657": "This should be billed with the appropriate code for these services.",
}


def describe(carc: str | None, rarc: str | None) -> str:
    """`CARC 16 (text) / RARC M77 (text)` for a reason's codes; empty for informational ones."""
    parts = []
    if carc:
        parts.append(f"CARC {carc}" + (f" ({CARC[carc]})" if carc in CARC else ""))
    if rarc:
        parts.append(f"RARC {rarc}" + (f" ({RARC[rarc]})" if rarc in RARC else ""))
    return " / ".join(parts)
