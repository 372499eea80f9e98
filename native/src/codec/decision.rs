//! The `ClaimDecision` (SPEC §2.3), written in Avro for the stream and in the JSON form for
//! offline `validate`. Both end with the claim exactly as it was received: its own Avro body
//! (a record's body is its fields in order, so head + body is the decision), or its JSON text.

use std::io::Write;

use super::avro::Writer;
use crate::claim::Claim;
use crate::engine::Outcome;
use crate::text::iso_date;

pub struct Source<'s> {
    pub topic: &'s str,
    pub partition: i32,
    pub offset: i64,
}

/// The Avro value up to the claim: the claim's own body follows it.
pub fn write_avro_head(
    out: &mut Vec<u8>,
    claim: &Claim,
    outcome: &Outcome,
    decided_at_millis: i64,
    validator_version: &str,
    source: &Source,
) {
    let mut w = Writer { out };
    w.string(claim.event_id);
    w.string(claim.claim_id);
    w.string(claim.member_id);
    w.long(i64::from(outcome.pended)); // Decision: ACCEPTED, PENDED
    if !outcome.reasons.is_empty() {
        w.long(outcome.reasons.len() as i64);
        for reason in &outcome.reasons {
            w.string(reason.rule_id());
            match reason.line_number {
                None => w.long(0),
                Some(number) => {
                    w.long(1);
                    w.long(i64::from(number));
                }
            }
            w.optional_string(reason.carc());
            w.optional_string(reason.rarc());
            w.string(&reason.message);
        }
    }
    w.long(0); // end of the reasons array
    w.string(outcome.policy_id);
    w.string(outcome.rule_set_version);
    w.long(decided_at_millis);
    w.string(validator_version);
    w.long(1); // source: the Source branch of ["null", Source]
    w.string(source.topic);
    w.long(i64::from(source.partition));
    w.long(source.offset);
}

/// A JSON string: `"` and `\` escaped, control characters as \b \t \n \f \r or \u00xx.
pub fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut plain_from = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}").unwrap();
        } else {
            out.extend_from_slice(escape);
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

fn json_optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// An ISO UTC timestamp with milliseconds: "2026-07-01T12:00:00.123Z".
pub fn timestamp_text(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let of_day = millis.rem_euclid(86_400_000);
    let (hour, minute, second) = (of_day / 3_600_000, of_day / 60_000 % 60, of_day / 1000 % 60);
    format!(
        "{}T{hour:02}:{minute:02}:{second:02}.{:03}Z",
        iso_date(days as i32),
        of_day % 1000
    )
}

/// `"reasons":[...]` of an outcome, as the ClaimDecision's JSON form has them.
pub fn write_reasons(out: &mut Vec<u8>, outcome: &Outcome) {
    out.extend_from_slice(b"\"reasons\":[");
    for (i, reason) in outcome.reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"rule_id\":");
        json_string(out, reason.rule_id());
        match reason.line_number {
            Some(n) => write!(out, ",\"line_number\":{n}").unwrap(),
            None => out.extend_from_slice(b",\"line_number\":null"),
        }
        out.extend_from_slice(b",\"carc\":");
        json_optional(out, reason.carc());
        out.extend_from_slice(b",\"rarc\":");
        json_optional(out, reason.rarc());
        out.extend_from_slice(b",\"message\":");
        json_string(out, &reason.message);
        out.push(b'}');
    }
    out.push(b']');
}

/// Append one line of JSON Lines: the decision (no source: it did not come from Kafka), then
/// the claim's own JSON text.
pub fn write_json(
    out: &mut Vec<u8>,
    claim: &Claim,
    outcome: &Outcome,
    decided_at_millis: i64,
    validator_version: &str,
    claim_text: &[u8],
) {
    out.extend_from_slice(b"{\"event_id\":");
    json_string(out, claim.event_id);
    out.extend_from_slice(b",\"claim_id\":");
    json_string(out, claim.claim_id);
    out.extend_from_slice(b",\"member_id\":");
    json_string(out, claim.member_id);
    write!(out, ",\"decision\":\"{}\",", outcome.decision()).unwrap();
    write_reasons(out, outcome);
    out.extend_from_slice(b",\"policy_id\":");
    json_string(out, outcome.policy_id);
    out.extend_from_slice(b",\"rule_set_version\":");
    json_string(out, outcome.rule_set_version);
    out.extend_from_slice(b",\"decided_at\":");
    json_string(out, &timestamp_text(decided_at_millis));
    out.extend_from_slice(b",\"validator_version\":");
    json_string(out, validator_version);
    out.extend_from_slice(b",\"source\":null,\"claim\":");
    out.extend_from_slice(claim_text);
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(timestamp_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp_text(1_782_907_200_123),
            "2026-07-01T12:00:00.123Z"
        );
    }

    #[test]
    fn json_strings_escape_what_json_requires() {
        let mut out = Vec::new();
        json_string(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"".as_bytes());
    }
}
