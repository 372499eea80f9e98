//! The claim as decoded: fields in schema order, strings borrowed from the record value.
//! Dates are days since 1970-01-01, timestamps milliseconds, money whole cents.

pub struct Ndc<'a> {
    pub code: &'a str,
    pub qualifier: &'a str,
    pub unit: &'a str,
    pub quantity: f64,
}

pub struct Line<'a> {
    pub line_number: i32,
    pub procedure_code: &'a str,
    pub modifiers: Vec<&'a str>,
    pub service_date_from: i32,
    pub service_date_to: Option<i32>,
    pub units: f64,
    pub infusions: Option<i32>,
    pub place_of_service: Option<&'a str>,
    pub diagnosis_pointers: Vec<i32>,
    pub charge: i64,
    pub ndc: Option<Ndc<'a>>,
    pub prior_authorization: Option<&'a str>,
    pub rendering_npi: Option<&'a str>,
    pub description: Option<&'a str>,
}

pub struct Claim<'a> {
    pub event_id: &'a str,
    pub claim_id: &'a str,
    /// Index into FREQUENCIES.
    pub frequency: u8,
    pub payer_claim_number: Option<&'a str>,
    pub submitted_at_millis: i64,
    /// Index into LINES_OF_BUSINESS.
    pub line_of_business: u8,
    pub contract_id: Option<&'a str>,
    pub member_id: &'a str,
    pub billing_npi: &'a str,
    pub rendering_npi: Option<&'a str>,
    pub place_of_service: Option<&'a str>,
    pub diagnosis_codes: Vec<&'a str>,
    pub prior_authorization: Option<&'a str>,
    pub total_charge: i64,
    pub lines: Vec<Line<'a>>,
}

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

pub fn lob_index(name: &str) -> Option<u8> {
    LINES_OF_BUSINESS
        .iter()
        .position(|lob| *lob == name)
        .map(|i| i as u8)
}
