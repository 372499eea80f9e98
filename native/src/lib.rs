//! `consumer._native`: the compiled hot path of infusion-validator.
//!
//! For a batch of Kafka messages it decodes each `ClaimSubmitted`, decides it under the rule
//! sets the Python side compiled (`consumer.fastpath`), and writes the `ClaimDecision` value
//! and its headers, counting what the metrics need. Anything it is not sure to do exactly as
//! the Python path (a record that does not decode, text only Python formats, ...) comes back
//! as None, and `consumer.fastpath` hands that record to the Python processor, the reference.

mod avro;
mod claim;
mod config;
mod decision;
mod engine;
mod json;
mod pytext;
mod rules;

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::claim::LINES_OF_BUSINESS;
use crate::config::Config;
use crate::decision::{write_decision, Source};

/// Where a decision goes: its topic, the wire-format prefix of its values (empty for `raw`,
/// magic byte + schema id for `confluent`) and its `decision` header.
struct Target {
    topic: Py<PyAny>,
    prefix: Vec<u8>,
    header: Py<PyAny>,
}

/// Counts for the metrics, kept until the batch's transaction commits (`take_tally`).
struct Tally {
    /// [ACCEPTED, PENDED] x line of business.
    decisions: [[u64; 5]; 2],
    rule_failures: HashMap<String, u64>,
    /// Non-cumulative, one more than the bounds (the last is +Inf).
    duration_buckets: Vec<u64>,
    duration_sum: f64,
}

impl Tally {
    fn count(&mut self, claim: &claim::Claim, outcome: &engine::Outcome) {
        let decision = usize::from(outcome.pended);
        self.decisions[decision][usize::from(claim.line_of_business)] += 1;
        for reason in &outcome.reasons {
            if let Some(rule) = reason.rule.filter(|r| r.pends()) {
                *self.rule_failures.entry(rule.rule_id.clone()).or_insert(0) += 1;
            }
        }
    }

    fn new(buckets: usize) -> Self {
        Tally {
            decisions: [[0; 5]; 2],
            rule_failures: HashMap::new(),
            duration_buckets: vec![0; buckets + 1],
            duration_sum: 0.0,
        }
    }
}

#[pyclass(module = "consumer._native")]
pub struct FastPath {
    config: Config,
    validator_version: String,
    max_value_bytes: usize,
    max_lines: usize,
    /// Bytes before the Avro body: 0 (`raw`) or 5 (`confluent`).
    header_len: usize,
    /// Confluent schema ids whose writer schema is ours (so the body can be copied as is).
    verbatim_schema_ids: HashSet<u32>,
    targets: [Target; 2],
    version_headers: HashMap<String, Py<PyAny>>,
    topic_header: Option<(String, Py<PyAny>)>,
    partition_headers: HashMap<i32, Py<PyAny>>,
    duration_bounds: Vec<f64>,
    tally: Tally,
}

