//! What the loop needs of a consumed batch's messages, read in one call: where each
//! partition's records start and end (`batch_offsets`), and how long ago each was written
//! (`age_buckets`, for the end-to-end latency histogram). In Python, with a method call or
//! three a message, they took 0.43 and 0.95 ms of the loop's thread for 2,000 messages; here
//! 0.23 and 0.22 ms.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::deciding::{coordinates, topic_name};

/// Each `(topic, partition)`'s first offset among `records` and the offset after its last
/// one, as two dicts in the order the partitions first appear. A message without a topic,
/// partition or offset counts as `""`, 0 and 0.
#[pyfunction]
pub fn batch_offsets<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyList>,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    // (topic, partition, first, next): a batch holds a few partitions, so a list is enough.
    let mut seen: Vec<(String, i32, i64, i64)> = Vec::new();
    for msg in records.iter() {
        let topic = msg.call_method0(intern!(py, "topic"))?;
        let topic = topic_name(&topic)?;
        let (partition, offset) = coordinates(py, &msg)?;
        let known = seen
            .iter_mut()
            .find(|(t, p, ..)| *p == partition && t == topic);
        match known {
            Some(entry) => entry.3 = offset + 1,
            None => seen.push((topic.to_owned(), partition, offset, offset + 1)),
        }
    }
    let (first, next) = (PyDict::new(py), PyDict::new(py));
    for (topic, partition, start, end) in seen {
        let key = (topic, partition);
        first.set_item(key.clone(), start)?;
        next.set_item(key, end)?;
    }
    Ok((first, next))
}

/// The ages of `records` at `now_ms` as histogram counts: for each record with a timestamp,
/// `now_ms` less its timestamp in seconds (0 if it lies ahead), counted in the first bucket
/// whose upper bound it does not exceed (Prometheus' `le`; the last count is +Inf). Returns
/// the counts and the sum of the ages.
#[pyfunction]
pub fn age_buckets(
    py: Python<'_>,
    records: &Bound<'_, PyList>,
    now_ms: f64,
    bounds: Vec<f64>,
) -> PyResult<(Vec<u64>, f64)> {
    let mut counts = vec![0; bounds.len() + 1];
    let mut sum = 0.0;
    for msg in records.iter() {
        let (kind, millis): (i32, i64) = msg.call_method0(intern!(py, "timestamp"))?.extract()?;
        if kind == 0 || millis <= 0 {
            continue; // no timestamp (TIMESTAMP_NOT_AVAILABLE)
        }
        let age = (now_ms - millis as f64).max(0.0) / 1000.0;
        counts[bounds.partition_point(|bound| *bound < age)] += 1;
        sum += age;
    }
    Ok((counts, sum))
}
