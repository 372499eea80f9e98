//! A batch's decisions kept in the engine, in input order, until the producer's worker produces
//! them (docs/decisions/0006): no Python object per record, and produced without the GIL.

use std::ffi::CStr;
use std::ops::Range;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use smallvec::SmallVec;

use super::producing::{append, NativeProducer, Out};

/// The headers of a decision's record (SPEC §2.3), in this order.
const HEADERS: [&CStr; 5] = [
    c"decision",
    c"rule_set_version",
    c"source.topic",
    c"source.partition",
    c"source.offset",
];
const DECISIONS: [&[u8]; 2] = [b"ACCEPTED", b"PENDED"];

struct Kept {
    pended: bool,
    key: Option<Range<usize>>,
    value: Range<usize>,
    version: usize,
    source: usize,
    /// The partition and the offset as text (header values), one after the other.
    coordinates: (Range<usize>, Range<usize>),
}

/// The decisions of a batch: topic, key, value and headers of each, in one buffer.
#[pyclass(module = "consumer._native", frozen)]
pub struct Decisions {
    /// The ACCEPTED and the PENDED topic.
    topics: [String; 2],
    bytes: Vec<u8>,
    kept: Vec<Kept>,
    versions: Vec<String>,
    sources: Vec<String>,
}

impl Decisions {
    pub fn new(topics: [String; 2]) -> Self {
        Decisions {
            topics,
            bytes: Vec::new(),
            kept: Vec::new(),
            versions: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// An empty `Decisions` for the same topics, and this one.
    pub fn take(&mut self) -> Decisions {
        std::mem::replace(self, Decisions::new(self.topics.clone()))
    }

    /// A decision: the value is `head` then the claim's own `body`.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        pended: bool,
        key: Option<&[u8]>,
        head: &[u8],
        body: &[u8],
        version: &str,
        source: &str,
        partition: i32,
        offset: i64,
    ) {
        let key = key.map(|key| self.append(&[key]));
        let value = self.append(&[head, body]);
        let partition = self.append(&[itoa::Buffer::new().format(partition).as_bytes()]);
        let offset = self.append(&[itoa::Buffer::new().format(offset).as_bytes()]);
        let version = index_of(&mut self.versions, version);
        let source = index_of(&mut self.sources, source);
        self.kept.push(Kept {
            pended,
            key,
            value,
            version,
            source,
            coordinates: (partition, offset),
        });
    }

    fn append(&mut self, parts: &[&[u8]]) -> Range<usize> {
        append(&mut self.bytes, parts)
    }

    fn outs(&self) -> impl Iterator<Item = Out<'_>> + Send {
        let bytes = &self.bytes;
        self.kept.iter().map(move |kept| {
            let headers: [&[u8]; 5] = [
                DECISIONS[usize::from(kept.pended)],
                self.versions[kept.version].as_bytes(),
                self.sources[kept.source].as_bytes(),
                &bytes[kept.coordinates.0.clone()],
                &bytes[kept.coordinates.1.clone()],
            ];
            Out {
                topic: usize::from(kept.pended),
                // The producer's partitioner places it by its key, as `produce()` would.
                partition: -1,
                key: kept.key.clone().map(|key| &bytes[key]),
                value: Some(&bytes[kept.value.clone()]),
                headers: HEADERS.into_iter().zip(headers).collect::<SmallVec<_>>(),
            }
        })
    }
}

/// The index of `name` in `names`, added when missing (a batch has one or two of each).
fn index_of(names: &mut Vec<String>, name: &str) -> usize {
    names.iter().position(|n| n == name).unwrap_or_else(|| {
        names.push(name.to_owned());
        names.len() - 1
    })
}

#[pymethods]
impl Decisions {
    fn __len__(&self) -> usize {
        self.kept.len()
    }

    /// The records as (topic, key, value, headers), for `Producer.produce`.
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for out in self.outs() {
            let headers = (out.headers.iter())
                .map(|(name, value)| (name.to_str().unwrap_or(""), PyBytes::new(py, value)));
            let record = (
                &self.topics[out.topic],
                out.key.map(|key| PyBytes::new(py, key)),
                out.value.map(|value| PyBytes::new(py, value)),
                PyList::new(py, headers)?,
            );
            list.append(record)?;
        }
        Ok(list)
    }

    /// Produce the decisions from `start` on through `producer`, without the GIL: the index
    /// of the first one the producer's queue had no room for, or the number of decisions
    /// (see `NativeProducer.produce`).
    #[pyo3(signature = (producer, start=0))]
    fn produce(&self, py: Python<'_>, producer: &NativeProducer, start: usize) -> PyResult<usize> {
        let topics = [self.topics[0].as_str(), self.topics[1].as_str()];
        let produced = producer.produce(py, &topics, self.outs().skip(start))?;
        Ok(start + produced)
    }
}
