//! The store's pending layers, retention and restore.

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
fn the_next_batch_is_decided_on_top_of_the_sealed_one() {
    let mut store = PartitionStore::new(400);
    store.put("M1", history("e1", "C1", 100), 100);
    store.seal();
    assert!(store.changelog().is_empty()); // produced with the sealed batch
    assert!(store.get("M1").has_event("e1"));
    let mut next = store.get("M1");
    next.events.push(history("e2", "C2", 101).events.remove(0));
    store.put("M1", next, 101);
    store.put("M2", history("e3", "C3", 101), 101);
    assert_eq!(store.changelog().len(), 3); // the partition's record, M1 and M2
    store.commit_sealed();
    assert_eq!(store.members(), 1);
    assert!(store.get("M1").has_event("e2"));
    store.seal();
    store.commit_sealed();
    assert_eq!(store.members(), 2);
    assert_eq!(store.newest_day, 101);
}

#[test]
fn an_abort_forgets_the_sealed_batch_and_the_one_on_top() {
    let mut store = PartitionStore::new(400);
    store.put("M0", history("e0", "C0", 90), 90);
    store.commit();
    store.put("M1", history("e1", "C1", 100), 100);
    store.seal();
    store.put("M2", history("e2", "C2", 101), 101);
    store.abort();
    assert!(store.get("M1").is_empty() && store.get("M2").is_empty());
    assert!(store.get("M0").has_event("e0"));
    assert_eq!(store.newest(), 90);
    store.commit_sealed(); // nothing sealed is left to commit
    assert_eq!(store.members(), 1);
}

#[test]
fn retention_reaches_members_changed_by_the_sealed_batch() {
    let mut store = PartitionStore::new(400);
    store.put("OLD", history("e1", "C1", 100), 100);
    store.seal();
    store.put("NEW", history("e2", "C2", 501), 501);
    let tombstone = (b"OLD".to_vec(), None);
    assert!(store.changelog().contains(&tombstone));
    store.commit_sealed();
    store.commit();
    assert!(store.get("OLD").is_empty());
    assert_eq!(store.members(), 1);
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

#[test]
fn retention_expires_each_member_when_its_day_falls_out_however_the_newest_date_moves() {
    let mut store = PartitionStore::new(400);
    for (member, day) in [("A", 100), ("B", 150), ("C", 200)] {
        store.put(member, history(member, member, day), day);
    }
    store.commit();
    // Newest dates that expire nothing, then one member after another (day + 401 drops it).
    let steps = [
        (300, ""),
        (450, ""),
        (501, "A"),
        (520, "A"),
        (551, "AB"),
        (601, "ABC"),
    ];
    for (newest, gone) in steps {
        store.put("N", history(&format!("n{newest}"), "CN", newest), newest);
        store.commit();
        for member in ["A", "B", "C"] {
            let expired = gone.contains(member);
            assert_eq!(
                store.get(member).is_empty(),
                expired,
                "{member} at newest {newest}"
            );
        }
    }
}

#[test]
fn members_found_stale_in_an_aborted_batch_are_found_again() {
    let mut store = PartitionStore::new(400);
    store.put("OLD", history("e1", "C1", 100), 100);
    store.commit();
    store.put("NEW", history("e2", "C2", 501), 501); // OLD falls out: a tombstone, pending
    store.abort();
    assert!(store.get("OLD").has_event("e1"));
    store.put("NEW", history("e2", "C2", 501), 501); // the batch decided again
    let tombstone = (b"OLD".to_vec(), None);
    assert!(store.changelog().contains(&tombstone));
    store.commit();
    assert!(store.get("OLD").is_empty());
}
