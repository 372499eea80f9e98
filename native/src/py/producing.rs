//! Producing a batch's records from the engine, without the GIL, on the librdkafka handle of
//! the service's own confluent-kafka `Producer` (docs/decisions/0006).
//!
//! confluent-kafka's `produce()` holds the GIL for the whole call (argument parsing, the
//! record handed to librdkafka), and the GIL is what the Kafka loop's two threads queue for:
//! one record per claim more (the claim history's changelog) cost the loop ~1 µs of GIL a
//! claim. Here a batch's records go to `rd_kafka_produceva` in one call that releases the
//! GIL, on the same `rd_kafka_t`: they belong to the producer's open transaction like any
//! other, and a record that fails delivery fails its commit.
//!
//! The handle is read from the `Producer` object (`Handle.rk`, confluent-kafka's first field)
//! and checked before use: a librdkafka producer whose name starts with the client.id it was
//! configured with. The records carry no per-record state, so confluent-kafka's delivery
//! callback skips them (`if (!msgstate) return;`): use this only where a failed delivery
//! fails the transaction (exactly-once), never where delivery reports are counted.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ops::Range;
use std::sync::OnceLock;

use libloading::Library;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use smallvec::SmallVec;

type Handle = *mut c_void;

/// `rd_kafka_vu_t`: the value's type, then a union padded to 64 bytes.
#[repr(C)]
struct Vu {
    vtype: c_int,
    u: [usize; 8],
}

impl Vu {
    fn new(vtype: c_int, words: [usize; 2]) -> Vu {
        let mut u = [0; 8];
        u[..2].copy_from_slice(&words);
        Vu { vtype, u }
    }

