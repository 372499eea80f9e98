//! The JSON form of a claim (SPEC §2.1) for offline `validate`: the fast reader of claims
//! written plainly.
//!
//! Reading is strict: only the plain spellings (`"2026-07-01"`, `"125.00"`,
//! `"2026-07-01T12:00:00Z"`, numbers or "NaN"/"Infinity" for doubles, no unknown keys).
//! Anything else is None, and the caller lets `consumer.records` read the line - which turns
//! any other spelling the JSON form allows into the same claim, or says what is wrong with it.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::claim::{lob_index, Claim, Line, Ndc, FREQUENCIES, UNKNOWN_LOB};
use crate::text::parse_date;

type Text<'a> = Cow<'a, str>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonNdc<'a> {
    #[serde(borrow)]
    code: Text<'a>,
    #[serde(borrow)]
    qualifier: Text<'a>,
    #[serde(borrow)]
    unit: Text<'a>,
    #[serde(deserialize_with = "double")]
    quantity: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine<'a> {
    line_number: i32,
    #[serde(borrow)]
    procedure_code: Text<'a>,
    #[serde(default, borrow)]
    modifiers: Vec<Text<'a>>,
    #[serde(deserialize_with = "date")]
    service_date_from: i32,
    #[serde(default, deserialize_with = "optional_date")]
    service_date_to: Option<i32>,
    #[serde(deserialize_with = "double")]
    units: f64,
    #[serde(default)]
    infusions: Option<i32>,
    #[serde(default, borrow)]
    place_of_service: Option<Text<'a>>,
    #[serde(default)]
    diagnosis_pointers: Vec<i32>,
    #[serde(deserialize_with = "cents")]
    charge: i64,
    #[serde(default, borrow)]
    ndc: Option<JsonNdc<'a>>,
    #[serde(default, borrow)]
    prior_authorization: Option<Text<'a>>,
    #[serde(default, borrow)]
    rendering_npi: Option<Text<'a>>,
    #[serde(default, borrow)]
    description: Option<Text<'a>>,
}

fn original() -> Text<'static> {
    Cow::Borrowed(FREQUENCIES[0])
}

fn unknown() -> Text<'static> {
    Cow::Borrowed("UNKNOWN")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonClaim<'a> {
    #[serde(borrow)]
    event_id: Text<'a>,
    #[serde(borrow)]
    claim_id: Text<'a>,
    #[serde(default = "original", borrow)]
    frequency: Text<'a>,
    #[serde(default, borrow)]
    payer_claim_number: Option<Text<'a>>,
    #[serde(deserialize_with = "timestamp_millis")]
    submitted_at: i64,
    #[serde(default = "unknown", borrow)]
    line_of_business: Text<'a>,
    #[serde(default, borrow)]
    contract_id: Option<Text<'a>>,
    #[serde(borrow)]
    member_id: Text<'a>,
    #[serde(borrow)]
    billing_npi: Text<'a>,
    #[serde(default, borrow)]
    rendering_npi: Option<Text<'a>>,
    #[serde(default, borrow)]
    place_of_service: Option<Text<'a>>,
    #[serde(default, borrow)]
    diagnosis_codes: Vec<Text<'a>>,
    #[serde(default, borrow)]
    prior_authorization: Option<Text<'a>>,
    #[serde(deserialize_with = "cents")]
    total_charge: i64,
    #[serde(borrow)]
    lines: Vec<JsonLine<'a>>,
}

/// A parsed claim line; `claim()` views it as the decoder's `Claim`.
pub struct ParsedClaim<'a>(JsonClaim<'a>);

pub fn parse(line: &[u8]) -> Option<ParsedClaim<'_>> {
    let claim: JsonClaim = serde_json::from_slice(line).ok()?;
    FREQUENCIES.iter().position(|f| *f == claim.frequency)?;
    lob_index(&claim.line_of_business)?;
    Some(ParsedClaim(claim))
}

fn opt<'s>(text: &'s Option<Text<'_>>) -> Option<&'s str> {
    text.as_deref()
}

impl ParsedClaim<'_> {
    pub fn claim(&self) -> Claim<'_> {
        let c = &self.0;
        Claim {
            event_id: &c.event_id,
            claim_id: &c.claim_id,
            frequency: FREQUENCIES
                .iter()
                .position(|f| *f == c.frequency)
                .unwrap_or(0) as u8,
            payer_claim_number: opt(&c.payer_claim_number),
            submitted_at_millis: c.submitted_at,
            line_of_business: lob_index(&c.line_of_business).unwrap_or(UNKNOWN_LOB),
            contract_id: opt(&c.contract_id),
            member_id: &c.member_id,
            billing_npi: &c.billing_npi,
            rendering_npi: opt(&c.rendering_npi),
            place_of_service: opt(&c.place_of_service),
            diagnosis_codes: c.diagnosis_codes.iter().map(|d| d.as_ref()).collect(),
            prior_authorization: opt(&c.prior_authorization),
            total_charge: c.total_charge,
            lines: c
                .lines
                .iter()
                .map(|l| Line {
                    line_number: l.line_number,
                    procedure_code: &l.procedure_code,
                    modifiers: l.modifiers.iter().map(|m| m.as_ref()).collect(),
                    service_date_from: l.service_date_from,
                    service_date_to: l.service_date_to,
                    units: l.units,
                    infusions: l.infusions,
                    place_of_service: opt(&l.place_of_service),
                    diagnosis_pointers: l.diagnosis_pointers.clone(),
                    charge: l.charge,
                    ndc: l.ndc.as_ref().map(|n| Ndc {
                        code: &n.code,
                        qualifier: &n.qualifier,
                        unit: &n.unit,
                        quantity: n.quantity,
                    }),
                    prior_authorization: opt(&l.prior_authorization),
                    rendering_npi: opt(&l.rendering_npi),
                    description: opt(&l.description),
                })
                .collect(),
        }
    }
}

// --- field readers --------------------------------------------------------------------------

fn refuse<E: de::Error>() -> E {
    E::custom("left to the Python reader")
}

/// A double: a JSON number, or "NaN", "Infinity", "-Infinity".
fn double<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
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

fn date<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let text = Text::deserialize(d)?;
    parse_date(&text).ok_or_else(refuse)
}

fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match Option::<Text>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_date(&text).map(Some).ok_or_else(refuse),
    }
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

fn timestamp_millis<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = Text::deserialize(d)?;
    parse_timestamp(&text).ok_or_else(refuse)
}

/// "-?D+.DD" with at most 9 digits before the point -> cents. Other spellings (numbers,
/// exponents, spaces, "-0.00") are Python's to read.
fn parse_cents(text: &str) -> Option<i64> {
    let (negative, body) = text
        .strip_prefix('-')
        .map_or((false, text), |body| (true, body));
    let (whole, fraction) = body.split_once('.')?;
    // Python: at most 9 digits before the point (leading zeros aside).
    if whole.trim_start_matches('0').len() > 9 || fraction.len() != 2 {
        return None;
    }
    let cents = digits(whole)? * 100 + digits(fraction)?;
    if negative && cents == 0 {
        return None; // Decimal("-0.00") prints with its sign
    }
    Some(if negative { -cents } else { cents })
}

fn cents<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = Text::deserialize(d)?;
    parse_cents(&text).ok_or_else(refuse)
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
