//! The history of one input partition: each member's history as bytes (`codec`), kept in
//! memory and mirrored to a compacted changelog topic (key: member id, value: those bytes, a
//! tombstone when the member has none left).
//!
//! Changes made while a batch is decided are pending until the batch's transaction commits
//! (`commit`); an aborted batch is decided again from the history as it was (`abort`). The
//! pending changes are also the batch's changelog records, one per member however many of
//! its claims the batch held.

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
    fn new(key: &[u8], history: &MemberHistory) -> Option<Entry> {
        (!history.is_empty()).then(|| {
            let mut bytes = Vec::with_capacity(8 + key.len() + 120);
            bytes.extend_from_slice(&history.oldest_day().to_le_bytes());
            write_len(&mut bytes, key.len());
            bytes.extend_from_slice(key);
            codec::encode_into(history, &mut bytes);
            Entry(bytes.into_boxed_slice())
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
    newest_day: i32,
    /// This batch's changes: None deletes the member.
    pending: FxHashMap<Box<[u8]>, Option<Entry>>,
    pending_newest: Option<i32>,
}

/// One changelog record: key and value (None: a tombstone).
pub type ChangelogRecord = (Vec<u8>, Option<Vec<u8>>);

impl PartitionStore {
    pub fn new(retention_days: i32) -> Self {
        PartitionStore {
            retention_days,
            members: HashTable::new(),
            newest_day: i32::MIN,
            pending: FxHashMap::default(),
            pending_newest: None,
        }
    }

    pub fn members(&self) -> usize {
        self.members.len()
    }

    fn newest(&self) -> i32 {
        self.pending_newest.unwrap_or(self.newest_day)
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
        let entry = match self.pending.get(key) {
            Some(pending) => pending.as_ref(),
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
        self.pending.insert(key.into(), Entry::new(key, &history));
    }

    /// Retention over every member, when the newest date of service moved on.
    fn expire_all(&mut self) {
        let cutoff = self.cutoff();
        let stale: Vec<&Entry> = (self.members.iter())
            .filter(|e| e.oldest() < cutoff && !self.pending.contains_key(e.key()))
            .collect();
        let mut expired = Vec::with_capacity(stale.len());
        for entry in stale {
            let mut history = entry.history();
            history.expire(cutoff);
            expired.push((entry.key().into(), Entry::new(entry.key(), &history)));
        }
        self.pending.extend(expired);
        for (key, pending) in &mut self.pending {
            if pending.as_ref().is_some_and(|e| e.oldest() < cutoff) {
                let mut history = pending.as_ref().map(Entry::history).unwrap_or_default();
                history.expire(cutoff);
                *pending = Entry::new(key, &history);
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

    /// The batch is committed: its changes become the history.
    pub fn commit(&mut self) {
        for (key, value) in std::mem::take(&mut self.pending) {
            match value {
                Some(entry) => self.set(entry),
                None => self.remove(&key),
            }
        }
        if let Some(newest) = self.pending_newest.take() {
            self.newest_day = newest;
        }
    }

    fn set(&mut self, entry: Entry) {
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

    /// The batch is aborted: forget its changes.
    pub fn abort(&mut self) {
        self.pending.clear();
        self.pending_newest = None;
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
mod tests {
    use super::super::{PastClaim, PastEvent};
    use super::*;

    fn history(event: &str, claim: &str, day: i32) -> MemberHistory {
        MemberHistory {
            events: vec![PastEvent {
                event_id: event.into(),
                last_day: day,
            }],
            claims: vec![PastClaim {
                claim_id: claim.into(),
                last_day: day,
                lines: Vec::new(),
            }],
        }
    }

    #[test]
    fn changes_wait_for_the_commit_and_an_abort_forgets_them() {
        let mut store = PartitionStore::new(400);
        store.put("M1", history("e1", "C1", 100), 100);
        assert!(store.get("M1").has_event("e1"));
        store.abort();
        assert!(store.get("M1").is_empty());
        store.put("M1", history("e1", "C1", 100), 100);
        assert_eq!(store.changelog().len(), 2); // the partition's record and M1
        store.commit();
        assert!(store.get("M1").has_event("e1"));
        assert!(store.changelog().is_empty());
    }

    #[test]
    fn retention_counts_from_the_newest_date_of_service_seen() {
        let mut store = PartitionStore::new(400);
        store.put("OLD", history("e1", "C1", 100), 100);
        store.commit();
        store.put("NEW", history("e2", "C2", 500), 500); // day 100 is exactly 400 days back
        store.commit();
        assert!(store.get("OLD").has_event("e1"));
        store.put("NEW", history("e3", "C3", 501), 501);
        let tombstone = (b"OLD".to_vec(), None);
        assert!(store.changelog().contains(&tombstone));
        store.commit();
        assert!(store.get("OLD").is_empty());
        assert_eq!(store.members(), 1);
    }

    #[test]
    fn a_restored_partition_is_the_partition_that_wrote_the_changelog() {
        let mut live = PartitionStore::new(400);
        live.put("M1", history("e1", "C1", 200), 200);
        live.put("M2", history("e2", "C2", 300), 300);
        let records = live.changelog();
        live.commit();
        let mut restored = PartitionStore::new(400);
        for (key, value) in &records {
            assert!(restored.restore(key, value.as_deref()));
        }
        assert_eq!(restored.newest_day, live.newest_day);
        assert_eq!(restored.get("M2"), live.get("M2"));
        assert!(restored.restore(b"M2", None));
        assert!(restored.get("M2").is_empty());
        assert!(!restored.restore(b"M3", Some(b"\x09garbage")));
    }
}
