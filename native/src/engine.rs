//! One decoded claim in, one outcome out: the rule set in effect on its last date of service
//! picks the policy (contract overrides applied), every active rule runs, and the claim is
//! PENDED when any reason carries a CARC.

use crate::claim::Claim;
use crate::history::MemberHistory;
use crate::rules::{Context, Findings, LineView, RuleId};
use crate::ruleset::catalogue::Catalogue;
use crate::ruleset::policy::{ActiveRule, Policy};
use crate::ruleset::RuleSets;
use crate::text::{iso_date, normalise, present};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// The informational reason of a claim no rule set governs.
pub const NOT_IN_EFFECT: &str = "policy.not-in-effect";

pub struct Reason<'c> {
    /// None for the informational "not in effect" note.
    pub rule: Option<&'c ActiveRule>,
    pub line_number: Option<i32>,
    pub message: String,
}

impl Reason<'_> {
    pub fn rule_id(&self) -> &'static str {
        self.rule.map_or(NOT_IN_EFFECT, |active| active.rule.id())
    }

    pub fn carc(&self) -> Option<&str> {
        self.rule.and_then(|active| active.carc.as_deref())
    }

    pub fn rarc(&self) -> Option<&str> {
        self.rule.and_then(|active| active.rarc.as_deref())
    }

    /// What `replay --diff` compares: everything but the wording.
    pub fn key(&self) -> (&'static str, Option<i32>, Option<&str>, Option<&str>) {
        (self.rule_id(), self.line_number, self.carc(), self.rarc())
    }
}

pub struct Outcome<'c> {
    pub pended: bool,
    /// In rule registry order; within a rule, in the order the rule found them.
    pub reasons: Vec<Reason<'c>>,
    pub policy_id: &'c str,
    pub rule_set_version: &'c str,
    /// The policy that decided the claim; None when no rule set is in effect.
    pub policy: Option<&'c Policy>,
}

impl Outcome<'_> {
    pub fn decision(&self) -> &'static str {
        if self.pended {
            "PENDED"
        } else {
            "ACCEPTED"
        }
    }
}

/// The last date of service of a line: its to-date, or its from-date when there is none or
/// the span is reversed (a reversed line is still judged, by `dates.invalid`).
fn last_day(from: i32, to: Option<i32>) -> i32 {
    to.map_or(from, |to| to.max(from))
}

impl RuleSets {
    /// The decision of `claim`; `history` is its member's history before it (None: no
    /// history is kept, and the history rules find nothing).
    pub fn decide<'c>(&'c self, claim: &Claim, history: Option<&MemberHistory>) -> Outcome<'c> {
        self.decide_with(claim, history, &mut Lines::default(), true)
    }

    /// `decide`, with the claim's line views kept in `lines` for another rule set deciding the
    /// same claim, and with every rule's message left empty unless `messages` (a decision that
    /// is only compared with another needs none: `compare` reads all but the wording).
    pub fn decide_with<'c, 'a>(
        &'c self,
        claim: &'a Claim<'a>,
        history: Option<&'a MemberHistory>,
        lines: &mut Lines<'c, 'a>,
        messages: bool,
    ) -> Outcome<'c> {
        let last = claim
            .lines
            .iter()
            .map(|l| last_day(l.service_date_from, l.service_date_to));
        // No lines: the decoders dead-letter such records before they get here.
        let day = last.max().unwrap_or(0);
        let Some(rule_set) = self.in_effect_on(day) else {
            return self.not_in_effect();
        };
        let policy = rule_set.policy_for(claim.contract_id);
        let views = lines.views(claim, &rule_set.catalogue);
        let ctx = Context {
            claim,
            policy,
            catalogue: &rule_set.catalogue,
            lob: claim.line_of_business,
            submitted_on: claim.submitted_at_millis.div_euclid(MILLIS_PER_DAY) as i32,
            lines: (views.iter())
                .filter(|v| last_day(v.date_from, Some(v.date_to)) >= policy.effective_from)
                .collect(),
            all_lines: views,
            billable_diagnoses: &self.billable_diagnoses,
            history,
        };
        let mut findings = Findings {
            reasons: Vec::new(),
            rule: None,
            messages,
        };
        for active in &policy.rules {
            findings.rule = Some(active);
            active.rule.check(&ctx, &mut findings);
        }
        let reasons = findings.reasons;
        Outcome {
            pended: reasons
                .iter()
                .any(|r| r.rule.is_some_and(ActiveRule::pends)),
            reasons,
            policy_id: &policy.policy_id,
            rule_set_version: &policy.version,
            policy: Some(policy),
        }
    }

    fn not_in_effect(&self) -> Outcome<'_> {
        let latest = &self.latest().default;
        let message = format!(
            "No {} rule set is in effect on the dates of service (policy effective {}); not \
             reviewed.",
            latest.policy_id,
            iso_date(self.sets[0].effective_from)
        );
        Outcome {
            pended: false,
            reasons: vec![Reason {
                rule: None,
                line_number: None,
                message,
            }],
            policy_id: &latest.policy_id,
            rule_set_version: &latest.version,
            policy: None,
        }
    }
}

