"""The decision engine: one claim record in, one outcome (ACCEPTED or PENDED, with reasons) out.

Pure and broker-free: the Kafka loop, the offline CLI and the tests all call `Engine.decide`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from consumer.engine.context import ClaimContext, line_views
from consumer.engine.registry import Finding, all_rules
from consumer.engine.ruleset import RuleSet, is_rule_set_file, load_rule_set
from consumer.errors import RuleSetError

ACCEPTED = "ACCEPTED"
PENDED = "PENDED"
NOT_IN_EFFECT = "policy.not-in-effect"

# The rules/ folder of a source checkout; a deployment points INFUSION_VALIDATOR_RULES at its own.
DEFAULT_RULES_PATH = Path(__file__).resolve().parents[2] / "rules"


class Outcome(NamedTuple):
    decision: str
    reasons: list[dict[str, Any]]
    policy_id: str
    rule_set_version: str


class RuleResult(NamedTuple):
    """One rule's verdict on one claim, for `explain`."""

    rule_id: str
    summary: str
    status: str  # "pass", "fail", or "off" (disabled by the rule set or contract)
    reasons: list[dict[str, Any]]


def _reason(rule_id: str, carc: str | None, rarc: str | None, finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "line_number": finding.line_number,
        "carc": carc,
        "rarc": rarc,
        "message": finding.message,
    }


class Engine:
    """Decides claims under the rule set(s) of one policy, effective-dated."""

    def __init__(self, rule_sets: Iterable[RuleSet]) -> None:
        self.rule_sets = sorted(rule_sets, key=lambda rs: rs.effective_from)
        if not self.rule_sets:
            raise RuleSetError("no rule set to decide with")
        self.latest = self.rule_sets[-1]
        # The common case, one rule set: no search per claim (its dates are still checked).
        self._only = self.rule_sets[0] if len(self.rule_sets) == 1 else None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Engine:
        """From a rule-set file, or every rule-set file in a folder (default: `rules/`)."""
        target = Path(path or os.environ.get("INFUSION_VALIDATOR_RULES") or DEFAULT_RULES_PATH)
        if target.is_dir():
            files = sorted(p for p in target.glob("*.yaml") if is_rule_set_file(p))
            if not files:
                raise RuleSetError(f"{target}: no rule-set file (a YAML file with a policy_id)")
            return cls(load_rule_set(p) for p in files)
        if not target.exists():
            raise RuleSetError(f"{target}: no such rule-set file or folder")
        return cls([load_rule_set(target)])

    @property
    def versions(self) -> list[str]:
        return [rs.version for rs in self.rule_sets]

    def rule_set_for(self, last_day: date) -> RuleSet | None:
        """The rule set in effect on the claim's last date of service, if any."""
        for rule_set in reversed(self.rule_sets):
            if rule_set.in_effect(last_day):
                return rule_set
        return None

    def _prepare(self, claim: dict[str, Any]) -> ClaimContext | Outcome:
        last_day: date | None = None
        for line in claim["lines"]:
            day = line["service_date_to"] or line["service_date_from"]
            if last_day is None or day > last_day:
                last_day = day
        if last_day is None:
            last_day = claim["submitted_at"].date()
        only = self._only
        if only is not None:
            rule_set = only if only.in_effect(last_day) else None
        else:
            rule_set = self.rule_set_for(last_day)
        if rule_set is None:
            note = {
                "rule_id": NOT_IN_EFFECT,
                "line_number": None,
                "carc": None,
                "rarc": None,
                "message": f"No {self.latest.policy_id} rule set is in effect on the dates of "
                f"service (policy effective {self.rule_sets[0].effective_from}); not reviewed.",
            }
            return Outcome(ACCEPTED, [note], self.latest.policy_id, self.latest.version)
        policy = rule_set.policy_for(claim["contract_id"])
        views = line_views(claim, rule_set.catalogue)
        effective = policy.effective_from
        in_scope = [v for v in views if v.date_to >= effective]
        return ClaimContext(claim, views, in_scope, policy)

    def decide(self, claim: dict[str, Any]) -> Outcome:
        """Run every active rule; PENDED if any of them reports a reason with a CARC."""
        ctx = self._prepare(claim)
        if isinstance(ctx, Outcome):
            return ctx
        policy = ctx.policy
        reasons: list[dict[str, Any]] = []
        pended = False
        for active in policy.rules:
            rule = active.rule
            for finding in rule.check(ctx):
                reasons.append(_reason(rule.rule_id, active.carc, active.rarc, finding))
                if active.carc:
                    pended = True
        return Outcome(PENDED if pended else ACCEPTED, reasons, policy.policy_id, policy.version)

    def explain(self, claim: dict[str, Any]) -> tuple[Outcome, list[RuleResult]]:
        """The decision plus every registered rule's verdict, for a human reader."""
        outcome = self.decide(claim)
        ctx = self._prepare(claim)
        if isinstance(ctx, Outcome):
            return outcome, []
        active = {a.rule.rule_id: a for a in ctx.policy.rules}
        results = []
        for rule_id, rule in sorted(all_rules().items()):
            if rule_id not in active:
                results.append(RuleResult(rule_id, rule.summary, "off", []))
                continue
            found = [r for r in outcome.reasons if r["rule_id"] == rule_id]
            results.append(RuleResult(rule_id, rule.summary, "fail" if found else "pass", found))
        return outcome, results