fn header<'py>(py: Python<'py>, name: &str, value: &[u8]) -> PyResult<Py<PyAny>> {
    Ok(PyTuple::new(
        py,
        [
            name.into_pyobject(py)?.into_any(),
            PyBytes::new(py, value).into_any(),
        ],
    )?
    .into_any()
    .unbind())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn now_millis() -> i64 {
    now_micros() / 1000
}

#[pymethods]
impl FastPath {
    #[new]
    #[pyo3(signature = (
        config_json, *, validator_version, accepted_topic, pended_topic, max_value_bytes,
        max_lines, duration_bounds, header_len=0, accepted_prefix=Vec::new(),
        pended_prefix=Vec::new()
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        config_json: &str,
        validator_version: String,
        accepted_topic: &str,
        pended_topic: &str,
        max_value_bytes: usize,
        max_lines: usize,
        duration_bounds: Vec<f64>,
        header_len: usize,
        accepted_prefix: Vec<u8>,
        pended_prefix: Vec<u8>,
    ) -> PyResult<Self> {
        let config = config::parse(config_json).map_err(PyValueError::new_err)?;
        if header_len != 0 && header_len != 5 {
            return Err(PyValueError::new_err(
                "header_len is 0 (raw) or 5 (confluent)",
            ));
        }
        let target = |topic: &str, prefix: Vec<u8>, decision: &str| -> PyResult<Target> {
            Ok(Target {
                topic: topic.into_pyobject(py)?.into_any().unbind(),
                prefix,
                header: header(py, "decision", decision.as_bytes())?,
            })
        };
        Ok(FastPath {
            config,
            validator_version,
            max_value_bytes,
            max_lines,
            header_len,
            verbatim_schema_ids: HashSet::new(),
            targets: [
                target(accepted_topic, accepted_prefix, "ACCEPTED")?,
                target(pended_topic, pended_prefix, "PENDED")?,
            ],
            version_headers: HashMap::new(),
            topic_header: None,
            partition_headers: HashMap::new(),
            tally: Tally::new(duration_bounds.len()),
            duration_bounds,
        })
    }

    /// Confluent framing: values written with this schema id may take the fast path.
    fn allow_schema_id(&mut self, schema_id: u32) {
        self.verbatim_schema_ids.insert(schema_id);
    }

    /// For each message of `records`: `(topic, value, headers)` of its decision, or None when
    /// the Python path must handle it.
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        records: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = PyList::empty(py);
        for msg in records.iter() {
            let started = Instant::now();
            match self.process_one(py, &msg)? {
                Some(output) => {
                    results.append(output)?;
                    self.observe(started.elapsed().as_secs_f64());
                }
                None => results.append(py.None())?,
            }
        }
        Ok(results)
    }

    /// Offline `validate`: for each line of a JSON Lines file, its decision line, or None when
    /// the Python path must read it (it may not be a claim at all). Counts as in `process`.
    fn validate_json<'py>(
        &mut self,
        py: Python<'py>,
        lines: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = PyList::empty(py);
        for line in lines.iter() {
            let started = Instant::now();
            let line = line.cast::<PyBytes>()?;
            match self.validate_one(line.as_bytes()) {
                Some(decision) => {
                    results.append(PyBytes::new(py, &decision))?;
                    self.observe(started.elapsed().as_secs_f64());
                }
                None => results.append(py.None())?,
            }
        }
        Ok(results)
    }

    /// The counts since the last call, then zero them: `{"decisions": {(decision, lob): n},
    /// "rule_failures": {rule_id: n}, "duration_buckets": [n, ...], "duration_sum": s}`.
    fn take_tally<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let tally = std::mem::replace(&mut self.tally, Tally::new(self.duration_bounds.len()));
        let decisions = PyDict::new(py);
        for (index, decision) in ["ACCEPTED", "PENDED"].iter().enumerate() {
            for (lob, count) in tally.decisions[index].iter().enumerate() {
                if *count > 0 {
                    decisions.set_item((*decision, LINES_OF_BUSINESS[lob]), *count)?;
                }
            }
        }
        let out = PyDict::new(py);
        out.set_item("decisions", decisions)?;
        out.set_item("rule_failures", tally.rule_failures)?;
        out.set_item("duration_buckets", tally.duration_buckets)?;
        out.set_item("duration_sum", tally.duration_sum)?;
        Ok(out)
    }
}

impl FastPath {
    fn validate_one(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        let text = json::strip_bytes(line);
        let parsed = json::parse(text)?;
        let claim = parsed.claim();
        if claim.lines.is_empty() || claim.lines.len() > self.max_lines {
            return None;
        }
        let outcome = self.config.decide(&claim).ok()?;
        let decided_at = json::timestamp_text(now_micros());
        let decision =
            json::decision_line(&claim, &outcome, &decided_at, &self.validator_version, text);
        self.tally.count(&claim, &outcome);
        Some(decision)
    }