/// A claim's line views, made once for all the rule sets that decide it (live and shadow):
/// they depend on the claim alone but for each line's catalogue entry, which is looked up
/// again in another rule set's catalogue. Making them was ~20 % of a decision (perf, 5-line
/// claims).
#[derive(Default)]
pub struct Lines<'c, 'a> {
    views: Vec<LineView<'c, 'a>>,
    /// The catalogue of the views' entries; None before they are made.
    catalogue: Option<&'c Catalogue>,
}

impl<'c, 'a> Lines<'c, 'a> {
    fn views(&mut self, claim: &'a Claim<'a>, catalogue: &'c Catalogue) -> &[LineView<'c, 'a>] {
        match self.catalogue {
            None => self.views = line_views(claim, catalogue),
            Some(known) if !std::ptr::eq(known, catalogue) => {
                for view in &mut self.views {
                    view.info = catalogue.lookup(&view.code);
                }
            }
            Some(_) => {}
        }
        self.catalogue = Some(catalogue);
        &self.views
    }
}

fn line_views<'c, 'a>(claim: &'a Claim<'a>, catalogue: &'c Catalogue) -> Vec<LineView<'c, 'a>> {
    let claim_pos = present(claim.place_of_service);
    let claim_auth = present(claim.prior_authorization).is_some();
    let lines = claim.lines.iter();
    lines
        .map(|line| {
            let code = normalise(line.procedure_code);
            let info = catalogue.lookup(&code);
            let date_from = line.service_date_from;
            let date_to = line.service_date_to.unwrap_or(date_from);
            LineView {
                number: line.line_number,
                code,
                info,
                date_from,
                date_to,
                days: (date_to >= date_from).then(|| date_to - date_from + 1),
                place_of_service: present(line.place_of_service).or(claim_pos),
                units: line.units,
                infusions: line.infusions,
                modifiers: line.modifiers.iter().map(|m| normalise(m)).collect(),
                ndc: line.ndc.as_ref(),
                has_auth: claim_auth || present(line.prior_authorization).is_some(),
                pointers: &line.diagnosis_pointers,
                charge: line.charge,
                rendering_npi: present(line.rendering_npi),
                description: present(line.description),
            }
        })
        .collect()
}

/// One rule's verdict on one claim, for `explain`.
pub enum Verdict {
    Pass,
    Fail,
    /// Switched off by the rule set or the claim's contract.
    Off,
}

/// Every rule of the registry with its verdict and its reasons (indexes into the outcome's).
pub fn verdicts(outcome: &Outcome) -> Vec<(RuleId, Verdict, Vec<usize>)> {
    let Some(policy) = outcome.policy else {
        return Vec::new();
    };
    let rules = RuleId::ALL.iter();
    rules
        .map(|rule| {
            if policy.active(*rule).is_none() {
                return (*rule, Verdict::Off, Vec::new());
            }
            let reasons = outcome.reasons.iter().enumerate();
            let mine: Vec<usize> = reasons
                .filter(|(_, r)| r.rule.is_some_and(|a| a.rule == *rule))
                .map(|(i, _)| i)
                .collect();
            let verdict = if mine.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            (*rule, verdict, mine)
        })
        .collect()
}
