"""Drug lines: J/Q/B codes, the number of infusions, and the NDC (loop 2410) requirements."""

from __future__ import annotations

from collections.abc import Iterator

from consumer.engine.context import ClaimContext
from consumer.engine.registry import Finding, rule

_DRUG_CODE_LETTERS = ("J", "Q", "B")


@rule("drug.code-not-jqb", "A line that identifies a drug by NDC bills a J, Q or B code.")
def drug_code_not_jqb(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.ndc is not None and not line.code.startswith(_DRUG_CODE_LETTERS):
            yield Finding(
                line.number,
                f"{line.code} carries an NDC but is not a drug code; bill the drug with its "
                "J, Q or B code.",
            )


@rule("drug.infusions", "A J- or Q-code drug line states the number of infusions (at least 1).")
def drug_infusions(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.info.is_jq_drug and (line.infusions is None or line.infusions < 1):
            yield Finding(
                line.number,
                f"Drug {line.code} does not state how many infusions were administered.",
            )


@rule(
    "ndc.code",
    "A J- or Q-code drug line carries an 11-digit NDC (no hyphens) with qualifier N4.",
)
def ndc_code(ctx: ClaimContext) -> Iterator[Finding]:
    qualifier = ctx.policy.ndc_qualifier
    for line in ctx.lines:
        if not line.info.is_jq_drug:
            continue
        ndc = line.ndc
        if ndc is None:
            yield Finding(line.number, f"Drug {line.code} has no NDC.")
            continue
        code = ndc["code"]
        # Taken as submitted: a hyphenated or 10-digit NDC must be re-billed in 5-4-2 form.
        if not (len(code) == 11 and code.isascii() and code.isdigit()):
            yield Finding(line.number, f"NDC {code!r} is not 11 digits in 5-4-2 form.")
        elif ndc["qualifier"].strip().upper() != qualifier:
            yield Finding(line.number, f"NDC qualifier {ndc['qualifier']!r} should be {qualifier}.")


@rule("ndc.quantity", "An NDC has a valid unit of measure and a quantity greater than 0.")
def ndc_quantity(ctx: ClaimContext) -> Iterator[Finding]:
    units = ctx.policy.ndc_units
    for line in ctx.lines:
        ndc = line.ndc
        if ndc is None:
            continue
        unit = ndc["unit"].strip().upper()
        quantity = ndc["quantity"]
        if unit not in units:
            yield Finding(
                line.number,
                f"NDC unit {ndc['unit']!r} is not one of {', '.join(sorted(units))}.",
            )
        elif quantity is None or not quantity > 0:  # NaN fails `> 0` too
            yield Finding(line.number, f"NDC quantity {quantity} is not greater than 0.")