    fn observe(&mut self, seconds: f64) {
        let bucket = self.duration_bounds.iter().position(|b| seconds <= *b);
        let index = bucket.unwrap_or(self.duration_bounds.len());
        self.tally.duration_buckets[index] += 1;
        self.tally.duration_sum += seconds;
    }

    fn body<'v>(&self, value: &'v [u8]) -> Option<&'v [u8]> {
        if value.is_empty() || value.len() > self.max_value_bytes {
            return None;
        }
        if self.header_len == 0 {
            return Some(value);
        }
        let (head, body) = value.split_at_checked(self.header_len)?;
        let schema_id = u32::from_be_bytes(head[1..5].try_into().ok()?);
        (head[0] == 0 && self.verbatim_schema_ids.contains(&schema_id)).then_some(body)
    }

    fn process_one<'py>(
        &mut self,
        py: Python<'py>,
        msg: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let value = msg.call_method0(intern!(py, "value"))?;
        let Ok(value) = value.cast::<PyBytes>() else {
            return Ok(None);
        };
        let Some(body) = self.body(value.as_bytes()) else {
            return Ok(None);
        };
        let Some(claim) = avro::read_claim(body) else {
            return Ok(None);
        };
        if claim.lines.is_empty() || claim.lines.len() > self.max_lines {
            return Ok(None);
        }
        let Ok(outcome) = self.config.decide(&claim) else {
            return Ok(None);
        };

        let topic_obj = msg.call_method0(intern!(py, "topic"))?;
        let topic: &str = if topic_obj.is_none() {
            ""
        } else {
            topic_obj.extract()?
        };
        let partition: i32 = msg
            .call_method0(intern!(py, "partition"))?
            .extract::<Option<i32>>()?
            .unwrap_or(0);
        let offset: i64 = msg
            .call_method0(intern!(py, "offset"))?
            .extract::<Option<i64>>()?
            .unwrap_or(0);

        let target = &self.targets[usize::from(outcome.pended)];
        let mut out = Vec::with_capacity(target.prefix.len() + body.len() + 256);
        out.extend_from_slice(&target.prefix);
        let source = Source {
            topic,
            partition,
            offset,
        };
        write_decision(
            &mut out,
            &claim,
            &outcome,
            now_millis(),
            &self.validator_version,
            &source,
            body,
        );

        let version_header = match self.version_headers.get(outcome.rule_set_version) {
            Some(h) => h.clone_ref(py),
            None => {
                let h = header(py, "rule_set_version", outcome.rule_set_version.as_bytes())?;
                self.version_headers
                    .insert(outcome.rule_set_version.to_owned(), h.clone_ref(py));
                h
            }
        };
        let topic_header = match &self.topic_header {
            Some((name, h)) if name == topic => h.clone_ref(py),
            _ => {
                let h = header(py, "source.topic", topic.as_bytes())?;
                self.topic_header = Some((topic.to_owned(), h.clone_ref(py)));
                h
            }
        };
        let partition_header = match self.partition_headers.get(&partition) {
            Some(h) => h.clone_ref(py),
            None => {
                let h = header(py, "source.partition", partition.to_string().as_bytes())?;
                self.partition_headers.insert(partition, h.clone_ref(py));
                h
            }
        };
        let headers = PyList::new(
            py,
            [
                target.header.clone_ref(py),
                version_header,
                topic_header,
                partition_header,
                // The only header made per record: its name interned, its value fresh.
                PyTuple::new(
                    py,
                    [
                        intern!(py, "source.offset").clone().into_any(),
                        PyBytes::new(py, offset.to_string().as_bytes()).into_any(),
                    ],
                )?
                .into_any()
                .unbind(),
            ],
        )?;
        let result = PyTuple::new(
            py,
            [
                target.topic.clone_ref(py).into_bound(py),
                PyBytes::new(py, &out).into_any(),
                headers.into_any(),
            ],
        )?;

        self.tally.count(&claim, &outcome);
        Ok(Some(result))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FastPath>()?;
    m.add("RULE_IDS", rules::RULE_IDS.to_vec())?;
    Ok(())
}
