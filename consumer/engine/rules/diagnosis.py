"""Diagnoses: present, pointed to correctly, and billable ICD-10-CM codes."""

from __future__ import annotations

from collections.abc import Iterator

from consumer.engine.context import ClaimContext
from consumer.engine.icd10 import is_billable
from consumer.engine.registry import Finding, rule

# The pointers that exist on a claim with n diagnosis codes (1..n), made once per n.
_VALID_POINTERS = tuple(frozenset(range(1, n + 1)) for n in range(13))


@rule(
    "diagnosis.missing",
    "The claim has a diagnosis, and every line points to at least one that exists.",
)
def diagnosis_missing(ctx: ClaimContext) -> Iterator[Finding]:
    count = len(ctx.claim["diagnosis_codes"])
    if count == 0:
        yield Finding(None, "The claim has no diagnosis code.")
        return
    # Pointers are ints, so "all in 1..count" is one set test.
    if count < len(_VALID_POINTERS):
        valid = _VALID_POINTERS[count]
    else:
        valid = frozenset(range(1, count + 1))
    for line in ctx.lines:
        if not line.pointers:
            yield Finding(line.number, "The line does not point to any diagnosis.")
        elif not valid.issuperset(line.pointers):
            bad = ", ".join(str(p) for p in line.pointers if not 1 <= p <= count)
            yield Finding(
                line.number,
                f"Diagnosis pointer(s) {bad} point past the claim's {count} diagnosis code(s).",
            )


@rule(
    "diagnosis.invalid",
    "Every diagnosis is a valid, billable ICD-10-CM code (coded to the highest specificity).",
)
def diagnosis_invalid(ctx: ClaimContext) -> Iterator[Finding]:
    for position, code in enumerate(ctx.claim["diagnosis_codes"], start=1):
        if not is_billable(code):
            yield Finding(
                None,
                f"Diagnosis {position} ({code}) is not a billable ICD-10-CM code; code it to "
                "the highest level of specificity.",
            )
