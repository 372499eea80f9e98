//! Counts for the metrics and summaries, kept until the caller takes them (the stream: once
//! the batch's transaction commits, so an aborted batch is not counted).

use rustc_hash::FxHashMap as HashMap;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::claim::{Claim, LINES_OF_BUSINESS};
use crate::engine::Outcome;

pub struct Tally {
    /// [ACCEPTED, PENDED] x line of business.
    decisions: [[u64; LINES_OF_BUSINESS.len()]; 2],
    rule_failures: HashMap<&'static str, u64>,
    /// Non-cumulative, one more than the bounds (the last is +Inf).
    duration_buckets: Vec<u64>,
    duration_sum: f64,
    duration_bounds: Vec<f64>,
    /// Re-sent events: already decided, so not decided again.
    pub resent: u64,
}

impl Tally {
    pub fn new(duration_bounds: Vec<f64>) -> Self {
        Tally {
            decisions: Default::default(),
            rule_failures: HashMap::default(),
            duration_buckets: vec![0; duration_bounds.len() + 1],
            duration_sum: 0.0,
            duration_bounds,
            resent: 0,
        }
    }

    pub fn count(&mut self, claim: &Claim, outcome: &Outcome) {
        let pending = outcome
            .reasons
            .iter()
            .filter(|r| r.rule.is_some_and(|a| a.pends()));
        let failures = pending.map(|r| r.rule_id()).collect();
        self.count_parts(claim.line_of_business, outcome.pended, failures);
    }

    /// One decision: its line of business, PENDED or not, the rules whose reasons pend it.
    pub fn count_parts(&mut self, lob: u8, pended: bool, failures: Vec<&'static str>) {
        self.decisions[usize::from(pended)][usize::from(lob)] += 1;
        for rule_id in failures {
            *self.rule_failures.entry(rule_id).or_insert(0) += 1;
        }
    }

    pub fn observe(&mut self, seconds: f64) {
        let bounds = &self.duration_bounds;
        let index = bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(bounds.len());
        self.duration_buckets[index] += 1;
        self.duration_sum += seconds;
    }

    /// `{"decisions": {(decision, lob): n}, "rule_failures": {rule_id: n},
    /// "duration_buckets": [n, ...], "duration_sum": s, "resent": n}`, and zero the counts.
    pub fn take<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let taken = std::mem::replace(self, Tally::new(self.duration_bounds.clone()));
        let decisions = PyDict::new(py);
        for (index, decision) in ["ACCEPTED", "PENDED"].iter().enumerate() {
            for (lob, count) in taken.decisions[index].iter().enumerate() {
                if *count > 0 {
                    decisions.set_item((*decision, LINES_OF_BUSINESS[lob]), *count)?;
                }
            }
        }
        let out = PyDict::new(py);
        out.set_item("decisions", decisions)?;
        out.set_item("rule_failures", taken.rule_failures)?;
        out.set_item("duration_buckets", taken.duration_buckets)?;
        out.set_item("duration_sum", taken.duration_sum)?;
        out.set_item("resent", taken.resent)?;
        Ok(out)
    }
}