    fn mem(vtype: c_int, bytes: Option<&[u8]>) -> Vu {
        // A null pointer is a null key or value: a tombstone.
        let (ptr, len) = bytes.map_or((std::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
        Vu::new(vtype, [ptr as usize, len])
    }
}

// rd_kafka_vtype_t (`rd_kafka_produceva` takes a count: no VTYPE_END)
const VTYPE_RKT: c_int = 2;
const VTYPE_PARTITION: c_int = 3;
const VTYPE_VALUE: c_int = 4;
const VTYPE_KEY: c_int = 5;
const VTYPE_MSGFLAGS: c_int = 7;
/// (name: NUL-terminated, value, size): librdkafka copies both.
const VTYPE_HEADER: c_int = 9;
/// librdkafka copies key and value: the batch's buffers do not outlive the call.
const MSG_F_COPY: usize = 0x2;
const RD_KAFKA_PRODUCER: c_int = 0;
const ERR_QUEUE_FULL: c_int = -184;

/// The librdkafka functions used, from the library confluent-kafka loaded.
struct Api {
    _library: Library,
    produceva: unsafe extern "C" fn(Handle, *const Vu, usize) -> *mut c_void,
    error_code: unsafe extern "C" fn(*const c_void) -> c_int,
    error_string: unsafe extern "C" fn(*const c_void) -> *const c_char,
    error_destroy: unsafe extern "C" fn(*mut c_void),
    kafka_type: unsafe extern "C" fn(Handle) -> c_int,
    name: unsafe extern "C" fn(Handle) -> *const c_char,
    topic_new: unsafe extern "C" fn(Handle, *const c_char, *mut c_void) -> *mut c_void,
    topic_destroy: unsafe extern "C" fn(*mut c_void),
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

impl Api {
    /// `path` is the librdkafka the process has loaded already (confluent-kafka's): opening
    /// it again returns that library.
    fn load(path: &str) -> Result<Api, String> {
        // SAFETY: librdkafka's initialisers already ran when confluent-kafka loaded it; each
        // symbol is given the C signature of librdkafka's public header (rdkafka.h, 2.x).
        unsafe {
            let library = Library::new(path).map_err(|e| e.to_string())?;
            macro_rules! symbol {
                ($name:literal) => {
                    *library
                        .get(concat!($name, "\0").as_bytes())
                        .map_err(|e| e.to_string())?
                };
            }
            Ok(Api {
                produceva: symbol!("rd_kafka_produceva"),
                error_code: symbol!("rd_kafka_error_code"),
                error_string: symbol!("rd_kafka_error_string"),
                error_destroy: symbol!("rd_kafka_error_destroy"),
                kafka_type: symbol!("rd_kafka_type"),
                name: symbol!("rd_kafka_name"),
                topic_new: symbol!("rd_kafka_topic_new"),
                topic_destroy: symbol!("rd_kafka_topic_destroy"),
                _library: library,
            })
        }
    }
}

/// A confluent-kafka `Producer`, produced to from here.
#[pyclass(module = "consumer._native", frozen)]
pub struct NativeProducer {
    producer: Py<PyAny>,
    api: &'static Api,
}

#[pymethods]
impl NativeProducer {
    /// `library`: the path of the librdkafka confluent-kafka loaded; `client_id`: the
    /// producer's `client.id`. ValueError when `producer` is not such a producer.
    #[new]
    fn new(
        py: Python<'_>,
        producer: Bound<'_, PyAny>,
        library: &str,
        client_id: &str,
    ) -> PyResult<Self> {
        let cls = py.import("confluent_kafka.cimpl")?.getattr("Producer")?;
        if !producer.is_instance(&cls)? {
            return Err(PyValueError::new_err("not a confluent_kafka.Producer"));
        }
        let api = API
            .get_or_init(|| Api::load(library))
            .as_ref()
            .map_err(|e| PyValueError::new_err(format!("cannot use {library}: {e}")))?;
        let native = NativeProducer {
            producer: producer.unbind(),
            api,
        };
        let handle = native.handle(py)?;
        // SAFETY: a live handle (read above from a Producer that is not closed).
        let (kind, name) = unsafe {
            let name = CStr::from_ptr((api.name)(handle));
            (
                (api.kafka_type)(handle),
                name.to_string_lossy().into_owned(),
            )
        };
        if kind != RD_KAFKA_PRODUCER || !name.starts_with(&format!("{client_id}#producer-")) {
            return Err(PyValueError::new_err(format!(
                "the Producer's handle is not the expected librdkafka producer ({name})"
            )));
        }
        Ok(native)
    }
}

impl NativeProducer {
    /// The producer's `rd_kafka_t`, read now: None once the producer is closed.
    fn handle(&self, py: Python<'_>) -> PyResult<Handle> {
        let object = self.producer.bind(py).as_ptr().cast::<u8>();
        // SAFETY: confluent-kafka's `Handle` is `PyObject_HEAD` then `rd_kafka_t *rk`; the
        // object is alive (held here) and checked to be a Producer.
        let handle = unsafe {
            object
                .add(std::mem::size_of::<pyo3::ffi::PyObject>())
                .cast::<Handle>()
                .read()
        };
        if handle.is_null() {
            return Err(PyRuntimeError::new_err("the producer is closed"));
        }
        Ok(handle)
    }

    /// Produce `records`, each to `topics[its topic]`, without the GIL, up to the first that
    /// finds the producer's queue full: the number produced before it (all of them when
    /// none did). Any other refusal raises KafkaException, as `produce()` would.
    pub fn produce<'r>(
        &self,
        py: Python<'_>,
        topics: &[&str],
        records: impl Iterator<Item = Out<'r>> + Send,
    ) -> PyResult<usize> {
        let api = self.api;
        let handle = self.handle(py)?;
        let topics = (topics.iter())
            .map(|topic| CString::new(*topic))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| PyValueError::new_err("a topic name holds a NUL"))?;
        // Raw pointers are not Send; the handle stays valid while the GIL is released, as the
        // producer is closed only on the thread that calls this (its worker).
        let handle = handle as usize;
        let produced = py.detach(move || {
            let handle = handle as Handle;
            // SAFETY: a live handle; each Vu array follows `rd_kafka_produceva`'s contract,
            // its pointers valid for the call (librdkafka copies what it keeps).
            unsafe {
                let mut rkts = Vec::with_capacity(topics.len());
                for topic in &topics {
                    let rkt = (api.topic_new)(handle, topic.as_ptr(), std::ptr::null_mut());
                    if rkt.is_null() {
                        rkts.into_iter().for_each(|rkt| (api.topic_destroy)(rkt));
                        return Err((-1, format!("cannot produce to {topic:?}")));
                    }
                    rkts.push(rkt);
                }
                let mut done = 0;
                let mut outcome = Ok(());
                let mut vus: Vec<Vu> = Vec::with_capacity(5 + 5);
                for record in records {
                    vus.clear();
                    vus.extend([
                        Vu::new(VTYPE_RKT, [rkts[record.topic] as usize, 0]),
                        Vu::new(VTYPE_PARTITION, [record.partition as u32 as usize, 0]),
                        Vu::mem(VTYPE_KEY, record.key),
                        Vu::mem(VTYPE_VALUE, record.value),
                        Vu::new(VTYPE_MSGFLAGS, [MSG_F_COPY, 0]),
                    ]);
                    for (name, value) in &record.headers {
                        let words = [name.as_ptr() as usize, value.as_ptr() as usize];
                        let mut header = Vu::new(VTYPE_HEADER, words);
                        header.u[2] = value.len();
                        vus.push(header);
                    }
                    let error = (api.produceva)(handle, vus.as_ptr(), vus.len());
                    if !error.is_null() {
                        let code = (api.error_code)(error);
                        let text = CStr::from_ptr((api.error_string)(error));
                        let text = text.to_string_lossy().into_owned();
                        (api.error_destroy)(error);
                        if code != ERR_QUEUE_FULL {
                            outcome = Err((code, text));
                        }
                        break;
                    }
                    done += 1;
                }
                rkts.into_iter().for_each(|rkt| (api.topic_destroy)(rkt));
                outcome.map(|()| done)
            }
        });
        produced.map_err(|(code, text)| kafka_exception(py, code, &text))
    }
}

/// Append `parts` to `bytes`, one after the other: where they lie in it. (The records a batch
/// produces are kept in one buffer, as ranges.)
pub fn append(bytes: &mut Vec<u8>, parts: &[&[u8]]) -> Range<usize> {
    let start = bytes.len();
    for part in parts {
        bytes.extend_from_slice(part);
    }
    start..bytes.len()
}

/// One record to produce: the index of its topic, its partition (-1: the producer's
/// partitioner places it by its key), key, value (None: null) and headers.
pub struct Out<'r> {
    pub topic: usize,
    pub partition: i32,
    pub key: Option<&'r [u8]>,
    pub value: Option<&'r [u8]>,
    pub headers: SmallVec<[(&'static CStr, &'r [u8]); 5]>,
}

/// confluent_kafka.KafkaException(KafkaError(code, text)), as `produce()` raises.
fn kafka_exception(py: Python<'_>, code: c_int, text: &str) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let kafka = py.import("confluent_kafka")?;
        let error = kafka.getattr("KafkaError")?.call1((code, text))?;
        let exception = kafka.getattr("KafkaException")?.call1((error,))?;
        Ok(PyErr::from_value(exception))
    })();
    made.unwrap_or_else(|e| e)
}
