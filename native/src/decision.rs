//! The `ClaimDecision` value: every field but the claim, then the claim's own Avro body copied
//! as received (a record's body is its fields in order, so head + body is the decision).

use crate::avro::Writer;
use crate::claim::Claim;
use crate::engine::{Outcome, NOT_IN_EFFECT};

pub struct Source<'s> {
    pub topic: &'s str,
    pub partition: i32,
    pub offset: i64,
}

pub fn write_decision(
    out: &mut Vec<u8>,
    claim: &Claim,
    outcome: &Outcome,
    decided_at_millis: i64,
    validator_version: &str,
    source: &Source,
    claim_body: &[u8],
) {
    let mut w = Writer { out };
    w.string(claim.event_id);
    w.string(claim.claim_id);
    w.string(claim.member_id);
    w.long(i64::from(outcome.pended)); // Decision: ACCEPTED, PENDED
    if !outcome.reasons.is_empty() {
        w.long(outcome.reasons.len() as i64);
        for reason in &outcome.reasons {
            let rule_id = reason.rule.map_or(NOT_IN_EFFECT, |r| r.rule_id.as_str());
            w.string(rule_id);
            match reason.finding.line_number {
                None => w.long(0),
                Some(number) => {
                    w.long(1);
                    w.long(i64::from(number));
                }
            }
            w.optional_string(reason.rule.and_then(|r| r.carc.as_deref()));
            w.optional_string(reason.rule.and_then(|r| r.rarc.as_deref()));
            w.string(&reason.finding.message);
        }
    }
    w.long(0); // end of the reasons array
    w.string(outcome.policy_id);
    w.string(outcome.rule_set_version);
    w.long(decided_at_millis);
    w.string(validator_version);
    w.long(1); // source: the Source branch of ["null", Source]
    w.string(source.topic);
    w.long(i64::from(source.partition));
    w.long(source.offset);
    w.out.extend_from_slice(claim_body);
}
