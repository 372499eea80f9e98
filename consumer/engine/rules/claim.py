"""Claim-level facts: providers, member, plan, charges, frequency, and authorization."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from consumer.engine.context import ClaimContext
from consumer.engine.registry import Finding, rule
from consumer.npi import is_valid_npi as _is_valid_npi

# A plan sees the same few thousand provider NPIs over and over.
is_valid_npi = lru_cache(maxsize=16384)(_is_valid_npi)


@rule("npi.billing", "The billing provider NPI is present and passes the NPI check digit.")
def npi_billing(ctx: ClaimContext) -> Iterator[Finding]:
    if not is_valid_npi(ctx.claim["billing_npi"] or ""):
        yield Finding(None, "The billing provider NPI is missing or fails the NPI check digit.")


@rule("npi.rendering", "Any rendering provider NPI passes the NPI check digit.")
def npi_rendering(ctx: ClaimContext) -> Iterator[Finding]:
    claim_npi = ctx.claim["rendering_npi"]
    if claim_npi is not None and not is_valid_npi(claim_npi):
        yield Finding(None, "The claim's rendering provider NPI fails the NPI check digit.")
    for line in ctx.lines:
        if line.rendering_npi is not None and not is_valid_npi(line.rendering_npi):
            yield Finding(line.number, "The line's rendering provider NPI fails the check digit.")


@rule("member.missing", "The claim identifies the member.")
def member_missing(ctx: ClaimContext) -> Iterator[Finding]:
    if not ctx.claim["member_id"].strip():
        yield Finding(None, "The member id is empty.")


@rule("lob.unknown", "The claim's line of business is one this policy covers.")
def lob_unknown(ctx: ClaimContext) -> Iterator[Finding]:
    if ctx.lob == "UNKNOWN":
        yield Finding(
            None,
            "The line of business is unknown; the claim cannot be matched to a plan "
            "(Medicare Advantage, Individual & Family, CHIP or Medicaid).",
        )


@rule("charges.line", "Every line charge is greater than 0.")
def charges_line(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if not line.charge > 0:
            yield Finding(line.number, f"Line charge {line.charge} is not greater than 0.")


@rule("charges.total", "The claim total equals the sum of the line charges.")
def charges_total(ctx: ClaimContext) -> Iterator[Finding]:
    total = ctx.claim["total_charge"]
    lines_sum = sum([line.charge for line in ctx.all_lines])
    if total != lines_sum:
        yield Finding(
            None, f"Total charge {total} does not equal the line charges' sum {lines_sum}."
        )


@rule(
    "frequency.payer-claim-number",
    "A replacement or void names the payer claim number of the claim it changes.",
)
def frequency_payer_claim_number(ctx: ClaimContext) -> Iterator[Finding]:
    claim = ctx.claim
    if claim["frequency"] != "ORIGINAL" and not (claim["payer_claim_number"] or "").strip():
        yield Finding(
            None,
            f"A {claim['frequency'].lower()} claim must give the original payer claim number.",
        )


@rule(
    "auth.missing",
    "Codes that need prior authorization for the plan carry an authorization number "
    "(on the line or the claim).",
)
def auth_missing(ctx: ClaimContext) -> Iterator[Finding]:
    policy, lob = ctx.policy, ctx.lob
    for line in ctx.lines:
        if not line.has_auth and policy.needs_authorization(
            line.code, line.info.prior_authorization, lob
        ):
            yield Finding(
                line.number,
                f"{line.code} needs prior authorization for {lob}; none is on the line or claim.",
            )
