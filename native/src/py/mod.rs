//! The Python bindings (`consumer._native`): thin classes over the engine. Python code uses
//! them through `consumer.engine`; `consumer/_native.pyi` is their typed surface.

mod batch;
mod deciding;
mod decisions;
mod engine;
mod history;
mod offline;
mod outcome;
mod producing;
mod shadow;
mod stream;
mod tally;
mod values;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::codec::{avro, json};
use crate::rules::{is_valid_npi, RuleId};
use crate::ruleset::codes;

/// The codes a rule-set file's code spec names ("S9500", "S9325-S9379"); ValueError saying
/// what is wrong otherwise. The rule-set validator calls it, so ranges are read one way.
#[pyfunction]
fn expand_codes(spec: &str) -> PyResult<Vec<String>> {
    codes::expand_codes(spec).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// True for 10 digits whose last is the NPI check digit (the rule `npi.billing` applies).
#[pyfunction]
fn valid_npi(npi: &str) -> bool {
    is_valid_npi(npi)
}

/// The Avro body (our `ClaimSubmitted` schema) of a claim written plainly in the JSON form
/// (one JSON object), or None when it is not written plainly: then `consumer.records` reads
/// it (and says what is wrong with it, if anything).
#[pyfunction]
fn encode_claim<'py>(py: Python<'py>, line: &[u8]) -> Option<Bound<'py, PyBytes>> {
    json::parse(line).map(|claim| PyBytes::new(py, &avro::write_claim(&claim)))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<history::History>()?;
    m.add_class::<history::Changelog>()?;
    m.add_class::<decisions::Decisions>()?;
    m.add_class::<producing::NativeProducer>()?;
    m.add_class::<outcome::Decision>()?;
    m.add_class::<outcome::Reason>()?;
    m.add_class::<outcome::RuleVerdict>()?;
    m.add_class::<outcome::Difference>()?;
    m.add_class::<stream::StreamDecider>()?;
    m.add_class::<offline::OfflineDecider>()?;
    m.add_function(wrap_pyfunction!(batch::age_buckets, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_offsets, m)?)?;
    m.add_function(wrap_pyfunction!(encode_claim, m)?)?;
    m.add_function(wrap_pyfunction!(expand_codes, m)?)?;
    m.add_function(wrap_pyfunction!(valid_npi, m)?)?;
    let ids: Vec<&str> = RuleId::ALL.iter().map(|rule| rule.id()).collect();
    m.add("RULE_IDS", ids)?;
    Ok(())
}
