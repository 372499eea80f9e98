//! Decisions as Python sees them: small frozen value classes.

use pyo3::prelude::*;

use crate::claim::Claim;
use crate::compare;
use crate::engine::{self, Outcome, Verdict};

/// One reason of a decision (SPEC §2.3 `Reason`).
#[pyclass(module = "consumer._native", frozen, get_all, eq)]
#[derive(Clone, PartialEq)]
pub struct Reason {
    pub rule_id: String,
    /// None: the reason is about the claim, not one line.
    pub line_number: Option<i32>,
    /// None for an informational reason (the claim is not pended for it).
    pub carc: Option<String>,
    pub rarc: Option<String>,
    pub message: String,
}

#[pymethods]
impl Reason {
    fn __repr__(&self) -> String {
        format!(
            "Reason({:?}, line {:?}, {:?}/{:?})",
            self.rule_id, self.line_number, self.carc, self.rarc
        )
    }
}

/// A claim's decision: ACCEPTED or PENDED, with its reasons.
#[pyclass(module = "consumer._native", frozen, get_all)]
pub struct Decision {
    pub decision: &'static str,
    pub reasons: Vec<Reason>,
    pub policy_id: String,
    pub rule_set_version: String,
}

#[pymethods]
impl Decision {
    fn __repr__(&self) -> String {
        let ids: Vec<&str> = self.reasons.iter().map(|r| r.rule_id.as_str()).collect();
        format!("Decision({}, {ids:?})", self.decision)
    }
}

/// One rule's verdict on one claim, for `explain`.
#[pyclass(module = "consumer._native", frozen, get_all)]
pub struct RuleVerdict {
    pub rule_id: &'static str,
    /// What the rule requires, in the words of the billing policy.
    pub summary: &'static str,
    /// "pass", "fail", or "off" (switched off by the rule set or the claim's contract).
    pub status: &'static str,
    pub reasons: Vec<Reason>,
}

/// How two rule sets' decisions of one claim differ (see `Engine.compare`).
#[pyclass(module = "consumer._native", frozen, get_all)]
pub struct Difference {
    pub event_id: String,
    pub claim_id: String,
    pub before: &'static str,
    pub after: &'static str,
    /// (rule id, "+" added / "-" removed / "~" changed lines or reason codes), by rule id.
    pub rules: Vec<(&'static str, char)>,
}

pub fn reasons(outcome: &Outcome) -> Vec<Reason> {
    let reasons = outcome.reasons.iter();
    reasons
        .map(|r| Reason {
            rule_id: r.rule_id().to_owned(),
            line_number: r.line_number,
            carc: r.carc().map(str::to_owned),
            rarc: r.rarc().map(str::to_owned),
            message: r.message.clone(),
        })
        .collect()
}

pub fn decision(outcome: &Outcome) -> Decision {
    Decision {
        decision: outcome.decision(),
        reasons: reasons(outcome),
        policy_id: outcome.policy_id.to_owned(),
        rule_set_version: outcome.rule_set_version.to_owned(),
    }
}

/// The decision and every rule's verdict (`explain`).
pub fn explanation(outcome: &Outcome) -> (Decision, Vec<RuleVerdict>) {
    let decision = decision(outcome);
    let verdicts = verdicts(outcome, &decision.reasons);
    (decision, verdicts)
}

fn verdicts(outcome: &Outcome, reasons: &[Reason]) -> Vec<RuleVerdict> {
    let verdicts = engine::verdicts(outcome).into_iter();
    verdicts
        .map(|(rule, verdict, mine)| RuleVerdict {
            rule_id: rule.id(),
            summary: rule.summary(),
            status: match verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "fail",
                Verdict::Off => "off",
            },
            reasons: mine.iter().map(|i| reasons[*i].clone()).collect(),
        })
        .collect()
}

pub fn difference(claim: &Claim, diff: compare::Difference) -> Difference {
    let name = |pended| if pended { "PENDED" } else { "ACCEPTED" };
    Difference {
        event_id: claim.event_id.to_owned(),
        claim_id: claim.claim_id.to_owned(),
        before: name(diff.before_pended),
        after: name(diff.after_pended),
        rules: (diff.rules.into_iter())
            .map(|(rule, change)| (rule, change.sign()))
            .collect(),
    }
}
