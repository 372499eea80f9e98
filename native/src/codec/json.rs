//! The JSON form of a claim (SPEC §2.1) for offline `validate`: the fast reader of claims
//! written plainly.
//!
//! Reading is strict: only the plain spellings (`"2026-07-01"`, `"125.00"`,
//! `"2026-07-01T12:00:00Z"`, numbers or "NaN"/"Infinity" for doubles, no unknown keys).
//! Anything else is None, and the caller lets `consumer.records` read the line - which turns
//! any other spelling the JSON form allows into the same claim, or says what is wrong with it.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::claim::{lob_index, Claim, FREQUENCIES};
use crate::text::parse_date;

/// The claim on a line of JSON Lines (surrounding white space allowed), or None.
pub fn parse(line: &[u8]) -> Option<Claim<'_>> {
    // One UTF-8 check of the whole line, so serde need not check string by string.
    let text = std::str::from_utf8(strip_bytes(line)).ok()?;
    serde_json::from_str(text).ok()
}

// --- field readers --------------------------------------------------------------------------

fn refuse<E: de::Error>() -> E {
    E::custom("left to the Python reader")
}

/// A double: a JSON number, or "NaN", "Infinity", "-Infinity".
pub fn double<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct Double;
    impl Visitor<'_> for Double {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            match v {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => Err(refuse()),
            }
        }
    }
    d.deserialize_any(Double)
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    parse_date(<&str>::deserialize(d)?).ok_or_else(refuse)
}

pub fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match Option::<&str>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_date(text).map(Some).ok_or_else(refuse),
    }
}

/// An enum symbol of the claim, as its index.
fn symbol<'de, D: Deserializer<'de>>(d: D, symbols: &[&str]) -> Result<u8, D::Error> {
    let text = <&str>::deserialize(d)?;
    let index = symbols.iter().position(|s| *s == text);
    index.map(|i| i as u8).ok_or_else(refuse)
}

pub fn frequency<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    symbol(d, &FREQUENCIES)
}

pub fn line_of_business<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    lob_index(<&str>::deserialize(d)?).ok_or_else(refuse)
}

/// "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff](Z|±HH:MM)" -> UTC milliseconds (sub-milliseconds
/// dropped, as the wire keeps them).
fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = i64::from(parse_date(&text[..10])?);
    let year = digits(&text[..4])?;
    if !(2..=9998).contains(&year) {
        return None; // near the ends a zone shift may leave the range: Python says which
    }
    let (hour, minute, second) = (
        digits(&text[11..13])?,
        digits(&text[14..16])?,
        digits(&text[17..19])?,
    );
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end != 3 && end != 6 {
            return None;
        }
        millis = digits(&fraction[..3])?;
        rest = &fraction[end..];
    }
    let offset_minutes = match rest {
        "Z" => 0,
        _ => {
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' || !(r[0] == b'+' || r[0] == b'-') {
                return None;
            }
            let (h, m) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if r[0] == b'-' { -1 } else { 1 };
            sign * (h * 60 + m)
        }
    };
    let local = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
    Some(local - offset_minutes * 60_000)
}

pub fn timestamp_millis<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    parse_timestamp(<&str>::deserialize(d)?).ok_or_else(refuse)
}

/// "-?D+.DD" with at most 9 digits before the point -> cents. Other spellings (numbers,
/// exponents, spaces, "-0.00") are Python's to read.
fn parse_cents(text: &str) -> Option<i64> {
    let (negative, body) = text
        .strip_prefix('-')
        .map_or((false, text), |body| (true, body));
    let (whole, fraction) = body.split_once('.')?;
    // decimal(11, 2): at most 9 digits before the point (leading zeros aside).
    if whole.trim_start_matches('0').len() > 9 || fraction.len() != 2 {
        return None;
    }
    let cents = digits(whole)? * 100 + digits(fraction)?;
    if negative && cents == 0 {
        return None; // Decimal("-0.00") prints with its sign
    }
    Some(if negative { -cents } else { cents })
}

pub fn cents<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = <&str>::deserialize(d)?;
    parse_cents(text).ok_or_else(refuse)
}

/// `bytes.strip()`: ASCII whitespace, vertical tab included.
pub fn strip_bytes(line: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    let start = line.iter().position(|b| !space(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}
