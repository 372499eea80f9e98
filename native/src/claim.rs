//! The claim as the engine reads it: fields in schema order, text borrowed from the record
//! (an Avro body, or a JSON line). Dates are days since 1970-01-01, timestamps milliseconds,
//! money whole cents, enums their index.
//!
//! The serde attributes are the JSON form of SPEC §2.1 as `codec::json` reads it: plain
//! spellings only, no unknown keys, omitted optionals absent. A string with a JSON escape
//! cannot be borrowed and fails the read, so such a line goes to Python's reader instead.

use serde::Deserialize;
use smallvec::SmallVec;

use crate::codec::json::{
    cents, date, double, frequency, line_of_business, optional_date, timestamp_millis,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ndc<'a> {
    pub code: &'a str,
    pub qualifier: &'a str,
    pub unit: &'a str,
    #[serde(deserialize_with = "double")]
    pub quantity: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line<'a> {
    pub line_number: i32,
    pub procedure_code: &'a str,
    #[serde(default, borrow)]
    pub modifiers: Vec<&'a str>,
    #[serde(deserialize_with = "date")]
    pub service_date_from: i32,
    #[serde(default, deserialize_with = "optional_date")]
    pub service_date_to: Option<i32>,
    #[serde(deserialize_with = "double")]
    pub units: f64,
    #[serde(default)]
    pub infusions: Option<i32>,
    #[serde(default)]
    pub place_of_service: Option<&'a str>,
    #[serde(default)]
    pub diagnosis_pointers: Pointers,
    #[serde(deserialize_with = "cents")]
    pub charge: i64,
    #[serde(default, borrow)]
    pub ndc: Option<Ndc<'a>>,
    #[serde(default)]
    pub prior_authorization: Option<&'a str>,
    #[serde(default)]
    pub rendering_npi: Option<&'a str>,
    #[serde(default)]
    pub description: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim<'a> {
    pub event_id: &'a str,
    pub claim_id: &'a str,
    /// Index into FREQUENCIES.
    #[serde(default, deserialize_with = "frequency")]
    pub frequency: u8,
    #[serde(default)]
    pub payer_claim_number: Option<&'a str>,
    #[serde(rename = "submitted_at", deserialize_with = "timestamp_millis")]
    pub submitted_at_millis: i64,
    /// Index into LINES_OF_BUSINESS.
    #[serde(default = "unknown_lob", deserialize_with = "line_of_business")]
    pub line_of_business: u8,
    #[serde(default)]
    pub contract_id: Option<&'a str>,
    pub member_id: &'a str,
    pub billing_npi: &'a str,
    #[serde(default)]
    pub rendering_npi: Option<&'a str>,
    #[serde(default)]
    pub place_of_service: Option<&'a str>,
    #[serde(default, borrow)]
    pub diagnosis_codes: Vec<&'a str>,
    #[serde(default)]
    pub prior_authorization: Option<&'a str>,
    #[serde(deserialize_with = "cents")]
    pub total_charge: i64,
    #[serde(borrow)]
    pub lines: Vec<Line<'a>>,
}

/// A line's diagnosis pointers: up to four by the claim form, so held inline.
pub type Pointers = SmallVec<[i32; 4]>;

/// The enum symbols, in schema order.
pub const FREQUENCIES: [&str; 3] = ["ORIGINAL", "REPLACEMENT", "VOID"];
pub const LINES_OF_BUSINESS: [&str; 5] = [
    "MEDICARE_ADVANTAGE",
    "INDIVIDUAL_FAMILY",
    "CHIP",
    "MEDICAID",
    "UNKNOWN",
];
pub const UNKNOWN_LOB: u8 = 4;

fn unknown_lob() -> u8 {
    UNKNOWN_LOB
}

pub fn lob_index(name: &str) -> Option<u8> {
    LINES_OF_BUSINESS
        .iter()
        .position(|lob| *lob == name)
        .map(|i| i as u8)
}
