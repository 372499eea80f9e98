//! The `ClaimDecision` (SPEC §2.3), written in Avro for the stream and in the JSON form for
//! offline `validate`. Both end with the claim exactly as it was received: its own Avro body
//! (a record's body is its fields in order, so head + body is the decision), or its JSON text.

use std::fmt::Write;

use super::avro::Writer;
use crate::claim::Claim;
use crate::engine::Outcome;
use crate::text::iso_date;

pub struct Source<'s> {
    pub topic: &'s str,
    pub partition: i32,
    pub offset: i64,
}

/// The Avro value: the head, then `claim_body`.
pub fn write_avro(
    out: &mut Vec<u8>,
    claim: &Claim,
    outcome: &Outcome,
    decided_at_millis: i64,
    validator_version: &str,
    source: &Source,
    claim_body: &[u8],
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
    w.out.extend_from_slice(claim_body);
}

/// A JSON string: `"` and `\` escaped, control characters as \b \t \n \f \r or \u00xx.
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

/// One line of JSON Lines: the decision (no source: it did not come from Kafka), then the
/// claim's own JSON text.
pub fn json_line(
    claim: &Claim,
    outcome: &Outcome,
    decided_at_millis: i64,
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
    write!(out, ",\"decision\":\"{}\"", outcome.decision()).unwrap();
    out.push_str(",\"reasons\":[");
    for (i, reason) in outcome.reasons.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"rule_id\":");
        json_string(&mut out, reason.rule_id());
        out.push_str(",\"line_number\":");
        match reason.line_number {
            Some(n) => write!(out, "{n}").unwrap(),
            None => out.push_str("null"),
        }
        out.push_str(",\"carc\":");
        json_optional(&mut out, reason.carc());
        out.push_str(",\"rarc\":");
        json_optional(&mut out, reason.rarc());
        out.push_str(",\"message\":");
        json_string(&mut out, &reason.message);
        out.push('}');
    }
    out.push_str("],\"policy_id\":");
    json_string(&mut out, outcome.policy_id);
    out.push_str(",\"rule_set_version\":");
    json_string(&mut out, outcome.rule_set_version);
    out.push_str(",\"decided_at\":");
    json_string(&mut out, &timestamp_text(decided_at_millis));
    out.push_str(",\"validator_version\":");
    json_string(&mut out, validator_version);
    out.push_str(",\"source\":null,\"claim\":");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(claim_text);
    bytes.extend_from_slice(b"}\n");
    bytes
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
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
