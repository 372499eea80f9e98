//! The Python objects of a decision's record: its value, built in place, and its headers, the
//! ones that repeat from record to record made once.

use rustc_hash::FxHashMap as HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// Header tuples that repeat from record to record, made once. Looked up for every record, so
/// hashed with FxHash, as in the engine: the default SipHash of the rule-set version and the
/// partition cost ~0.03-0.09 us a record (bench harness, 5-line claims).
#[derive(Default)]
pub struct HeaderCache {
    versions: HashMap<String, Py<PyAny>>,
    topic: Option<(String, Py<PyAny>)>,
    partitions: HashMap<i32, Py<PyAny>>,
}

/// A header tuple, `(name, value)`.
pub fn header(py: Python<'_>, name: &str, value: &[u8]) -> PyResult<Py<PyAny>> {
    let pair = [
        name.into_pyobject(py)?.into_any(),
        PyBytes::new(py, value).into_any(),
    ];
    Ok(PyTuple::new(py, pair)?.into_any().unbind())
}

/// A bytes object of `parts` one after the other.
pub fn bytes_of<'py>(py: Python<'py>, parts: &[&[u8]]) -> PyResult<Bound<'py, PyBytes>> {
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

impl HeaderCache {
    pub fn version(&mut self, py: Python<'_>, version: &str) -> PyResult<Py<PyAny>> {
        if let Some(h) = self.versions.get(version) {
            return Ok(h.clone_ref(py));
        }
        let h = header(py, "rule_set_version", version.as_bytes())?;
        self.versions.insert(version.to_owned(), h.clone_ref(py));
        Ok(h)
    }

    pub fn topic(&mut self, py: Python<'_>, topic: &str) -> PyResult<Py<PyAny>> {
        if let Some((name, h)) = &self.topic {
            if name == topic {
                return Ok(h.clone_ref(py));
            }
        }
        let h = header(py, "source.topic", topic.as_bytes())?;
        self.topic = Some((topic.to_owned(), h.clone_ref(py)));
        Ok(h)
    }

    pub fn partition(&mut self, py: Python<'_>, partition: i32) -> PyResult<Py<PyAny>> {
        if let Some(h) = self.partitions.get(&partition) {
            return Ok(h.clone_ref(py));
        }
        let h = header(py, "source.partition", partition.to_string().as_bytes())?;
        self.partitions.insert(partition, h.clone_ref(py));
        Ok(h)
    }
}
