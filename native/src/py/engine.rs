//! `Engine`: the compiled rule sets, and decisions of single claims (offline, explain, diff).

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::history::History;
use super::outcome::{self, Decision, Difference, RuleVerdict};
use crate::claim::Claim;
use crate::codec::avro;
use crate::compare;
use crate::engine::Lines;
use crate::history::decide_recorded;
use crate::ruleset::RuleSets;
use crate::text::iso_date;

/// What `Engine.compare` returns: each body's difference (None: the same, or not read), the
/// indexes of the bodies not read, and of the re-sent events.
type Compared = (Vec<Option<Difference>>, Vec<usize>, Vec<usize>);

#[pyclass(module = "consumer._native", frozen)]
pub struct Engine {
    pub rules: Arc<RuleSets>,
}

/// The claim in an Avro body written with our `ClaimSubmitted` schema.
pub fn claim_of(body: &[u8]) -> PyResult<Claim<'_>> {
    avro::read_claim(body)
        .ok_or_else(|| PyValueError::new_err("not a ClaimSubmitted body in our schema's encoding"))
}

#[pymethods]
impl Engine {
    /// From the JSON of the validated rule-set files (`consumer.engine.files`); ValueError
    /// with the file and the problem when they do not make a rule set.
    #[new]
    fn new(files_json: &str) -> PyResult<Self> {
        let rules = RuleSets::from_json(files_json).map_err(PyValueError::new_err)?;
        Ok(Engine {
            rules: Arc::new(rules),
        })
    }

    /// The rule-set versions, oldest first.
    #[getter]
    fn versions(&self) -> Vec<String> {
        self.rules.versions()
    }

    #[getter]
    fn policy_id(&self) -> String {
        self.rules.latest().default.policy_id.clone()
    }

    /// One dict per rule set, for `rules check`.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let sets = self.rules.sets.iter();
        sets.map(|rs| {
            let info = PyDict::new(py);
            info.set_item("path", &rs.path)?;
            info.set_item("policy_id", &rs.default.policy_id)?;
            info.set_item("version", &rs.default.version)?;
            info.set_item("title", &rs.title)?;
            info.set_item("effective_from", iso_date(rs.effective_from))?;
            info.set_item("effective_to", rs.effective_to.map(iso_date))?;
            info.set_item("rules_on", rs.default.rules.len())?;
            info.set_item("catalogue_version", &rs.catalogue.version)?;
            info.set_item("catalogue_codes", rs.catalogue.listed())?;
            let mut contracts: Vec<&String> = rs.contracts.keys().collect();
            contracts.sort();
            info.set_item("contracts", contracts)?;
            Ok(info)
        })
        .collect()
    }

    /// The decision of the claim in `body` (our schema's Avro encoding), on its own: no
    /// history (`OfflineDecider` keeps one).
    fn decide(&self, body: &[u8]) -> PyResult<Decision> {
        Ok(outcome::decision(
            &self.rules.decide(&claim_of(body)?, None),
        ))
    }

    /// The decision and every rule's verdict, on its own (no history).
    fn explain(&self, body: &[u8]) -> PyResult<(Decision, Vec<RuleVerdict>)> {
        Ok(outcome::explanation(
            &self.rules.decide(&claim_of(body)?, None),
        ))
    }

    /// For each body, how `other`'s decision differs from this engine's (None: it does not);
    /// the indexes of the bodies it could not read (or whose claim has no line or more than
    /// `max_lines`): the caller decodes those, or counts them as undecodable; and, with a
    /// `history`, the indexes of re-sent events (decided before: not again, so not compared).
    /// Both decide against the member's history in the body's partition (`partitions`), which
    /// records each claim once.
    #[pyo3(signature = (other, bodies, max_lines, history=None, partitions=None))]
    fn compare(
        &self,
        py: Python<'_>,
        other: &Engine,
        bodies: Vec<Bound<'_, PyBytes>>,
        max_lines: usize,
        history: Option<Py<History>>,
        partitions: Option<Vec<i32>>,
    ) -> PyResult<Compared> {
        let mut history = history.as_ref().map(|h| h.bind(py).borrow_mut());
        let mut differences = Vec::with_capacity(bodies.len());
        let (mut unreadable, mut resent) = (Vec::new(), Vec::new());
        for (index, body) in bodies.iter().enumerate() {
            let claim = avro::read_claim(body.as_bytes());
            let Some(claim) = claim.filter(|c| (1..=max_lines).contains(&c.lines.len())) else {
                unreadable.push(index);
                differences.push(None);
                continue;
            };
            let partition = partitions.as_ref().and_then(|p| p.get(index).copied());
            let store = match history.as_mut() {
                Some(history) => Some(history.store(partition.unwrap_or(0))?),
                None => None,
            };
            let both = decide_recorded(store, &claim, |past| {
                // Only the differences are returned, and they do not read the wording.
                let mut lines = Lines::default();
                let before = self.rules.decide_with(&claim, past, &mut lines, false);
                let after = other.rules.decide_with(&claim, past, &mut lines, false);
                compare::compare(&before, &after)
            });
            if both.is_none() {
                resent.push(index);
            }
            differences.push(both.flatten().map(|d| outcome::difference(&claim, d)));
        }
        if let Some(history) = history.as_mut() {
            history.commit_all();
        }
        Ok((differences, unreadable, resent))
    }
}
