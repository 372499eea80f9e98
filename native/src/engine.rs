//! One decoded claim in, one outcome out (`consumer.engine.engine.Engine.decide`).

use crate::claim::Claim;
use crate::config::{ActiveRule, Config, Policy};
use crate::pytext::{iso_date, normalise_ascii, stripped};
use crate::rules::{lob_name, Context, Fallback, Finding, LineView};

const MILLIS_PER_DAY: i64 = 86_400_000;

pub struct Reason<'c> {
    /// None for the informational "not in effect" note.
    pub rule: Option<&'c ActiveRule>,
    pub finding: Finding,
}

pub struct Outcome<'c> {
    pub pended: bool,
    pub reasons: Vec<Reason<'c>>,
    pub policy_id: &'c str,
    pub rule_set_version: &'c str,
}

pub const NOT_IN_EFFECT: &str = "policy.not-in-effect";

impl Config {
    pub fn decide<'c>(&'c self, claim: &Claim) -> Result<Outcome<'c>, Fallback> {
        let last_day = claim
            .lines
            .iter()
            .map(|line| line.service_date_to.unwrap_or(line.service_date_from))
            .max()
            .ok_or(Fallback)?; // no lines: the Python path dead-letters the record
        let Some(rule_set) = self
            .rule_sets
            .iter()
            .rev()
            .find(|rs| rs.in_effect(last_day))
        else {
            return Ok(self.not_in_effect());
        };
        let policy = rule_set.policy_for(claim.contract_id);
        let views = line_views(claim, rule_set)?;
        let lines = views
            .iter()
            .filter(|v| v.date_to >= policy.effective_from)
            .collect();
        let ctx = Context {
            claim,
            policy,
            lob: claim.line_of_business,
            lob_name: lob_name(claim.line_of_business),
            submitted_on: claim.submitted_at_millis.div_euclid(MILLIS_PER_DAY) as i32,
            all_lines: &views,
            lines,
            billable_diagnoses: &self.billable_diagnoses,
        };
        decide_with(&ctx, policy)
    }

    fn not_in_effect(&self) -> Outcome<'_> {
        let latest = &self.rule_sets[self.rule_sets.len() - 1].default;
        let first = &self.rule_sets[0];
        let message = format!(
            "No {} rule set is in effect on the dates of service (policy effective {}); not \
             reviewed.",
            latest.policy_id,
            iso_date(first.effective_from)
        );
        Outcome {
            pended: false,
            reasons: vec![Reason {
                rule: None,
                finding: Finding {
                    line_number: None,
                    message,
                },
            }],
            policy_id: &latest.policy_id,
            rule_set_version: &latest.version,
        }
    }
}

fn decide_with<'c>(ctx: &Context<'_, 'c, '_>, policy: &'c Policy) -> Result<Outcome<'c>, Fallback> {
    let mut reasons = Vec::new();
    let mut findings = Vec::new();
    let mut pended = false;
    for active in &policy.rules {
        active.rule.check(ctx, &mut findings)?;
        pended |= active.pends() && !findings.is_empty();
        reasons.extend(findings.drain(..).map(|finding| Reason {
            rule: Some(active),
            finding,
        }));
    }
    Ok(Outcome {
        pended,
        reasons,
        policy_id: &policy.policy_id,
        rule_set_version: &policy.version,
    })
}

fn line_views<'c, 'a>(
    claim: &'a Claim<'a>,
    rule_set: &'c crate::config::RuleSet,
) -> Result<Vec<LineView<'c, 'a>>, Fallback> {
    let claim_pos = stripped(claim.place_of_service);
    let claim_auth = stripped(claim.prior_authorization).is_some();
    claim
        .lines
        .iter()
        .map(|line| {
            let code = normalise_ascii(line.procedure_code).ok_or(Fallback)?;
            let info = rule_set.catalogue.lookup(&code);
            let date_from = line.service_date_from;
            let date_to = line.service_date_to.unwrap_or(date_from);
            let modifiers = line
                .modifiers
                .iter()
                .map(|m| normalise_ascii(m).ok_or(Fallback))
                .collect::<Result<_, _>>()?;
            Ok(LineView {
                number: line.line_number,
                code,
                info,
                date_from,
                date_to,
                days: (date_to >= date_from).then(|| date_to - date_from + 1),
                place_of_service: stripped(line.place_of_service).or(claim_pos),
                units: line.units,
                infusions: line.infusions,
                modifiers,
                ndc: line.ndc.as_ref(),
                has_auth: claim_auth || stripped(line.prior_authorization).is_some(),
                pointers: &line.diagnosis_pointers,
                charge: line.charge,
                rendering_npi: line.rendering_npi,
                description: stripped(line.description),
            })
        })
        .collect()
}
