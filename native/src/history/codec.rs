//! A member's history as bytes: the value of its changelog record and of the in-memory store.
//!
//! Avro-style varints and length-prefixed strings, behind a version byte so the format can
//! change without misreading old changelogs. About 3 bytes plus the ids per event and per
//! claim, and 5 bytes per line.

use compact_str::CompactString;

use super::{MemberHistory, PastClaim, PastEvent, PastLine};
use crate::codec::avro::{Reader, Writer};

/// Version 1: days as plain varints and codes as strings. Still read (changelogs written by an
/// older release); never written.
const V1: u8 = 1;
/// Version 2: days as varint deltas (a line's from and to against its claim's last day) and
/// codes of the usual shapes (`J1569`, `99602`, `0591T`) packed into one varint. A member
/// with 2 claims of 5 lines took 164 bytes in version 1 and takes 113; with the key and the
/// store's own header that is the difference between mimalloc's 192- and 160-byte classes,
/// 32 MB per million members.
const V2: u8 = 2;

pub fn encode(history: &MemberHistory) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(history, &mut out);
    out
}

/// `encode`, appended to `out`.
pub fn encode_into(history: &MemberHistory, out: &mut Vec<u8>) {
    out.push(V2);
    let mut w = Writer { out };
    // Every date but a line's is written against the one before it: mostly one byte.
    let mut previous = 0i64;
    let mut day = |w: &mut Writer, day: i32| {
        w.long(i64::from(day) - previous);
        previous = i64::from(day);
    };
    w.long(history.events.len() as i64);
    for event in &history.events {
        w.string(&event.event_id);
        day(&mut w, event.last_day);
    }
    w.long(history.claims.len() as i64);
    for claim in &history.claims {
        w.string(&claim.claim_id);
        day(&mut w, claim.last_day);
        w.long(claim.lines.len() as i64);
        for line in &claim.lines {
            write_code(&mut w, &line.code);
            w.long(i64::from(claim.last_day) - i64::from(line.from));
            w.long(i64::from(line.to) - i64::from(line.from));
        }
    }
}

/// None for bytes no version of this release wrote.
pub fn decode(bytes: &[u8]) -> Option<MemberHistory> {
    let (&version, body) = bytes.split_first()?;
    let v2 = match version {
        V1 => false,
        V2 => true,
        _ => return None,
    };
    let mut r = Reader::new(body);
    let mut previous = 0i64;
    let mut day = |r: &mut Reader| {
        let value = if v2 { previous + r.long()? } else { r.long()? };
        previous = value;
        i32::try_from(value).ok()
    };
    // Sized up front, with room for the event and claim `MemberHistory::record` adds next:
    // collecting through `Option` grew each Vec from empty, and the reallocs showed in the
    // stream's profile (a member's history is decoded for each of its claims). Every item
    // takes at least a byte, so a count beyond the bytes left is corrupt.
    let count = |r: &mut Reader| {
        let n = usize::try_from(r.long()?).ok()?;
        (n <= body.len()).then_some(n)
    };
    let n_events = count(&mut r)?;
    let mut events = Vec::with_capacity(n_events + 1);
    for _ in 0..n_events {
        events.push(PastEvent {
            event_id: r.string()?.into(),
            last_day: day(&mut r)?,
        });
    }
    let n_claims = count(&mut r)?;
    let mut claims = Vec::with_capacity(n_claims + 1);
    for _ in 0..n_claims {
        let claim_id = r.string()?.into();
        let last_day = day(&mut r)?;
        let n_lines = count(&mut r)?;
        let mut lines = Vec::with_capacity(n_lines);
        for _ in 0..n_lines {
            let (code, from) = if v2 {
                let code = read_code(&mut r)?;
                (code, last_day.checked_sub(r.int()?)?)
            } else {
                (r.string()?.into(), r.int()?)
            };
            let to = from.checked_add(r.int()?)?;
            lines.push(PastLine { code, from, to });
        }
        claims.push(PastClaim {
            claim_id,
            last_day,
            lines,
        });
    }
    r.at_end().then_some(MemberHistory { events, claims })
}

/// The code shapes packed into one number: five digits (CPT), a letter and four digits
/// (HCPCS level II), four digits and a letter (CPT category II/III).
const DIGITS: i64 = 100_000;
const LETTER_FIRST: i64 = 1 + DIGITS;
const LETTER_LAST: i64 = LETTER_FIRST + 26 * 10_000;

