//! The JSON form (SPEC §2.1) for offline `validate`: a claim line in, its decision line out,
//! as `consumer.offline` writes it (`consumer.decisions.decision_json_line`).
//!
//! Reading is strict: only the plain spellings the Python converter takes as they are
//! (`"2026-07-01"`, `"125.00"`, `"2026-07-01T12:00:00Z"`, numbers or "NaN"/"Infinity" for
//! doubles, no unknown keys). Anything else - including every input Python would refuse - is
//! an Err, and the caller lets `consumer.claims` read the line, decide it or say what is wrong.

use std::borrow::Cow;
use std::fmt::Write;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::avro::{MAX_DAY, MIN_DAY};
use crate::claim::{lob_index, Claim, Line, Ndc, FREQUENCIES, UNKNOWN_LOB};
use crate::engine::{Outcome, NOT_IN_EFFECT};

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
    E::custom("left to the Python converter")
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

/// "YYYY-MM-DD" -> days since 1970-01-01.
fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (
        digits(&text[..4])?,
        digits(&text[5..7])?,
        digits(&text[8..])?,
    );
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    (MIN_DAY..=MAX_DAY).contains(&days).then_some(days as i32)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        return None; // near the ends a zone shift leaves Python's range: Python decides
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

// --- the decision line --------------------------------------------------------------------

/// A JSON string as orjson writes it: `"` and `\` escaped, control characters as \b \t \n \f
/// \r or \u00xx, everything else (DEL and non-ASCII included) as is.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_optional(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text),
        None => out.push_str("null"),
    }
}

/// `timestamp_text(datetime.now(UTC))`: milliseconds unless the microseconds are all zero.
pub fn timestamp_text(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let of_day = micros.rem_euclid(86_400_000_000);
    let (hour, minute, second) = (
        of_day / 3_600_000_000,
        of_day / 60_000_000 % 60,
        of_day / 1_000_000 % 60,
    );
    let mut text = format!(
        "{}T{hour:02}:{minute:02}:{second:02}",
        crate::pytext::iso_date(days as i32)
    );
    if of_day % 1_000_000 != 0 {
        write!(text, ".{:03}", of_day / 1000 % 1000).unwrap();
    }
    text.push('Z');
    text
}

/// The decision line: the head as `orjson.dumps` writes it, then the claim's own text.
pub fn decision_line(
    claim: &Claim,
    outcome: &Outcome,
    decided_at: &str,
    validator_version: &str,
    claim_text: &[u8],
) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    out.push_str("{\"event_id\":");
    json_string(&mut out, claim.event_id);
    out.push_str(",\"claim_id\":");
    json_string(&mut out, claim.claim_id);
    out.push_str(",\"member_id\":");
    json_string(&mut out, claim.member_id);
    out.push_str(if outcome.pended {
        ",\"decision\":\"PENDED\""
    } else {
        ",\"decision\":\"ACCEPTED\""
    });
    out.push_str(",\"reasons\":[");
    for (i, reason) in outcome.reasons.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"rule_id\":");
        json_string(
            &mut out,
            reason.rule.map_or(NOT_IN_EFFECT, |r| r.rule_id.as_str()),
        );
        out.push_str(",\"line_number\":");
        match reason.finding.line_number {
            Some(n) => write!(out, "{n}").unwrap(),
            None => out.push_str("null"),
        }
        out.push_str(",\"carc\":");
        json_optional(&mut out, reason.rule.and_then(|r| r.carc.as_deref()));
        out.push_str(",\"rarc\":");
        json_optional(&mut out, reason.rule.and_then(|r| r.rarc.as_deref()));
        out.push_str(",\"message\":");
        json_string(&mut out, &reason.finding.message);
        out.push('}');
    }
    out.push_str("],\"policy_id\":");
    json_string(&mut out, outcome.policy_id);
    out.push_str(",\"rule_set_version\":");
    json_string(&mut out, outcome.rule_set_version);
    out.push_str(",\"decided_at\":");
    json_string(&mut out, decided_at);
    out.push_str(",\"validator_version\":");
    json_string(&mut out, validator_version);
    out.push_str(",\"source\":null,\"claim\":");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(claim_text);
    bytes.extend_from_slice(b"}\n");
    bytes
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
