//! The history of one input partition: each member's history as bytes (`codec`), kept in
//! memory and mirrored to a compacted changelog topic (key: member id, value: those bytes, a
//! tombstone when the member has none left).
//!
//! Changes made while a batch is decided are pending until the batch's transaction commits
//! (`commit`); an aborted batch is decided again from the history as it was (`abort`). The
//! pending changes are also the batch's changelog records, one per member however many of
//! its claims the batch held.
//!
//! The loop decides the next batch while the last one's transaction commits, so pending
//! changes come in two layers: `seal` closes the batch whose changelog was produced (its
//! transaction is committing), and the next batch's changes open a layer above it.
//! `commit_sealed` makes the sealed layer the history once its transaction committed; an abort
//! forgets both (the next batch was decided on top of the failed one, so it is re-read too).

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry as Slot, HashTable};
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::{codec, MemberHistory};

/// The changelog key of the partition's own record (the newest date of service it has
/// seen): blank member ids have no history, so no member can have this key.
pub const PARTITION_KEY: &[u8] = b"";

/// What the store keeps of a member, in one allocation: the oldest last date of service
/// inside (4 bytes, so retention skips the rest unread), the key's length (a varint), the
/// key, the value. With the key in a box of its own and a map slot of 40 bytes, a million
/// members of 2 claims took 288 MB; with one box and a 16-byte slot per member (and the
/// codec's version 2) they take 207 MB (bench, restore process).
struct Entry(Box<[u8]>);

impl Entry {
    /// Written in `scratch` first, then copied into a box of its exact size: encoding
    /// straight into a new Vec grew it and shrank it again (two reallocs and copies a claim).
    fn new(key: &[u8], history: &MemberHistory, scratch: &mut Vec<u8>) -> Option<Entry> {
        (!history.is_empty()).then(|| {
            scratch.clear();
            scratch.extend_from_slice(&history.oldest_day().to_le_bytes());
            write_len(scratch, key.len());
            scratch.extend_from_slice(key);
            codec::encode_into(history, scratch);
            Entry(Box::from(&scratch[..]))
        })
    }

    /// A value read back from the changelog, as it is.
    fn restored(key: &[u8], oldest: i32, value: &[u8]) -> Entry {
        let mut bytes = Vec::with_capacity(8 + key.len() + value.len());
        bytes.extend_from_slice(&oldest.to_le_bytes());
        write_len(&mut bytes, key.len());
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        Entry(bytes.into_boxed_slice())
    }

    fn oldest(&self) -> i32 {
        i32::from_le_bytes(self.0[..4].try_into().expect("4 bytes"))
    }

    /// (key, value)
    fn parts(&self) -> (&[u8], &[u8]) {
        let (len, at) = read_len(&self.0[4..]);
        self.0[4 + at..].split_at(len)
    }

    fn key(&self) -> &[u8] {
        self.parts().0
    }

    fn value(&self) -> &[u8] {
        self.parts().1
    }

    fn history(&self) -> MemberHistory {
        codec::decode(self.value()).unwrap_or_default()
    }
}