/// A code: a packed code as one positive varint (three bytes), anything else as 0 and a
/// string.
fn write_code(w: &mut Writer, code: &str) {
    match pack(code.as_bytes()) {
        Some(packed) => w.long(packed),
        None => {
            w.long(0);
            w.string(code);
        }
    }
}

fn read_code(r: &mut Reader) -> Option<CompactString> {
    match r.long()? {
        0 => r.string().map(CompactString::from),
        packed => unpack(packed),
    }
}

fn pack(code: &[u8]) -> Option<i64> {
    let digits = |bytes: &[u8]| -> Option<i64> {
        bytes.iter().try_fold(0i64, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    };
    match code {
        [a, b, c, d, e] if a.is_ascii_uppercase() => {
            Some(LETTER_FIRST + i64::from(a - b'A') * 10_000 + digits(&[*b, *c, *d, *e])?)
        }
        [a, b, c, d, e] if e.is_ascii_uppercase() => {
            Some(LETTER_LAST + i64::from(e - b'A') * 10_000 + digits(&[*a, *b, *c, *d])?)
        }
        [_, _, _, _, _] => Some(1 + digits(code)?),
        _ => None,
    }
}

/// The five characters of a packed code, built on the stack (a code is one of a history's
/// lines, read for every claim of a member with history).
fn unpack(packed: i64) -> Option<CompactString> {
    let mut code = [b'0'; 5];
    match packed {
        ..1 => return None,
        1..LETTER_FIRST => digits(packed - 1, &mut code),
        LETTER_FIRST..LETTER_LAST => {
            let at = packed - LETTER_FIRST;
            code[0] = letter(at / 10_000)?;
            digits(at % 10_000, &mut code[1..]);
        }
        _ => {
            let at = packed - LETTER_LAST;
            digits(at % 10_000, &mut code[..4]);
            code[4] = letter(at / 10_000)?;
        }
    }
    std::str::from_utf8(&code).ok().map(CompactString::from)
}

fn letter(index: i64) -> Option<u8> {
    u8::try_from(index)
        .ok()
        .filter(|l| *l < 26)
        .map(|l| b'A' + l)
}

/// `number` as `out.len()` digits, zero-padded (it has no more).
fn digits(mut number: i64, out: &mut [u8]) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (number % 10) as u8;
        number /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_claim(code: &str) -> MemberHistory {
        MemberHistory {
            events: vec![PastEvent {
                event_id: "e-1".into(),
                last_day: 20_640,
            }],
            claims: vec![PastClaim {
                claim_id: "C1".into(),
                last_day: 20_640,
                lines: vec![PastLine {
                    code: code.into(),
                    from: 20_638,
                    to: 20_640,
                }],
            }],
        }
    }

    #[test]
    fn a_history_round_trips_and_foreign_bytes_do_not_read() {
        let history = one_claim("S9500");
        let bytes = encode(&history);
        assert_eq!(decode(&bytes), Some(history));
        assert_eq!(decode(&[9, 0, 0]), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn version_1_is_still_read() {
        // `one_claim("S9500")` as release 1 wrote it.
        let v1 = [
            1, 2, 6, 101, 45, 49, 192, 194, 2, 2, 4, 67, 49, 192, 194, 2, 2, 10, 83, 57, 53, 48,
            48, 188, 194, 2, 4,
        ];
        assert_eq!(decode(&v1), Some(one_claim("S9500")));
    }

    #[test]
    fn every_code_round_trips_packed_or_not() {
        let codes = [
            "S9500",
            "J0001",
            "Z9999",
            "A0000",
            "99602",
            "00000",
            "0591T",
            "9999Z",
            "G0068",
            "A12B4",
            "j1569",
            "",
            "S950",
            "S95000",
            "J1569-XX",
            "ÄÄÄÄÄ",
        ];
        for code in codes {
            let history = one_claim(code);
            assert_eq!(decode(&encode(&history)), Some(history), "{code}");
        }
        assert_eq!(pack(b"J1569").map(|_| ()), Some(()));
        assert_eq!(pack(b"0591T").map(|_| ()), Some(()));
        assert_eq!(pack(b"A12B4"), None);
    }

    #[test]
    fn days_are_small_deltas() {
        let history = one_claim("S9500");
        // version, 1 event ("e-1", 3 bytes for its day), 1 claim ("C1", 1 byte for its day as
        // the event's), 1 line (3 bytes of code, 1 each for from and to).
        assert_eq!(encode(&history).len(), 1 + 1 + 4 + 3 + 1 + 3 + 1 + 1 + 5);
    }
}
