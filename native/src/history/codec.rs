//! A member's history as bytes: the value of its changelog record and of the in-memory store.
//!
//! Avro-style varints and length-prefixed strings, behind a version byte so the format can
//! change without misreading old changelogs. About 20 bytes plus the ids per event and per
//! claim, and 8 bytes plus the code per line.

use super::{MemberHistory, PastClaim, PastEvent, PastLine};
use crate::codec::avro::{Reader, Writer};

const VERSION: u8 = 1;

pub fn encode(history: &MemberHistory) -> Vec<u8> {
    let mut out = vec![VERSION];
    let mut w = Writer { out: &mut out };
    w.long(history.events.len() as i64);
    for event in &history.events {
        w.string(&event.event_id);
        w.long(i64::from(event.last_day));
    }
    w.long(history.claims.len() as i64);
    for claim in &history.claims {
        w.string(&claim.claim_id);
        w.long(i64::from(claim.last_day));
        w.long(claim.lines.len() as i64);
        for line in &claim.lines {
            w.string(&line.code);
            w.long(i64::from(line.from));
            w.long(i64::from(line.to) - i64::from(line.from));
        }
    }
    out
}

/// None for bytes this version did not write.
pub fn decode(bytes: &[u8]) -> Option<MemberHistory> {
    let (&version, body) = bytes.split_first()?;
    if version != VERSION {
        return None;
    }
    let mut r = Reader::new(body);
    let count = |r: &mut Reader| usize::try_from(r.long()?).ok();
    let events = (0..count(&mut r)?)
        .map(|_| {
            Some(PastEvent {
                event_id: r.string()?.to_owned(),
                last_day: r.int()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let n_claims = count(&mut r)?;
    let mut claims = Vec::with_capacity(n_claims.min(1024));
    for _ in 0..n_claims {
        let claim_id = r.string()?.to_owned();
        let last_day = r.int()?;
        let lines = (0..count(&mut r)?)
            .map(|_| {
                let code = r.string()?.to_owned();
                let from = r.int()?;
                let to = from.checked_add(r.int()?)?;
                Some(PastLine { code, from, to })
            })
            .collect::<Option<Vec<_>>>()?;
        claims.push(PastClaim {
            claim_id,
            last_day,
            lines,
        });
    }
    r.at_end().then_some(MemberHistory { events, claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_round_trips_and_foreign_bytes_do_not_read() {
        let history = MemberHistory {
            events: vec![PastEvent {
                event_id: "e-1".into(),
                last_day: 20_640,
            }],
            claims: vec![PastClaim {
                claim_id: "C1".into(),
                last_day: 20_640,
                lines: vec![PastLine {
                    code: "S9500".into(),
                    from: 20_638,
                    to: 20_640,
                }],
            }],
        };
        let bytes = encode(&history);
        assert_eq!(decode(&bytes), Some(history));
        assert_eq!(decode(&[2, 0, 0]), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }
}
