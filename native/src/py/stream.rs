//! `StreamDecider`: a Kafka batch in, for each record its decision's topic, value and headers.
//!
//! The value is read where it lies (raw, or Confluent-framed with an id whose writer schema is
//! ours) and the decision written around the claim's own body. At a record it cannot read that
//! way it stops, so that Python's decoder can deal with it in its turn (the member's history
//! must see the stream in order): re-encode it in our schema (another writer schema) and hand
//! it to `decide_body`, or dead-letter it with its error class; then `process` goes on.
//! With a `History`, each claim is decided against its member's history and recorded there;
//! a re-sent event gets False instead of a decision. With a shadow rule set, each claim is
//! also decided by it (same history), and where the two disagree a shadow record is kept for
//! `take_shadow`; the live decision is written as without it.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::engine::{claim_of, Engine};
use super::history::History;
use super::tally::Tally;
use crate::claim::Claim;
use crate::codec::avro;
use crate::codec::decision::{write_avro_head, Source};
use crate::engine::Lines;
use crate::history::decide_recorded;
use crate::ruleset::RuleSets;

use super::shadow::{self, Shadow};
use crate::history::MemberHistory;

/// Where a decision goes: its topic, the wire-format prefix of its values (empty for `raw`,
/// magic byte + schema id for `confluent`) and its `decision` header.
struct Target {
    topic: Py<PyAny>,
    prefix: Vec<u8>,
    header: Py<PyAny>,
}

/// Header tuples that repeat from record to record, made once. Looked up for every record, so
/// hashed with FxHash, as in the engine: the default SipHash of the rule-set version and the
/// partition cost ~0.03-0.09 us a record (bench harness, 5-line claims).
#[derive(Default)]
struct HeaderCache {
    versions: HashMap<String, Py<PyAny>>,
    topic: Option<(String, Py<PyAny>)>,
    partitions: HashMap<i32, Py<PyAny>>,
}

#[pyclass(module = "consumer._native")]
pub struct StreamDecider {
    rules: Arc<RuleSets>,
    validator_version: String,
    max_value_bytes: usize,
    max_lines: usize,
    /// Bytes before the Avro body: 0 (`raw`) or 5 (`confluent`).
    header_len: usize,
    /// False when raw values are written with another schema (a configured writer schema):
    /// then every record goes through Python's decoder.
    reads_raw: bool,
    /// Confluent schema ids whose writer schema is ours (so the body is read where it lies).
    our_schema_ids: HashSet<u32>,
    targets: [Target; 2],
    headers: HeaderCache,
    tally: Tally,
    history: Option<Py<History>>,
    shadow: Option<Shadow>,
    /// The head of the value being written (reused from record to record).
    head: Vec<u8>,
}

fn header(py: Python<'_>, name: &str, value: &[u8]) -> PyResult<Py<PyAny>> {
    let pair = [
        name.into_pyobject(py)?.into_any(),
        PyBytes::new(py, value).into_any(),
    ];
    Ok(PyTuple::new(py, pair)?.into_any().unbind())
}

/// A bytes object of `parts` one after the other.
fn bytes_of<'py>(py: Python<'py>, parts: &[&[u8]]) -> PyResult<Bound<'py, PyBytes>> {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    // SAFETY: a new bytes object of `len` bytes, uninitialised, every byte of which is written
    // below before it is handed out (the C API's documented way to build one in place).
    unsafe {
        let ptr =
            pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as pyo3::ffi::Py_ssize_t);
        let bytes = Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked::<PyBytes>();
        let mut at = pyo3::ffi::PyBytes_AsString(ptr).cast::<u8>();
        for part in parts {
            std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
            at = at.add(part.len());
        }
        Ok(bytes)
    }
}

fn now_millis() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as i64)
}

