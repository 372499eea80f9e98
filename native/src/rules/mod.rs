//! The RB.046.A rules: one small function per rule id, grouped by theme, registered below.
//!
//! Where is the rule for ...? place of service: `place.rs`; code sets, exclusive and bundled
//! codes, add-ons, modifiers, NOC and code dates: `codes.rs`; drugs and NDC: `drugs.rs`; units
//! and HIT G-code visits: `units.rs`; dates and the policy effective date: `dates.rs`;
//! diagnoses: `diagnosis.rs`; providers, member, plan, charges, frequency and authorization:
//! `claim.rs`; the member's claim history (duplicates, per-diem overlap, initial visits):
//! `history.rs`.
//!
//! A rule reads a `Context` and pushes reasons (the line it is about, a message a billing
//! analyst can act on). Which rules run, and with which CARC/RARC, is the rule set's business.

mod claim;
mod codes;
mod dates;
mod diagnosis;
mod drugs;
mod history;
mod place;
mod units;

use rustc_hash::FxHashSet as HashSet;
use std::borrow::Cow;

pub use claim::is_valid_npi;

use crate::claim::{Claim, Ndc};
use crate::engine::Reason;
use crate::history::MemberHistory;
use crate::ruleset::catalogue::{Catalogue, CodeInfo};
use crate::ruleset::policy::{ActiveRule, Policy};

/// The reasons the rules found, in the order they found them.
pub struct Findings<'c> {
    pub reasons: Vec<Reason<'c>>,
    /// The rule running: its reasons are for it.
    pub rule: Option<&'c ActiveRule>,
    /// False: the messages are left empty. A decision that is only compared with another
    /// (a shadow rule set's, `replay --diff`) needs none, and formatting them was ~8 % of
    /// `decide` (perf, 5-line claims).
    pub messages: bool,
}

/// A reason of the running rule: the line it is about (None = the claim) and what to fix.
fn found(out: &mut Findings, line_number: Option<i32>, message: impl FnOnce() -> String) {
    let message = if out.messages {
        message()
    } else {
        String::new()
    };
    out.reasons.push(Reason {
        rule: out.rule,
        line_number,
        message,
    });
}

/// A service line, normalised once for all rules.
pub struct LineView<'c, 'a> {
    pub number: i32,
    pub code: Cow<'a, str>,
    pub info: &'c CodeInfo,
    pub date_from: i32,
    /// The from-date when the line has no to-date (a single day).
    pub date_to: i32,
    /// Days in the span; None when the to-date is before the from-date. Such a line fails
    /// `dates.invalid` and no other rule that reads its dates (SPEC §3, settled readings).
    pub days: Option<i32>,
    /// The line's, else the claim's; blank is absent.
    pub place_of_service: Option<&'a str>,
    pub units: f64,
    pub infusions: Option<i32>,
    pub modifiers: Vec<Cow<'a, str>>,
    pub ndc: Option<&'a Ndc<'a>>,
    /// An authorization number on the line or the claim.
    pub has_auth: bool,
    pub pointers: &'a [i32],
    pub charge: i64,
    pub rendering_npi: Option<&'a str>,
    pub description: Option<&'a str>,
}

impl LineView<'_, '_> {
    /// Both spans can be trusted and share at least one day.
    pub fn overlaps(&self, other: &LineView) -> bool {
        self.days.is_some()
            && other.days.is_some()
            && self.date_from <= other.date_to
            && other.date_from <= self.date_to
    }
}

/// The claim as the rules see it.
pub struct Context<'v, 'c, 'a> {
    pub claim: &'a Claim<'a>,
    pub policy: &'c Policy,
    pub catalogue: &'c Catalogue,
    pub lob: u8,
    /// The UTC day the claim was submitted.
    pub submitted_on: i32,
    pub all_lines: &'v [LineView<'c, 'a>],
    /// The lines the policy governs: those not entirely before its effective date.
    pub lines: Vec<&'v LineView<'c, 'a>>,
    /// Billable ICD-10-CM codes, upper case, with and without the dot.
    pub billable_diagnoses: &'c HashSet<String>,
    /// The member's history before this claim; None when no history is kept.
    pub history: Option<&'a MemberHistory>,
}

macro_rules! registry {
    ($($variant:ident = $id:literal => $check:path, $summary:literal;)*) => {
        /// A rule of the engine; its id is part of the output contract (never reuse one).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum RuleId { $($variant,)* }

        impl RuleId {
            /// Every rule, in the order reasons are reported.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            pub fn parse(id: &str) -> Option<RuleId> {
                match id { $($id => Some(RuleId::$variant),)* _ => None }
            }

            pub fn id(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// What the rule requires, in the words of the billing policy.
            pub fn summary(self) -> &'static str {
                match self { $(RuleId::$variant => $summary,)* }
            }

            pub fn check(self, ctx: &Context, out: &mut Findings) {
                match self { $(RuleId::$variant => $check(ctx, out),)* }
            }
        }
    };
}

