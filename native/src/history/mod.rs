//! A member's claim history (SPEC §3.1): the events already decided and the claims the
//! stateful rules compare with.
//!
//! History is kept per member, per input partition (`store.rs`), and changes only with the
//! claim stream, never with a rule set's outcome: every decided claim, ACCEPTED or PENDED,
//! enters it, so two rule sets deciding the same stream (`--diff`, shadow rule sets) share it.
//! A REPLACEMENT takes the place of the member's claim with its claim_id, a VOID removes it.
//! Entries leave once their last date of service is more than the retention before the
//! newest date of service the partition has seen.

pub mod codec;
pub mod store;

use compact_str::CompactString;

use crate::claim::Claim;
use crate::text::normalise;

/// The claim frequencies (`claim::FREQUENCIES`).
pub const ORIGINAL: u8 = 0;
pub const REPLACEMENT: u8 = 1;
pub const VOID: u8 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastEvent {
    pub event_id: CompactString,
    /// The last date of service of its claim: when the event may be forgotten.
    pub last_day: i32,
}

/// A service line as the stateful rules compare it: the code normalised, a trusted span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastLine {
    pub code: CompactString,
    pub from: i32,
    pub to: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastClaim {
    pub claim_id: CompactString,
    pub last_day: i32,
    pub lines: Vec<PastLine>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberHistory {
    pub events: Vec<PastEvent>,
    pub claims: Vec<PastClaim>,
}

/// The member a claim's history belongs to; None for a blank member id (such claims share
/// nothing, so they get no history: `member.missing` pends them).
pub fn member_of<'a>(claim: &Claim<'a>) -> Option<&'a str> {
    Some(claim.member_id.trim()).filter(|m| !m.is_empty())
}

/// The last date of service of a claim (its latest line's to-date, else from-date).
pub fn last_day(claim: &Claim) -> i32 {
    let lines = claim.lines.iter();
    let days = lines.map(|l| {
        l.service_date_to
            .unwrap_or(l.service_date_from)
            .max(l.service_date_from)
    });
    days.max().unwrap_or(i32::MIN)
}

impl MemberHistory {
    pub fn has_event(&self, event_id: &str) -> bool {
        self.events.iter().any(|e| e.event_id == event_id)
    }

    pub fn claim(&self, claim_id: &str) -> Option<&PastClaim> {
        self.claims.iter().find(|c| c.claim_id == claim_id)
    }

    /// The oldest last date of service it holds (what retention looks at).
    pub fn oldest_day(&self) -> i32 {
        let events = self.events.iter().map(|e| e.last_day);
        events
            .chain(self.claims.iter().map(|c| c.last_day))
            .min()
            .unwrap_or(i32::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.claims.is_empty()
    }

    /// Record a decided claim: its event, and the claim itself as its frequency says.
    pub fn record(&mut self, claim: &Claim) {
        let last = last_day(claim);
        self.events.push(PastEvent {
            event_id: claim.event_id.into(),
            last_day: last,
        });
        let claim_id = claim.claim_id.trim();
        let known = self.claims.iter().position(|c| c.claim_id == claim_id);
        match (claim.frequency, known) {
            // A duplicate ORIGINAL: the first one stands.
            (ORIGINAL, Some(_)) => {}
            (VOID, Some(index)) => {
                self.claims.remove(index);
            }
            (VOID, None) => {}
            (_, index) => {
                if let Some(index) = index {
                    self.claims.remove(index); // a REPLACEMENT takes its place
                }
                self.claims.push(past_claim(claim, claim_id, last));
            }
        }
    }

    /// Forget what is older than `cutoff` (a day number).
    pub fn expire(&mut self, cutoff: i32) {
        self.events.retain(|e| e.last_day >= cutoff);
        self.claims.retain(|c| c.last_day >= cutoff);
    }
}

fn past_claim(claim: &Claim, claim_id: &str, last_day: i32) -> PastClaim {
    let lines = claim.lines.iter();
    // Lines whose dates cannot be trusted (a reversed span) are not compared with later.
    let trusted = lines.filter_map(|line| {
        let to = line.service_date_to.unwrap_or(line.service_date_from);
        (to >= line.service_date_from).then(|| PastLine {
            code: normalise(line.procedure_code).as_ref().into(),
            from: line.service_date_from,
            to,
        })
    });
    PastClaim {
        claim_id: claim_id.into(),
        last_day,
        lines: trusted.collect(),
    }
}

/// Decide `claim` against its member's history in `store` and record it there; `decide`
/// gets the history as it was before the claim (None when no history is kept, or the member
/// id is blank). None when the claim's event was decided before: it is re-sent, and the
/// first decision stands.
pub fn decide_recorded<T>(
    store: Option<&mut store::PartitionStore>,
    claim: &Claim,
    decide: impl FnOnce(Option<&MemberHistory>) -> T,
) -> Option<T> {
    let (Some(store), Some(member)) = (store, member_of(claim)) else {
        return Some(decide(None));
    };
    let mut history = store.get(member);
    if history.has_event(claim.event_id) {
        return None;
    }
    let decided = decide(Some(&history));
    history.record(claim);
    store.put(member, history, last_day(claim));
    Some(decided)
}