fn write_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push(len as u8 | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

/// (length, bytes it took)
fn read_len(bytes: &[u8]) -> (usize, usize) {
    let mut len = 0;
    for (at, byte) in bytes.iter().enumerate() {
        len |= usize::from(byte & 0x7F) << (7 * at);
        if byte & 0x80 == 0 {
            return (len, at + 1);
        }
    }
    unreachable!("an entry's length is written whole")
}

// FxHash, not SipHash: two lookups per claim, and SipHash showed in the loop's profile.
// Member ids come from the plan's own intake pipeline, not from an adversary.
fn hash(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
}

pub struct PartitionStore {
    retention_days: i32,
    members: HashTable<Entry>,
    /// No entry of `members` holds anything older than this, unless a pending or sealed
    /// change replaces it: retention scans the members only once its cutoff passes this.
    /// Without it every new newest date scanned them all - 4.7 µs a claim in the bench
    /// stream, where the newest date moves on every few claims and nothing expires.
    members_floor: i32,
    newest_day: i32,
    /// This batch's changes: None deletes the member.
    pending: FxHashMap<Box<[u8]>, Option<Entry>>,
    pending_newest: Option<i32>,
    /// The changes of the batch whose transaction is committing (`seal`).
    sealed: FxHashMap<Box<[u8]>, Option<Entry>>,
    sealed_newest: Option<i32>,
    /// Where entries are encoded before they get their own box (`Entry::new`).
    scratch: Vec<u8>,
}

/// One changelog record: key and value (None: a tombstone).
pub type ChangelogRecord = (Vec<u8>, Option<Vec<u8>>);

impl PartitionStore {
    pub fn new(retention_days: i32) -> Self {
        PartitionStore {
            retention_days,
            members: HashTable::new(),
            members_floor: i32::MAX,
            newest_day: i32::MIN,
            pending: FxHashMap::default(),
            pending_newest: None,
            sealed: FxHashMap::default(),
            sealed_newest: None,
            scratch: Vec::new(),
        }
    }

    pub fn members(&self) -> usize {
        self.members.len()
    }

    fn newest(&self) -> i32 {
        (self.pending_newest)
            .or(self.sealed_newest)
            .unwrap_or(self.newest_day)
    }

    fn cutoff(&self) -> i32 {
        self.newest().saturating_sub(self.retention_days)
    }

    fn find(&self, key: &[u8]) -> Option<&Entry> {
        self.members.find(hash(key), |e| e.key() == key)
    }

    /// The member's history as this batch left it so far.
    pub fn get(&self, member: &str) -> MemberHistory {
        let key = member.as_bytes();
        let entry = match self.pending.get(key).or_else(|| self.sealed.get(key)) {
            Some(changed) => changed.as_ref(),
            None => self.find(key),
        };
        entry.map(Entry::history).unwrap_or_default()
    }

    /// Set the member's history (pending until `commit`), and advance the newest date seen.
    pub fn put(&mut self, member: &str, mut history: MemberHistory, last_day: i32) {
        if last_day > self.newest() {
            self.pending_newest = Some(last_day);
            self.expire_all();
        }
        history.expire(self.cutoff());
        let key = member.as_bytes();
        let entry = Entry::new(key, &history, &mut self.scratch);
        match self.pending.get_mut(key) {
            Some(pending) => *pending = entry,
            None => {
                self.pending.insert(key.into(), entry);
            }
        }
    }

    /// Retention over every member, when the newest date of service moved on.
    fn expire_all(&mut self) {
        let cutoff = self.cutoff();
        let changed = |key: &[u8]| self.pending.contains_key(key) || self.sealed.contains_key(key);
        let sealed = (self.sealed.iter())
            .filter(|(key, _)| !self.pending.contains_key(&key[..]))
            .filter_map(|(_, entry)| entry.as_ref());
        let mut stale: Vec<&Entry> = Vec::new();
        let scan_members = cutoff > self.members_floor;
        let mut floor = cutoff; // what is stale now is at least this old once replaced
        if scan_members {
            for entry in self.members.iter() {
                let oldest = entry.oldest();
                if oldest >= cutoff {
                    floor = floor.min(oldest);
                } else if !changed(entry.key()) {
                    stale.push(entry);
                }
            }
        }
        stale.extend(sealed.filter(|e| e.oldest() < cutoff));
        let mut expired = Vec::with_capacity(stale.len());
        for entry in stale {
            let mut history = entry.history();
            history.expire(cutoff);
            expired.push((
                entry.key().into(),
                Entry::new(entry.key(), &history, &mut self.scratch),
            ));
        }
        self.pending.extend(expired);
        if scan_members {
            self.members_floor = floor;
        }
        for (key, pending) in &mut self.pending {
            if pending.as_ref().is_some_and(|e| e.oldest() < cutoff) {
                let mut history = pending.as_ref().map(Entry::history).unwrap_or_default();
                history.expire(cutoff);
                *pending = Entry::new(key, &history, &mut self.scratch);
            }
        }
    }

    /// The pending changes as changelog records (the partition's own record first, when the
    /// newest date moved), borrowed: the caller copies each once, where it needs it.
    pub fn changes(&self) -> impl Iterator<Item = (&[u8], Option<Cow<'_, [u8]>>)> {
        let own = (self.pending_newest).map(|newest| {
            (
                PARTITION_KEY,
                Some(Cow::Owned(newest.to_le_bytes().to_vec())),
            )
        });
        let members = (self.pending.iter())
            .map(|(key, value)| (&key[..], value.as_ref().map(|e| Cow::Borrowed(e.value()))));
        own.into_iter().chain(members)
    }

    /// The pending changes as owned changelog records (`changes`, copied).
    pub fn changelog(&self) -> Vec<ChangelogRecord> {
        self.changes()
            .map(|(key, value)| (key.to_vec(), value.map(Cow::into_owned)))
            .collect()
    }

    /// The batch's changelog is produced and its transaction commits: later changes belong
    /// to the next batch.
    pub fn seal(&mut self) {
        if self.sealed.is_empty() {
            std::mem::swap(&mut self.sealed, &mut self.pending);
        } else {
            self.sealed.extend(self.pending.drain());
        }
        if let Some(newest) = self.pending_newest.take() {
            self.sealed_newest = Some(newest);
        }
    }

    /// The sealed batch is committed: its changes become the history.
    pub fn commit_sealed(&mut self) {
        // Drained, not taken: the map keeps its capacity for the batches to come (`seal`
        // swaps it with `pending`), instead of growing from empty again every batch.
        let mut sealed = std::mem::take(&mut self.sealed);
        for (key, value) in sealed.drain() {
            match value {
                Some(entry) => self.set(entry),
                None => self.remove(&key),
            }
        }
        self.sealed = sealed;
        if let Some(newest) = self.sealed_newest.take() {
            self.newest_day = newest;
        }
    }

    /// Every change is committed (a loop that never decides ahead of a commit).
    pub fn commit(&mut self) {
        self.seal();
        self.commit_sealed();
    }

    fn set(&mut self, entry: Entry) {
        self.members_floor = self.members_floor.min(entry.oldest());
        let key = entry.key();
        match (self.members).entry(hash(key), |e| e.key() == key, |e| hash(e.key())) {
            Slot::Occupied(mut slot) => *slot.get_mut() = entry,
            Slot::Vacant(slot) => {
                slot.insert(entry);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Ok(slot) = self.members.find_entry(hash(key), |e| e.key() == key) {
            slot.remove();
        }
    }

    /// The batch is aborted: forget its changes, and the next batch's decided on top of them.
    pub fn abort(&mut self) {
        // The members that retention found stale were replaced by the changes forgotten now.
        self.members_floor = i32::MIN;
        self.pending.clear();
        self.pending_newest = None;
        self.sealed.clear();
        self.sealed_newest = None;
    }

    /// One changelog record read back while the partition is restored (the latest record of
    /// a key wins; a tombstone deletes). False for a value this version cannot read.
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> bool {
        if key == PARTITION_KEY {
            let day = value
                .and_then(|v| v.try_into().ok())
                .map(i32::from_le_bytes);
            self.newest_day = day.unwrap_or(i32::MIN);
            return value.is_none() || day.is_some();
        }
        let Some(value) = value else {
            self.remove(key);
            return true;
        };
        let Some(history) = codec::decode(value) else {
            return false;
        };
        self.set(Entry::restored(key, history.oldest_day(), value));
        true
    }
}

#[cfg(test)]
mod tests;
