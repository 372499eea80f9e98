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
//! `take_shadow`; the live decision is written as without it. The claims are decided without
//! the GIL (`super::deciding`).

use rustc_hash::FxHashSet as HashSet;
use std::sync::Arc;
use std::time::Instant;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyTuple};

use super::engine::{claim_of, Engine};
use super::history::History;
use super::tally::Tally;
use crate::ruleset::RuleSets;

use super::deciding::{coordinates, topic_name, Deciding, Input, Made, Rules};
use super::decisions::Decisions;
use super::shadow::{Shadow, ShadowRecord};
use super::values::{bytes_of, header, HeaderCache};

/// Where a decision goes: its topic, the wire-format prefix of its values (empty for `raw`,
/// magic byte + schema id for `confluent`) and its `decision` header.
struct Target {
    topic: Py<PyAny>,
    prefix: Vec<u8>,
    header: Py<PyAny>,
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
    /// The heads of the values a call decided (reused from call to call).
    heads: Vec<u8>,
    /// With `keep_decisions`: the decisions made since the last `take_decisions`, kept here
    /// for the producer's worker instead of handed out one by one (docs/decisions/0006).
    kept: Option<Decisions>,
}

#[pymethods]
impl StreamDecider {
    #[new]
    #[pyo3(signature = (
        engine, *, validator_version, accepted_topic, pended_topic, max_value_bytes,
        max_lines, duration_bounds, header_len=0, reads_raw=true, accepted_prefix=Vec::new(),
        pended_prefix=Vec::new(), history=None, shadow=None, keep_decisions=false
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
        keep_decisions: bool,
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
            heads: Vec::new(),
            kept: keep_decisions
                .then(|| Decisions::new([accepted_topic.to_owned(), pended_topic.to_owned()])),
        })
    }

    /// Confluent framing: values written with this schema id are in our schema's encoding.
    fn allow_schema_id(&mut self, schema_id: u32) {
        self.our_schema_ids.insert(schema_id);
    }

    /// From `records[start]` on, for each message: `(topic, value, headers)` of its decision,
    /// or False for a re-sent event; up to `end` or the first message Python must decode.
    /// Returns those results and the index where it stopped.
    ///
    /// The messages are read and the results built with the GIL; the claims are decoded,
    /// decided, recorded in the history and their values' heads written without it, so that
    /// the producer's worker can write the last batch meanwhile (docs/decisions/0005).
    #[pyo3(signature = (records, start=0, end=None))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        records: &Bound<'py, PyList>,
        start: usize,
        end: Option<usize>,
    ) -> PyResult<(Bound<'py, PyList>, usize)> {
        let end = end.map_or(records.len(), |end| end.min(records.len()));
        // Each message with its value and coordinates, up to the first value not read where it
        // lies.
        let mut held = Vec::with_capacity(end.saturating_sub(start));
        for index in start..end {
            let msg = records.get_item(index)?;
            let value = msg.call_method0(intern!(py, "value"))?;
            let readable = value.cast::<PyBytes>().ok();
            if readable.is_none_or(|v| self.body(v.as_bytes()).is_none()) {
                break;
            }
            let topic = msg.call_method0(intern!(py, "topic"))?;
            let at = coordinates(py, &msg)?;
            held.push((msg, value, topic, at));
        }
        let mut inputs = Vec::with_capacity(held.len());
        for (_, value, topic, (partition, offset)) in &held {
            // Checked above: the body is what follows the wire-format header.
            let value = value.cast::<PyBytes>()?.as_bytes();
            inputs.push(Input {
                body: &value[self.header_len..],
                topic: topic_name(topic)?,
                partition: *partition,
                offset: *offset,
            });
        }

        let rules = self.rules();
        let made = self.decide_keeping_shadow(
            py,
            &rules,
            |deciding| py.detach(|| deciding.run(&inputs)),
            |index| Ok(records.get_item(start + index)?.unbind()),
        )?;

        let results = PyList::empty(py);
        for ((made, input), (msg, ..)) in made.iter().zip(&inputs).zip(&held) {
            results.append(self.output(py, made, input, msg)?)?;
        }
        Ok((results, start + made.len()))
    }

    /// The decision of a record Python decoded and re-encoded in our schema (`body`).
    fn decide_body<'py>(
        &mut self,
        py: Python<'py>,
        msg: &Bound<'py, PyAny>,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        let claim = claim_of(body)?;
        let topic = msg.call_method0(intern!(py, "topic"))?;
        let (partition, offset) = coordinates(py, msg)?;
        let input = Input {
            body,
            topic: topic_name(&topic)?,
            partition,
            offset,
        };
        let rules = self.rules();
        let made = self.decide_keeping_shadow(
            py,
            &rules,
            |deciding| {
                deciding.heads.clear();
                let started = Instant::now();
                let made = deciding.decide(0, &input, &claim)?;
                deciding.tally.observe(started.elapsed().as_secs_f64());
                Ok(made)
            },
            |_| Ok(msg.clone().unbind()),
        )?;
        self.output(py, &made, &input, msg)
    }

    /// The decisions kept since the last call (see `keep_decisions`); empty without it.
    fn take_decisions(&mut self) -> Decisions {
        self.kept.as_mut().map_or_else(
            || Decisions::new([String::new(), String::new()]),
            Decisions::take,
        )
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

    /// The live and the shadow rule sets, shared: the versions in `Made` outlive the borrow of
    /// the decider, and the shadow is changed while its rule sets are used.
    fn rules(&self) -> Rules {
        (
            Arc::clone(&self.rules),
            self.shadow.as_ref().map(Shadow::rules),
        )
    }

    /// Runs `decide` on the parts deciding changes, the member history borrowed, then keeps
    /// the shadow records it made; `msg_of` gives the message of an input's index.
    fn decide_keeping_shadow<'r, T>(
        &mut self,
        py: Python<'_>,
        rules: &'r Rules,
        decide: impl FnOnce(&mut Deciding<'_, 'r>) -> PyResult<T>,
        msg_of: impl Fn(usize) -> PyResult<Py<PyAny>>,
    ) -> PyResult<T> {
        // The history stays borrowed while `decide` runs, detached or not: a thread touching
        // it meanwhile gets PyO3's borrow error, not a race (only the loop's thread uses it).
        let mut history = self.history.as_ref().map(|h| h.bind(py).borrow_mut());
        let (made, shadowed) = {
            let mut deciding = self.deciding(rules, history.as_deref_mut());
            let made = decide(&mut deciding)?;
            (made, deciding.shadowed)
        };
        drop(history);
        if let Some(shadow) = self.shadow.as_mut() {
            for (index, value) in shadowed {
                let msg = msg_of(index)?;
                shadow.keep(ShadowRecord { msg, value });
            }
        }
        Ok(made)
    }

    /// The parts deciding changes, borrowed apart from the Python objects.
    fn deciding<'s, 'r>(
        &'s mut self,
        rules: &'r Rules,
        history: Option<&'s mut History>,
    ) -> Deciding<'s, 'r> {
        Deciding {
            rules: &rules.0,
            shadow_rules: rules.1.as_deref(),
            validator_version: &self.validator_version,
            max_lines: self.max_lines,
            prefixes: [&self.targets[0].prefix, &self.targets[1].prefix],
            tally: &mut self.tally,
            history,
            shadow: self.shadow.as_mut(),
            heads: &mut self.heads,
            shadowed: Vec::new(),
        }
    }

    /// A record's result for Python: False for a re-sent event, else `(topic, value,
    /// headers)`, the value its head (in `self.heads`) and the claim's own body - or True
    /// when the decision is kept (`keep_decisions`).
    fn output<'py>(
        &mut self,
        py: Python<'py>,
        made: &Made,
        input: &Input,
        msg: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Made::Decided {
            pended,
            head,
            version,
        } = made
        else {
            return Ok(PyBool::new(py, false).to_owned().into_any());
        };
        if let Some(kept) = self.kept.as_mut() {
            let key = msg.call_method0(intern!(py, "key"))?;
            let key = key.cast::<PyBytes>().ok().map(|key| key.as_bytes());
            let head = &self.heads[head.clone()];
            let (source, partition) = (input.topic, input.partition);
            kept.push(
                *pended,
                key,
                head,
                input.body,
                version,
                source,
                partition,
                input.offset,
            );
            return Ok(PyBool::new(py, true).to_owned().into_any());
        }
        let target = &self.targets[usize::from(*pended)];
        // Written straight into the bytes object: a Vec of it copied into one was an
        // allocation and a copy of the whole value per record (~2 KB at 50 lines).
        let value = bytes_of(py, &[&self.heads[head.clone()], input.body])?;
        let mut offset = itoa::Buffer::new();
        let offset = offset.format(input.offset).as_bytes();
        let headers = PyList::new(
            py,
            [
                target.header.clone_ref(py),
                self.headers.version(py, version)?,
                self.headers.topic(py, input.topic)?,
                self.headers.partition(py, input.partition)?,
                // The only header made per record: its name interned, its value fresh.
                PyTuple::new(
                    py,
                    [
                        intern!(py, "source.offset").clone().into_any(),
                        PyBytes::new(py, offset).into_any(),
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
        Ok(result.into_any())
    }
}
