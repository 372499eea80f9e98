"""Which codes may be billed, and with what: code sets by line of business, effective dates,
mutually exclusive and add-on codes, bundling into per-diems, route modifiers, NOC narratives."""

from __future__ import annotations

from collections.abc import Iterator

from consumer.engine.context import ClaimContext
from consumer.engine.registry import Finding, rule

_GROUP_NAMES = {
    "hit_professional": "HIT professional services G-code",
    "home_infusion_s_code": "home infusion S-code",
    "home_nursing": "home infusion nursing code",
}


@rule(
    "lob.code-set",
    "Medicaid and CHIP bill home infusion with S-codes; Medicare Advantage and Individual & "
    "Family plans with HIT G-codes (contracts may vary this).",
)
def lob_code_set(ctx: ClaimContext) -> Iterator[Finding]:
    not_billable = ctx.policy.not_billable.get(ctx.lob)
    if not not_billable:
        return
    for line in ctx.lines:
        barred = line.info.groups & not_billable
        if barred:
            group = _GROUP_NAMES.get(min(barred), min(barred))
            yield Finding(
                line.number,
                f"{line.code} is a {group}, which {ctx.lob} claims may not bill under "
                f"{ctx.policy.policy_id}; use the code set of the member's plan.",
            )


@rule("code.not-effective", "Every procedure code is in effect on its dates of service.")
def code_not_effective(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        start, end = line.info.effective_from, line.info.effective_to
        if (start is not None and line.date_from < start) or (
            end is not None and line.date_to > end
        ):
            yield Finding(
                line.number,
                f"{line.code} is in effect from {start or 'the start'} to {end or 'now'}, "
                f"not on {line.date_from} to {line.date_to}.",
            )


@rule(
    "codes.mutually-exclusive",
    "Codes whose descriptors exclude each other are not billed on overlapping days.",
)
def codes_mutually_exclusive(ctx: ClaimContext) -> Iterator[Finding]:
    lines = ctx.lines
    for line in lines:
        if line.info.has_exclusions:
            break
    else:
        return
    for i, later in enumerate(lines):
        for earlier in lines[:i]:
            a, b = earlier.info, later.info
            if not (
                later.code in a.exclusive_with
                or b.kind in a.exclusive_with_kinds
                or a.kind in b.exclusive_with_kinds
            ):
                continue
            if later.overlaps(earlier):
                yield Finding(
                    later.number,
                    f"{later.code} may not be billed with {earlier.code} (line {earlier.number}) "
                    "on the same days.",
                )


@rule("addon.primary-missing", "An add-on code (99602) is billed with its primary code that day.")
def addon_primary_missing(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        primary = line.info.add_on_to
        if primary is None:
            continue
        if not any(other.code == primary and other.overlaps(line) for other in ctx.all_lines):
            yield Finding(
                line.number,
                f"Add-on code {line.code} needs {primary} billed for the same day.",
            )


@rule(
    "bundled.per-diem",
    "Pumps and infusion supplies are not billed on days a per-diem S-code already pays for them "
    "(Medicaid and CHIP).",
)
def bundled_per_diem(ctx: ClaimContext) -> Iterator[Finding]:
    if ctx.lob not in ctx.policy.bundling_lines_of_business:
        return
    per_diems = [line for line in ctx.lines if line.info.kind == "per_diem"]
    for line in ctx.lines:
        if not line.info.bundled_into_per_diem:
            continue
        cover = next((p for p in per_diems if p.overlaps(line)), None)
        if cover is not None:
            yield Finding(
                line.number,
                f"{line.code} is included in per-diem {cover.code} (line {cover.number}) for "
                "the same days and cannot be billed separately.",
            )


@rule(
    "modifier.route", "Drugs that need a route modifier for the plan carry it (e.g. JB for SCIG)."
)
def modifier_route(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        required = line.info.required_modifiers.get(ctx.lob)
        if not required:
            continue
        missing = [m for m in required if m not in line.modifiers]
        if missing:
            yield Finding(
                line.number,
                f"{line.code} needs modifier {', '.join(missing)} "
                "(administered subcutaneously) for this plan.",
            )


@rule("noc.description", "A not-otherwise-classified code has a description of the service.")
def noc_description(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.info.not_otherwise_classified and line.description is None:
            yield Finding(
                line.number,
                f"{line.code} is a not-otherwise-classified code; describe the drug or service "
                "(name, strength, dosage).",
            )