#[pymethods]
impl StreamDecider {
    #[new]
    #[pyo3(signature = (
        engine, *, validator_version, accepted_topic, pended_topic, max_value_bytes,
        max_lines, duration_bounds, header_len=0, reads_raw=true, accepted_prefix=Vec::new(),
        pended_prefix=Vec::new(), history=None, shadow=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        engine: &Engine,
        validator_version: String,
        accepted_topic: &str,
        pended_topic: &str,
        max_value_bytes: usize,
        max_lines: usize,
        duration_bounds: Vec<f64>,
        header_len: usize,
        reads_raw: bool,
        accepted_prefix: Vec<u8>,
        pended_prefix: Vec<u8>,
        history: Option<Py<History>>,
        shadow: Option<&Engine>,
    ) -> PyResult<Self> {
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
        Ok(StreamDecider {
            rules: Arc::clone(&engine.rules),
            validator_version,
            max_value_bytes,
            max_lines,
            header_len,
            reads_raw,
            our_schema_ids: HashSet::default(),
            targets: [
                target(accepted_topic, accepted_prefix, "ACCEPTED")?,
                target(pended_topic, pended_prefix, "PENDED")?,
            ],
            headers: HeaderCache::default(),
            tally: Tally::new(duration_bounds),
            history,
            shadow: shadow.map(|engine| Shadow::new(Arc::clone(&engine.rules))),
            head: Vec::with_capacity(512),
        })
    }

    /// Confluent framing: values written with this schema id are in our schema's encoding.
    fn allow_schema_id(&mut self, schema_id: u32) {
        self.our_schema_ids.insert(schema_id);
    }

    /// From `records[start]` on, for each message: `(topic, value, headers)` of its decision,
    /// or False for a re-sent event; up to the end or the first message Python must decode.
    /// Returns those results and the index where it stopped.
    #[pyo3(signature = (records, start=0, end=None))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        records: &Bound<'py, PyList>,
        start: usize,
        end: Option<usize>,
    ) -> PyResult<(Bound<'py, PyList>, usize)> {
        let results = PyList::empty(py);
        let end = end.map_or(records.len(), |end| end.min(records.len()));
        let mut index = start;
        while index < end {
            let msg = records.get_item(index)?;
            let started = Instant::now();
            let value = msg.call_method0(intern!(py, "value"))?;
            let body = value
                .cast::<PyBytes>()
                .ok()
                .and_then(|v| self.body(v.as_bytes()));
            let claim = body.and_then(avro::read_claim);
            match (body, claim) {
                (Some(body), Some(claim)) if self.fits(&claim) => {
                    results.append(self.decide(py, &msg, &claim, body)?)?;
                    self.tally.observe(started.elapsed().as_secs_f64());
                }
                _ => break,
            }
            index += 1;
        }
        Ok((results, index))
    }

    /// The decision of a record Python decoded and re-encoded in our schema (`body`).
    fn decide_body<'py>(
        &mut self,
        py: Python<'py>,
        msg: &Bound<'py, PyAny>,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        let started = Instant::now();
        let decided = self.decide(py, msg, &claim_of(body)?, body)?;
        self.tally.observe(started.elapsed().as_secs_f64());
        Ok(decided)
    }

    /// See `Tally.take`; with a shadow rule set, also `"shadow"`: see `Shadow.take`.
    fn take_tally<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let tally = self.tally.take(py)?;
        if let Some(shadow) = self.shadow.as_mut() {
            tally.set_item("shadow", shadow.take_counts(py)?)?;
        }
        Ok(tally)
    }

    /// The shadow records of the claims decided since the last call where the shadow rule
    /// set disagrees with the live one: `(message, value)`, the value a JSON object.
    fn take_shadow<'py>(&mut self, py: Python<'py>) -> Vec<(Py<PyAny>, Bound<'py, PyBytes>)> {
        let records = self
            .shadow
            .as_mut()
            .map(Shadow::take_records)
            .unwrap_or_default();
        let records = records.into_iter();
        records
            .map(|r| (r.msg, PyBytes::new(py, &r.value)))
            .collect()
    }
}

