//! `JsonDecider`: offline `validate`, claim lines of JSON Lines in, decision lines out.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::engine::{claim_of, Engine};
use super::tally::Tally;
use crate::codec::{decision, json};
use crate::ruleset::RuleSets;

#[pyclass(module = "consumer._native")]
pub struct JsonDecider {
    rules: Arc<RuleSets>,
    validator_version: String,
    max_lines: usize,
    tally: Tally,
}

fn now_millis() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as i64)
}

#[pymethods]
impl JsonDecider {
    #[new]
    #[pyo3(signature = (engine, *, validator_version, max_lines))]
    fn new(engine: &Engine, validator_version: String, max_lines: usize) -> Self {
        JsonDecider {
            rules: Arc::clone(&engine.rules),
            validator_version,
            max_lines,
            tally: Tally::new(Vec::new()),
        }
    }

    /// Decide the claims of JSON Lines `text` from byte `start`, line by line, up to its
    /// end or the first line the fast reader does not take (it may not be a claim at all:
    /// `consumer.claims` reads that one and says). Returns the decision lines, how many lines
    /// were read (blank ones included) and where it stopped: the start of that line, or the
    /// end of `text`.
    fn decide_text<'py>(
        &mut self,
        py: Python<'py>,
        text: &[u8],
        start: usize,
    ) -> (Bound<'py, PyBytes>, usize, usize) {
        let mut out = Vec::with_capacity(text.len().saturating_sub(start) * 3 / 2);
        let (mut position, mut lines) = (start.min(text.len()), 0);
        while position < text.len() {
            let end = (text[position..].iter().position(|b| *b == b'\n'))
                .map_or(text.len(), |i| position + i + 1);
            let line = json::strip_bytes(&text[position..end]);
            if !line.is_empty() && !self.decide_line(line, &mut out) {
                break;
            }
            position = end;
            lines += 1;
        }
        (PyBytes::new(py, &out), lines, position)
    }

    /// The decision line of a claim Python read: its Avro body, and its JSON text to embed.
    fn decide_body<'py>(
        &mut self,
        py: Python<'py>,
        body: &[u8],
        claim_text: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let claim = claim_of(body)?;
        let outcome = self.rules.decide(&claim);
        self.tally.count(&claim, &outcome);
        let mut line = Vec::with_capacity(512 + claim_text.len());
        let version = &self.validator_version;
        decision::write_json(
            &mut line,
            &claim,
            &outcome,
            now_millis(),
            version,
            claim_text,
        );
        Ok(PyBytes::new(py, &line))
    }

    /// See `Tally.take`.
    fn take_tally<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.tally.take(py)
    }
}

impl JsonDecider {
    /// Append the decision line of one claim line; false when the fast reader does not take it.
    fn decide_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(claim) = json::parse(line) else {
            return false;
        };
        if claim.lines.is_empty() || claim.lines.len() > self.max_lines {
            return false; // Python's reader words the error
        }
        let outcome = self.rules.decide(&claim);
        self.tally.count(&claim, &outcome);
        let version = &self.validator_version;
        decision::write_json(out, &claim, &outcome, now_millis(), version, line);
        true
    }
}
