"""`explain`: a claim's decision in words a billing analyst can act on, rule by rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consumer.engine import Decision, Difference, Reason, RuleVerdict
from consumer.engine.reason_codes import describe

_STATUS = {"fail": "FAIL", "pass": "pass", "off": "off "}


def _lines(claim: dict[str, Any]) -> dict[int, str]:
    """Each line number's code and dates, so a reason says which service it is about."""
    described = {}
    for line in claim["lines"]:
        start, end = line["service_date_from"], line["service_date_to"]
        dates = str(start) if end is None or end == start else f"{start} to {end}"
        described[line["line_number"]] = f"{line['procedure_code'].strip()}, {dates}"
    return described


def _where(reason: Reason, lines: dict[int, str]) -> str:
    if reason.line_number is None:
        return "claim"
    what = lines.get(reason.line_number)
    return f"line {reason.line_number}" + (f" ({what})" if what else "")


def render(claim: dict[str, Any], decision: Decision, verdicts: Sequence[RuleVerdict]) -> str:
    """A block of text: the verdict, what to fix (with reason codes), then every rule's status."""
    lines = _lines(claim)
    out = [
        f"Claim {claim['claim_id']} (event {claim['event_id']}), "
        f"{claim['line_of_business']}, {len(claim['lines'])} line(s): {decision.decision}",
        f"  policy {decision.policy_id}, rule set {decision.rule_set_version}",
    ]
    # By line (claim-level first), each line's reasons in rule order: how an analyst fixes it.
    actionable = sorted((r for r in decision.reasons if r.carc), key=lambda r: r.line_number or 0)
    notes = [r for r in decision.reasons if not r.carc]
    if actionable:
        out.append("  Why it was pended (fix these and resubmit):")
        for reason in actionable:
            out.append(f"    - {_where(reason, lines)}: {reason.message}")
            out.append(f"      [{reason.rule_id}] {describe(reason.carc, reason.rarc)}")
    for note in notes:
        where = "" if note.line_number is None else f"{_where(note, lines)}: "
        out.append(f"  Note: {where}{note.message}")
    if verdicts:
        out.append("  Rules:")
        width = max(len(v.rule_id) for v in verdicts)
        for verdict in sorted(verdicts, key=lambda v: (v.status != "fail", v.rule_id)):
            out.append(
                f"    {_STATUS[verdict.status]}  {verdict.rule_id:<{width}}  {verdict.summary}"
            )
            for reason in verdict.reasons:
                out.append(f"          {_where(reason, lines)}: {reason.message}")
    return "\n".join(out) + "\n"


def _key(reason: Reason) -> tuple[str, int, str, str]:
    return reason.rule_id, reason.line_number or 0, reason.carc or "", reason.rarc or ""


def render_against(
    claim: dict[str, Any], base: Decision, other: Decision, difference: Difference | None
) -> str:
    """One claim under two rule sets, side by side: both decisions, then the reasons only one
    of them gives and those both give (compared as `replay --diff` compares)."""
    lines = _lines(claim)
    head = (
        f"Claim {claim['claim_id']} (event {claim['event_id']}), {claim['line_of_business']}: "
        f"{base.decision} under {base.rule_set_version}, "
        f"{other.decision} under {other.rule_set_version}"
    )
    if difference is None:
        return head + "\n  Same decision and reasons under both.\n"
    changes = " ".join(f"{sign}{rule}" for rule, sign in difference.rules)
    out = [head, f"  Differs: {changes or 'the decision only'}"]
    theirs = {_key(r) for r in other.reasons}
    mine = {_key(r) for r in base.reasons}
    groups = (
        (f"Only under {other.rule_set_version}", [r for r in other.reasons if _key(r) not in mine]),
        (f"Only under {base.rule_set_version}", [r for r in base.reasons if _key(r) not in theirs]),
        ("Under both", [r for r in base.reasons if _key(r) in theirs]),
    )
    for title, reasons in groups:
        if not reasons:
            continue
        out.append(f"  {title}:")
        for reason in reasons:
            codes = describe(reason.carc, reason.rarc) or "informational"
            out.append(f"    - {_where(reason, lines)}: {reason.message}")
            out.append(f"      [{reason.rule_id}] {codes}")
    return "\n".join(out) + "\n"
