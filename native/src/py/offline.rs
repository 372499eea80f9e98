//! `JsonDecider`: offline `validate`, claim lines of JSON Lines in, decision lines out.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

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

    /// For each line, its decision line; None for a line the fast reader does not take (it
    /// may not be a claim at all: `consumer.records` reads it and says).
    fn decide_lines<'py>(
        &mut self,
        py: Python<'py>,
        lines: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = PyList::empty(py);
        for line in lines.iter() {
            let line = line.cast::<PyBytes>()?;
            match self.decide_line(line.as_bytes()) {
                Some(decision) => results.append(PyBytes::new(py, &decision))?,
                None => results.append(py.None())?,
            }
        }
        Ok(results)
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
        let line = decision::json_line(
            &claim,
            &outcome,
            now_millis(),
            &self.validator_version,
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
    fn decide_line(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        let text = json::strip_bytes(line);
        let parsed = json::parse(text)?;
        let claim = parsed.claim();
        if claim.lines.is_empty() || claim.lines.len() > self.max_lines {
            return None;
        }
        let outcome = self.rules.decide(&claim);
        self.tally.count(&claim, &outcome);
        let version = &self.validator_version;
        Some(decision::json_line(
            &claim,
            &outcome,
            now_millis(),
            version,
            text,
        ))
    }
}
