//! `History`: the claim history of the input partitions a process holds (SPEC §3.1), shared
//! by the deciders that read it. Python restores it from the changelog, produces its pending
//! changes with each batch and commits or aborts them with the batch's transaction.

use std::collections::HashMap;
use std::ops::Range;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use smallvec::SmallVec;

use super::producing::{append, NativeProducer, Out};
use crate::codec::avro;
use crate::history::store::PartitionStore;
use crate::history::{decide_recorded, member_of};

#[pyclass(module = "consumer._native")]
pub struct History {
    retention_days: i32,
    stores: HashMap<i32, PartitionStore>,
}

impl History {
    pub fn commit_all(&mut self) {
        self.stores.values_mut().for_each(PartitionStore::commit);
    }

    pub fn assign_partition(&mut self, partition: i32) {
        self.stores
            .insert(partition, PartitionStore::new(self.retention_days));
    }

    pub fn store(&mut self, partition: i32) -> PyResult<&mut PartitionStore> {
        self.stores.get_mut(&partition).ok_or_else(|| {
            PyValueError::new_err(format!(
                "partition {partition} has no history: it is not assigned, or not restored"
            ))
        })
    }
}

#[pymethods]
impl History {
    #[new]
    fn new(retention_days: i32) -> Self {
        History {
            retention_days,
            stores: HashMap::new(),
        }
    }

    /// Start an empty history for `partition` (then `restore` it before deciding).
    fn assign(&mut self, partition: i32) {
        self.assign_partition(partition);
    }

    /// Drop the partition's history (revoked or lost).
    fn revoke(&mut self, partition: i32) {
        self.stores.remove(&partition);
    }

    /// The partitions held, sorted.
    fn partitions(&self) -> Vec<i32> {
        let mut partitions: Vec<i32> = self.stores.keys().copied().collect();
        partitions.sort_unstable();
        partitions
    }

    /// Members with a history in `partition`.
    fn members(&self, partition: i32) -> usize {
        self.stores
            .get(&partition)
            .map_or(0, PartitionStore::members)
    }

    /// Changelog records read back, in order: (key, value or None for a tombstone).
    fn restore(
        &mut self,
        partition: i32,
        records: Vec<(Bound<'_, PyBytes>, Option<Bound<'_, PyBytes>>)>,
    ) -> PyResult<()> {
        let store = self.store(partition)?;
        for (key, value) in &records {
            if !store.restore(key.as_bytes(), value.as_ref().map(|v| v.as_bytes())) {
                return Err(PyValueError::new_err(format!(
                    "a changelog record of partition {partition} is not a history this version \
                     wrote"
                )));
            }
        }
        Ok(())
    }

    /// Record claims (Avro bodies in our schema) without deciding them, e.g. the history before
    /// a replayed range; pending until `commit`, like a batch's. The indexes of bodies it
    /// cannot read.
    fn record(&mut self, partition: i32, bodies: Vec<Bound<'_, PyBytes>>) -> PyResult<Vec<usize>> {
        let store = self.store(partition)?;
        let mut unreadable = Vec::new();
        for (index, body) in bodies.iter().enumerate() {
            match avro::read_claim(body.as_bytes()) {
                Some(claim) if member_of(&claim).is_some() => {
                    decide_recorded(Some(&mut *store), &claim, |_| ());
                }
                Some(_) => {}
                None => unreadable.push(index),
            }
        }
        Ok(unreadable)
    }

    /// The pending changes of every partition as changelog records (`Changelog`).
    fn changelog(&self) -> Changelog {
        let mut changelog = Changelog::default();
        for (partition, store) in &self.stores {
            for (key, value) in store.changes() {
                changelog.push(*partition, key, value.as_deref());
            }
        }
        changelog
    }

    /// Every change is committed: it becomes the history.
    fn commit(&mut self) {
        self.commit_all();
    }

    /// The batch's changelog is produced: later changes belong to the next batch, decided
    /// while this one's transaction commits.
    fn seal(&mut self) {
        self.stores.values_mut().for_each(PartitionStore::seal);
    }

    /// The sealed batch is committed: its changes become the history (the next batch's stay
    /// pending).
    fn commit_sealed(&mut self) {
        self.stores
            .values_mut()
            .for_each(PartitionStore::commit_sealed);
    }

    /// The batch is aborted: forget its changes (sealed or not).
    fn abort(&mut self) {
        self.stores.values_mut().for_each(PartitionStore::abort);
    }
}

/// A batch's changelog records, copied out of the history so that the next batch can change it
/// while they are produced: (partition, key, value or None for a tombstone), in one buffer.
#[pyclass(module = "consumer._native", frozen)]
#[derive(Default)]
pub struct Changelog {
    bytes: Vec<u8>,
    records: Vec<(i32, Range<usize>, Option<Range<usize>>)>,
}

impl Changelog {
    fn push(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) {
        let key = append(&mut self.bytes, &[key]);
        let value = value.map(|value| append(&mut self.bytes, &[value]));
        self.records.push((partition, key, value));
    }

    fn iter(&self) -> impl Iterator<Item = (i32, &[u8], Option<&[u8]>)> + Send {
        let bytes = &self.bytes;
        (self.records.iter())
            .map(move |(p, k, v)| (*p, &bytes[k.clone()], v.clone().map(|v| &bytes[v])))
    }

    fn outs(&self) -> impl Iterator<Item = Out<'_>> + Send {
        (self.iter()).map(|(partition, key, value)| Out {
            topic: 0,
            partition,
            key: Some(key),
            value,
            headers: SmallVec::new(),
        })
    }
}

#[pymethods]
impl Changelog {
    fn __len__(&self) -> usize {
        self.records.len()
    }

    /// The records as (partition, key, value or None), for `Producer.produce`.
    fn records<'py>(
        &self,
        py: Python<'py>,
    ) -> Vec<(i32, Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>)> {
        (self.iter())
            .map(|(p, k, v)| (p, PyBytes::new(py, k), v.map(|v| PyBytes::new(py, v))))
            .collect()
    }

    /// Produce the records from `start` on to `topic` through `producer`, without the GIL:
    /// the index of the first one the producer's queue had no room for, or the number of
    /// records (see `NativeProducer.produce`).
    #[pyo3(signature = (producer, topic, start=0))]
    fn produce(
        &self,
        py: Python<'_>,
        producer: &NativeProducer,
        topic: &str,
        start: usize,
    ) -> PyResult<usize> {
        let produced = producer.produce(py, &[topic], self.outs().skip(start))?;
        Ok(start + produced)
    }
}
