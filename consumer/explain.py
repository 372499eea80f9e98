"""`explain`: a claim's decision in words a billing analyst can act on, rule by rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumer.engine import Outcome, RuleResult
from consumer.reason_codes import describe


def _where(reason: dict[str, Any]) -> str:
    return f"line {reason['line_number']}" if reason["line_number"] is not None else "claim"


def render(claim: dict[str, Any], outcome: Outcome, results: Iterable[RuleResult]) -> str:
    """A block of text: the verdict, what to fix (with reason codes), then every rule's status."""
    out = [
        f"Claim {claim['claim_id']} (event {claim['event_id']}), "
        f"{claim['line_of_business']}, {len(claim['lines'])} line(s): {outcome.decision}",
        f"  policy {outcome.policy_id}, rule set {outcome.rule_set_version}",
    ]
    actionable = [r for r in outcome.reasons if r["carc"]]
    notes = [r for r in outcome.reasons if not r["carc"]]
    if actionable:
        out.append("  Why it was pended (fix these and resubmit):")
        for reason in actionable:
            out.append(f"    - {_where(reason)}: {reason['message']}")
            out.append(f"      [{reason['rule_id']}] {describe(reason['carc'], reason['rarc'])}")
    for note in notes:
        out.append(f"  Note: {note['message']}")
    results = list(results)
    if results:
        out.append("  Rules:")
        width = max(len(r.rule_id) for r in results)
        for result in sorted(results, key=lambda r: (r.status != "fail", r.rule_id)):
            status = {"fail": "FAIL", "pass": "pass", "off": "off "}[result.status]
            out.append(f"    {status}  {result.rule_id:<{width}}  {result.summary}")
            for reason in result.reasons:
                out.append(f"          {_where(reason)}: {reason['message']}")
    return "\n".join(out) + "\n"
