//! `OfflineDecider`: offline `validate` and `explain`, a file of claims as one stream in file
//! order: JSON Lines read by the engine itself, other claims handed over by Python as Avro
//! bodies; with a `History`, each claim decided against what came before it in the file.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::engine::{claim_of, Engine};
use super::history::History;
use super::outcome::{self, Decision, Difference, RuleVerdict};
use super::tally::Tally;
use crate::claim::Claim;
use crate::codec::{decision, json};
use crate::compare;
use crate::engine::Outcome;
use crate::history::{decide_recorded, MemberHistory};
use crate::ruleset::RuleSets;

/// The file is one stream: one partition's history.
const PARTITION: i32 = 0;

#[pyclass(module = "consumer._native")]
pub struct OfflineDecider {
    rules: Arc<RuleSets>,
    validator_version: String,
    max_lines: usize,
    history: Option<Py<History>>,
    tally: Tally,
}

fn now_millis() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as i64)
}

#[pymethods]
impl OfflineDecider {
    /// With a `history`, its partition 0 is this file's stream (assigned here when needed).
    #[new]
    #[pyo3(signature = (engine, *, validator_version, max_lines, history=None))]
    fn new(
        py: Python<'_>,
        engine: &Engine,
        validator_version: String,
        max_lines: usize,
        history: Option<Py<History>>,
    ) -> Self {
        if let Some(history) = &history {
            let mut history = history.bind(py).borrow_mut();
            if history.store(PARTITION).is_err() {
                history.assign_partition(PARTITION);
            }
        }
        OfflineDecider {
            rules: Arc::clone(&engine.rules),
            validator_version,
            max_lines,
            history,
            tally: Tally::new(Vec::new()),
        }
    }

    /// Decide the claims of JSON Lines `text` from byte `start`, line by line, up to its
    /// end or the first line the fast reader does not take (it may not be a claim at all:
    /// `consumer.claims` reads that one and says). Returns the decision lines, how many lines
    /// were read (blank ones included) and where it stopped: the start of that line, or the
    /// end of `text`. `record_only`: record the claims in the history, decide nothing.
    #[pyo3(signature = (text, start, record_only=false))]
    fn decide_text<'py>(
        &mut self,
        py: Python<'py>,
        text: &[u8],
        start: usize,
        record_only: bool,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, usize)> {
        let mut out = Vec::with_capacity(text.len().saturating_sub(start) * 3 / 2);
        let (mut position, mut lines) = (start.min(text.len()), 0);
        while position < text.len() {
            let end =
                memchr::memchr(b'\n', &text[position..]).map_or(text.len(), |i| position + i + 1);
            let line = json::strip_bytes(&text[position..end]);
            if !line.is_empty() {
                let Some(claim) = json::parse(line).filter(|c| self.fits(c)) else {
                    break; // Python's reader takes it, or words what is wrong with it
                };
                self.decide_one(py, &claim, line, record_only, &mut out)?;
            }
            position = end;
            lines += 1;
        }
        Ok((PyBytes::new(py, &out), lines, position))
    }

    /// The decision line of a claim Python read (its Avro body, and the JSON text to embed);
    /// empty for a re-sent event, or with `record_only`.
    #[pyo3(signature = (body, claim_text, record_only=false))]
    fn decide_body<'py>(
        &mut self,
        py: Python<'py>,
        body: &[u8],
        claim_text: &[u8],
        record_only: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::new();
        self.decide_one(py, &claim_of(body)?, claim_text, record_only, &mut out)?;
        Ok(PyBytes::new(py, &out))
    }

    /// The decision and every rule's verdict, against the history so far; None for a
    /// re-sent event.
    fn explain_body(
        &mut self,
        py: Python<'_>,
        body: &[u8],
    ) -> PyResult<Option<(Decision, Vec<RuleVerdict>)>> {
        let claim = claim_of(body)?;
        let explained = self.with_history(py, &claim, outcome::explanation)?;
        if explained.is_none() {
            self.tally.resent += 1;
        }
        Ok(explained)
    }

    /// The claim decided by this engine and by `other` against the same history (recorded
    /// once): both decisions and how they differ (None: they agree); None for a re-sent event.
    #[allow(clippy::type_complexity)]
    fn compare_body(
        &mut self,
        py: Python<'_>,
        body: &[u8],
        other: &Engine,
    ) -> PyResult<Option<(Decision, Decision, Option<Difference>)>> {
        let claim = claim_of(body)?;
        let rules = &self.rules;
        let both = |past: Option<&MemberHistory>| {
            let (mine, theirs) = (rules.decide(&claim, past), other.rules.decide(&claim, past));
            let difference = compare::compare(&mine, &theirs);
            let difference = difference.map(|d| outcome::difference(&claim, d));
            (
                outcome::decision(&mine),
                outcome::decision(&theirs),
                difference,
            )
        };
        let Some(history) = &self.history else {
            return Ok(Some(both(None)));
        };
        let mut history = history.bind(py).borrow_mut();
        let store = history.store(PARTITION)?;
        let compared = decide_recorded(Some(&mut *store), &claim, both);
        store.commit();
        Ok(compared)
    }

    /// See `Tally.take`.
    fn take_tally<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.tally.take(py)
    }
}

impl OfflineDecider {
    fn fits(&self, claim: &Claim) -> bool {
        (1..=self.max_lines).contains(&claim.lines.len())
    }

    /// Decide `claim` against the history (recording it there) and hand the outcome to `use`;
    /// None when its event was decided before.
    fn with_history<T>(
        &self,
        py: Python<'_>,
        claim: &Claim,
        use_outcome: impl FnOnce(&Outcome) -> T,
    ) -> PyResult<Option<T>> {
        let rules = &self.rules;
        let decide = |past: Option<&MemberHistory>| use_outcome(&rules.decide(claim, past));
        let Some(history) = &self.history else {
            return Ok(Some(decide(None)));
        };
        let mut history = history.bind(py).borrow_mut();
        let store = history.store(PARTITION)?;
        let decided = decide_recorded(Some(&mut *store), claim, decide);
        store.commit();
        Ok(decided)
    }

    fn decide_one(
        &mut self,
        py: Python<'_>,
        claim: &Claim,
        claim_text: &[u8],
        record_only: bool,
        out: &mut Vec<u8>,
    ) -> PyResult<()> {
        let version = &self.validator_version;
        let written = self.with_history(py, claim, |outcome| {
            if !record_only {
                decision::write_json(out, claim, outcome, now_millis(), version, claim_text);
            }
            (outcome.pended, outcome_counts(outcome))
        })?;
        match written {
            None => self.tally.resent += 1,
            Some(_) if record_only => {}
            Some((pended, failures)) => {
                self.tally
                    .count_parts(claim.line_of_business, pended, failures)
            }
        }
        Ok(())
    }
}

/// The rule ids of an outcome's reasons that pend it (for the tally, once the outcome, which
/// borrows the history, is gone).
fn outcome_counts(outcome: &Outcome) -> Vec<&'static str> {
    let pending = outcome
        .reasons
        .iter()
        .filter(|r| r.rule.is_some_and(|a| a.pends()));
    pending.map(|r| r.rule_id()).collect()
}