registry! {
    PosMissing = "pos.missing" => place::pos_missing,
        "Every line has a place of service (on the line, or else on the claim).";
    PosNotHome = "pos.not-home" => place::pos_not_home,
        "Every line is billed with place of service 12 (Home).";
    LobCodeSet = "lob.code-set" => codes::lob_code_set,
        "Medicaid and CHIP bill home infusion with S-codes; Medicare Advantage and Individual & \
         Family plans with HIT G-codes (contracts may vary this).";
    LobUnknown = "lob.unknown" => claim::lob_unknown,
        "The claim's line of business is one this policy covers.";
    DrugCodeNotJqb = "drug.code-not-jqb" => drugs::code_not_jqb,
        "A line that identifies a drug by NDC bills a J, Q or B code.";
    DrugInfusions = "drug.infusions" => drugs::infusions,
        "A J- or Q-code drug line states the number of infusions (at least 1).";
    UnitsInvalid = "units.invalid" => units::units_invalid,
        "Every line bills a whole, positive number of units.";
    UnitsPerDiem = "units.per-diem" => units::units_per_diem,
        "A per-diem code bills one unit per day of its span.";
    GcodeSingleDay = "gcode.single-day" => units::gcode_single_day,
        "A HIT professional visit G-code line covers one day of service.";
    GcodeCategoryPerDay = "gcode.category-per-day" => units::gcode_category_per_day,
        "At most one HIT G-code line per payment category per day of service.";
    DatesInvalid = "dates.invalid" => dates::invalid,
        "Every line has a from-date and a to-date that is not before it.";
    DatesFuture = "dates.future" => dates::future,
        "No date of service is after the claim was submitted.";
    DatesCalendarYear = "dates.calendar-year" => dates::calendar_year,
        "A line does not span two calendar years.";
    DatesCalendarMonth = "dates.calendar-month" => dates::calendar_month,
        "A line covers one calendar month at most (when the contract asks).";
    NdcCode = "ndc.code" => drugs::ndc_code,
        "A J- or Q-code drug line carries an 11-digit NDC (no hyphens) with qualifier N4.";
    NdcQuantity = "ndc.quantity" => drugs::ndc_quantity,
        "An NDC has a valid unit of measure and a quantity greater than 0.";
    NocDescription = "noc.description" => codes::noc_description,
        "A not-otherwise-classified code has a description of the service.";
    CodeNotEffective = "code.not-effective" => codes::code_not_effective,
        "Every procedure code is in effect on its dates of service.";
    DiagnosisMissing = "diagnosis.missing" => diagnosis::missing,
        "The claim has a diagnosis, and every line points to at least one that exists.";
    DiagnosisInvalid = "diagnosis.invalid" => diagnosis::invalid,
        "Every diagnosis is a valid, billable ICD-10-CM code (coded to the highest specificity).";
    AuthMissing = "auth.missing" => claim::auth_missing,
        "Codes that need prior authorization for the plan carry an authorization number (on \
         the line or the claim).";
    NpiBilling = "npi.billing" => claim::npi_billing,
        "The billing provider NPI is present and passes the NPI check digit.";
    NpiRendering = "npi.rendering" => claim::npi_rendering,
        "Any rendering provider NPI passes the NPI check digit.";
    ChargesLine = "charges.line" => claim::charges_line,
        "Every line charge is greater than 0.";
    ChargesTotal = "charges.total" => claim::charges_total,
        "The claim total equals the sum of the line charges.";
    MemberMissing = "member.missing" => claim::member_missing,
        "The claim identifies the member.";
    FrequencyPayerClaimNumber = "frequency.payer-claim-number" => claim::payer_claim_number,
        "A replacement or void names the payer claim number of the claim it changes.";
    AddonPrimaryMissing = "addon.primary-missing" => codes::addon_primary_missing,
        "An add-on code (99602) is billed with its primary code that day.";
    CodesMutuallyExclusive = "codes.mutually-exclusive" => codes::mutually_exclusive,
        "Codes whose descriptors exclude each other are not billed on overlapping days.";
    BundledPerDiem = "bundled.per-diem" => codes::bundled_per_diem,
        "Pumps and infusion supplies are not billed on days a per-diem S-code already pays for \
         them (Medicaid and CHIP).";
    ModifierRoute = "modifier.route" => codes::modifier_route,
        "Drugs that need a route modifier for the plan carry it (e.g. JB for SCIG).";
    PolicyStraddlesEffectiveDate = "policy.straddles-effective-date" => dates::straddles,
        "No line spans the policy's effective date; split it at that date.";
    HistoryDuplicateClaim = "history.duplicate-claim" => history::duplicate_claim,
        "A claim is billed once: an original's claim id is new for the member (a replacement \
         or void changes an earlier one).";
    HistoryPerDiemOverlap = "history.per-diem-overlap" => history::per_diem_overlap,
        "A per-diem day is paid once: a per-diem line does not overlap the same code on another \
         of the member's claims.";
    HistoryInitialVisit = "history.initial-visit" => history::initial_visit,
        "An initial-visit G-code (G0088-G0090) follows more than 60 days without a HIT G-code \
         visit for the member.";
}