impl StreamDecider {
    /// The Avro body of a value this path reads where it lies.
    fn body<'v>(&self, value: &'v [u8]) -> Option<&'v [u8]> {
        if value.is_empty() || value.len() > self.max_value_bytes {
            return None;
        }
        if self.header_len == 0 {
            return self.reads_raw.then_some(value);
        }
        let (head, body) = value.split_at_checked(self.header_len)?;
        let schema_id = u32::from_be_bytes(head[1..5].try_into().ok()?);
        (head[0] == 0 && self.our_schema_ids.contains(&schema_id)).then_some(body)
    }

    /// The structural limits the decoder applies (else it dead-letters the record).
    fn fits(&self, claim: &Claim) -> bool {
        !claim.lines.is_empty() && claim.lines.len() <= self.max_lines
    }

    fn decide<'py>(
        &mut self,
        py: Python<'py>,
        msg: &Bound<'py, PyAny>,
        claim: &Claim,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        let partition: i32 = (msg.call_method0(intern!(py, "partition"))?)
            .extract::<Option<i32>>()?
            .unwrap_or(0);
        // The shadow's rule sets are shared, not borrowed from `self`, which is changed below.
        let shadow_rules = self.shadow.as_ref().map(Shadow::rules);
        let rules = &self.rules;
        let both = |past: Option<&MemberHistory>| {
            let mut lines = Lines::default();
            let live = rules.decide_with(claim, past, &mut lines, true);
            let candidate =
                (shadow_rules.as_ref()).map(|s| shadow::decide(s, claim, past, &live, &mut lines));
            (live, candidate)
        };
        let decided = match &self.history {
            Some(history) => {
                let mut history = history.bind(py).borrow_mut();
                decide_recorded(Some(history.store(partition)?), claim, both)
            }
            None => Some(both(None)),
        };
        let Some((outcome, candidate)) = decided else {
            self.tally.resent += 1;
            return Ok(PyBool::new(py, false).to_owned().into_any());
        };

        let topic_obj = msg.call_method0(intern!(py, "topic"))?;
        let topic_name = topic_obj.cast::<PyString>().ok();
        let topic = topic_name.as_ref().map_or(Ok(""), |name| name.to_str())?;
        let offset: i64 = (msg.call_method0(intern!(py, "offset"))?)
            .extract::<Option<i64>>()?
            .unwrap_or(0);

        if let (Some(shadow), Some(candidate)) = (self.shadow.as_mut(), candidate.as_ref()) {
            let source = Source {
                topic,
                partition,
                offset,
            };
            shadow.observe(msg, claim, &source, &outcome, candidate);
        }
        let target = &self.targets[usize::from(outcome.pended)];
        let source = Source {
            topic,
            partition,
            offset,
        };
        let version = &self.validator_version;
        // The value is prefix + head + the claim's body, written straight into the bytes
        // object: a Vec of it copied into one was an allocation and a copy of the whole value
        // per record (~2 KB at 50 lines).
        let head = &mut self.head;
        head.clear();
        head.extend_from_slice(&target.prefix);
        write_avro_head(head, claim, &outcome, now_millis(), version, &source);
        let value = bytes_of(py, &[head, body])?;

        let headers = PyList::new(
            py,
            [
                target.header.clone_ref(py),
                self.headers.version(py, outcome.rule_set_version)?,
                self.headers.topic(py, topic)?,
                self.headers.partition(py, partition)?,
                // The only header made per record: its name interned, its value fresh.
                PyTuple::new(
                    py,
                    [
                        intern!(py, "source.offset").clone().into_any(),
                        PyBytes::new(py, itoa::Buffer::new().format(offset).as_bytes()).into_any(),
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
                value.into_any(),
                headers.into_any(),
            ],
        )?;
        self.tally.count(claim, &outcome);
        Ok(result.into_any())
    }
}

impl HeaderCache {
    fn version(&mut self, py: Python<'_>, version: &str) -> PyResult<Py<PyAny>> {
        if let Some(h) = self.versions.get(version) {
            return Ok(h.clone_ref(py));
        }
        let h = header(py, "rule_set_version", version.as_bytes())?;
        self.versions.insert(version.to_owned(), h.clone_ref(py));
        Ok(h)
    }

    fn topic(&mut self, py: Python<'_>, topic: &str) -> PyResult<Py<PyAny>> {
        if let Some((name, h)) = &self.topic {
            if name == topic {
                return Ok(h.clone_ref(py));
            }
        }
        let h = header(py, "source.topic", topic.as_bytes())?;
        self.topic = Some((topic.to_owned(), h.clone_ref(py)));
        Ok(h)
    }

    fn partition(&mut self, py: Python<'_>, partition: i32) -> PyResult<Py<PyAny>> {
        if let Some(h) = self.partitions.get(&partition) {
            return Ok(h.clone_ref(py));
        }
        let h = header(py, "source.partition", partition.to_string().as_bytes())?;
        self.partitions.insert(partition, h.clone_ref(py));
        Ok(h)
    }
}
