//! A shadow rule set (SPEC §4 `run --shadow-rule-set`): a candidate rule set deciding the same
//! claims as the live one, in the same batch and against the same history, writing nothing
//! that adjudication reads. It counts its own decisions and its disagreements with the live
//! rule set (by kind and by rule, compared as `replay --diff` compares), and keeps a record of
//! each disagreement for the optional `claims.shadow` topic.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::claim::{Claim, LINES_OF_BUSINESS};
use crate::codec::decision::{json_string, write_reasons, Source};
use crate::compare::{self, Difference};
use crate::engine::{Lines, Outcome};
use crate::history::MemberHistory;
use crate::ruleset::RuleSets;

/// A disagreement kept for the shadow topic: the input message (its key is the record's) and
/// the record's value.
pub struct ShadowRecord {
    pub msg: Py<PyAny>,
    pub value: Vec<u8>,
}

pub struct Shadow {
    rules: Arc<RuleSets>,
    /// [ACCEPTED, PENDED] x line of business, as the shadow rule set decided.
    decisions: [[u64; LINES_OF_BUSINESS.len()]; 2],
    /// "ACCEPTED->PENDED", "PENDED->ACCEPTED", "reasons changed".
    kinds: HashMap<&'static str, u64>,
    /// (rule id, "+" / "-" / "~") of the rules whose reasons differ.
    rules_changed: HashMap<(&'static str, char), u64>,
    records: Vec<ShadowRecord>,
}

pub fn kind(difference: &Difference) -> &'static str {
    match (difference.before_pended, difference.after_pended) {
        (false, true) => "ACCEPTED->PENDED",
        (true, false) => "PENDED->ACCEPTED",
        _ => "reasons changed",
    }
}

/// The shadow rule set's decision of a claim the live one decided `live`, against the same
/// history and with the live decision's `lines`. Worded only where the two disagree: only then
/// is it written (a shadow record), and the messages were ~8 % of a decision (perf, 5-line
/// claims).
pub fn decide<'c, 'a>(
    rules: &'c RuleSets,
    claim: &'a Claim<'a>,
    past: Option<&'a MemberHistory>,
    live: &Outcome,
    lines: &mut Lines<'c, 'a>,
) -> Outcome<'c> {
    let unworded = rules.decide_with(claim, past, lines, false);
    match compare::compare(live, &unworded) {
        None => unworded,
        Some(_) => rules.decide_with(claim, past, lines, true),
    }
}

impl Shadow {
    pub fn new(rules: Arc<RuleSets>) -> Self {
        Shadow {
            rules,
            decisions: Default::default(),
            kinds: HashMap::default(),
            rules_changed: HashMap::default(),
            records: Vec::new(),
        }
    }

    pub fn rules(&self) -> Arc<RuleSets> {
        Arc::clone(&self.rules)
    }

    /// Count the shadow decision of one claim; where it disagrees, the value of its record
    /// (for `keep`, with the message: the decider builds it without the GIL).
    pub fn observe(
        &mut self,
        claim: &Claim,
        source: &Source,
        live: &Outcome,
        shadow: &Outcome,
    ) -> Option<Vec<u8>> {
        let lob = usize::from(claim.line_of_business);
        self.decisions[usize::from(shadow.pended)][lob] += 1;
        let difference = compare::compare(live, shadow)?;
        *self.kinds.entry(kind(&difference)).or_insert(0) += 1;
        for (rule, change) in &difference.rules {
            *self.rules_changed.entry((rule, change.sign())).or_insert(0) += 1;
        }
        Some(record(claim, source, live, shadow, &difference))
    }

    pub fn keep(&mut self, record: ShadowRecord) {
        self.records.push(record);
    }

    pub fn take_records(&mut self) -> Vec<ShadowRecord> {
        std::mem::take(&mut self.records)
    }

    /// `{"decisions": {(decision, lob): n}, "disagreements": {kind: n}, "rules": {(rule_id,
    /// sign): n}}`, and zero the counts.
    pub fn take_counts<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let decisions = PyDict::new(py);
        for (index, decision) in ["ACCEPTED", "PENDED"].iter().enumerate() {
            for (lob, count) in self.decisions[index].iter().enumerate() {
                if *count > 0 {
                    decisions.set_item((*decision, LINES_OF_BUSINESS[lob]), *count)?;
                }
            }
        }
        let out = PyDict::new(py);
        out.set_item("decisions", decisions)?;
        out.set_item("disagreements", std::mem::take(&mut self.kinds))?;
        let rules = PyDict::new(py);
        for ((rule, sign), count) in self.rules_changed.drain() {
            rules.set_item((rule, sign), count)?;
        }
        out.set_item("rules", rules)?;
        self.decisions = Default::default();
        Ok(out)
    }
}

/// The shadow topic's value: JSON, so an analyst can read it as is or join it on event_id or
/// the source coordinates.
fn record(
    claim: &Claim,
    source: &Source,
    live: &Outcome,
    shadow: &Outcome,
    difference: &Difference,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"event_id\":");
    json_string(&mut out, claim.event_id);
    out.extend_from_slice(b",\"claim_id\":");
    json_string(&mut out, claim.claim_id);
    out.extend_from_slice(b",\"source\":{\"topic\":");
    json_string(&mut out, source.topic);
    write!(
        out,
        ",\"partition\":{},\"offset\":{}}}",
        source.partition, source.offset
    )
    .unwrap();
    write!(out, ",\"kind\":\"{}\",\"rules\":[", kind(difference)).unwrap();
    for (i, (rule, change)) in difference.rules.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(out, "\"{}{rule}\"", change.sign()).unwrap();
    }
    out.push(b']');
    for (name, outcome) in [("live", live), ("shadow", shadow)] {
        write!(out, ",\"{name}\":{{\"rule_set_version\":").unwrap();
        json_string(&mut out, outcome.rule_set_version);
        write!(out, ",\"decision\":\"{}\",", outcome.decision()).unwrap();
        write_reasons(&mut out, outcome);
        out.push(b'}');
    }
    out.push(b'}');
    out
}
