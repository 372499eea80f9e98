//! The RB.046.A rules, one function per rule id, mirroring `consumer/engine/rules/` line for
//! line (same conditions, same order of findings, same messages). The Python rules are the
//! reference: `tests/unit/test_native.py` holds this file to them on every golden case and
//! on generated and fuzzed claims.

use std::borrow::Cow;

use crate::claim::{Claim, Ndc, FREQUENCIES, LINES_OF_BUSINESS, UNKNOWN_LOB};
use crate::config::{CodeInfo, Kind, Policy};
use crate::pytext::{cents, float_repr, iso_date, str_repr, strip, stripped};

/// The input needs something only the Python path does exactly (e.g. a repr of non-ASCII
/// text); the caller decides the claim there instead.
pub struct Fallback;

pub type Found = Result<(), Fallback>;

/// One finding: the line it is about (None = the claim) and the message.
pub struct Finding {
    pub line_number: Option<i32>,
    pub message: String,
}

/// A service line, normalised once for all rules (`consumer.engine.context.LineView`).
pub struct LineView<'c, 'a> {
    pub number: i32,
    pub code: Cow<'a, str>,
    pub info: &'c CodeInfo,
    pub date_from: i32,
    pub date_to: i32,
    /// None when the span is backwards.
    pub days: Option<i32>,
    pub place_of_service: Option<&'a str>,
    pub units: f64,
    pub infusions: Option<i32>,
    pub modifiers: Vec<Cow<'a, str>>,
    pub ndc: Option<&'a Ndc<'a>>,
    pub has_auth: bool,
    pub pointers: &'a [i32],
    pub charge: i64,
    pub rendering_npi: Option<&'a str>,
    pub description: Option<&'a str>,
}

impl LineView<'_, '_> {
    pub fn overlaps(&self, other: &LineView) -> bool {
        self.date_from <= other.date_to && other.date_from <= self.date_to
    }
}

/// The claim as the rules see it (`consumer.engine.context.ClaimContext`).
pub struct Context<'v, 'c, 'a> {
    pub claim: &'a Claim<'a>,
    pub policy: &'c Policy,
    pub lob: u8,
    pub lob_name: &'static str,
    pub submitted_on: i32,
    pub all_lines: &'v [LineView<'c, 'a>],
    /// The lines on or after the policy's effective date.
    pub lines: Vec<&'v LineView<'c, 'a>>,
    /// Billable ICD-10-CM codes, upper case, with and without the dot.
    pub billable_diagnoses: &'c std::collections::HashSet<String>,
}

macro_rules! rule_ids {
    ($($variant:ident = $id:literal => $check:ident,)*) => {
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum RuleId { $($variant,)* }

        /// Every rule id this module implements.
        pub const RULE_IDS: &[&str] = &[$($id,)*];

        impl RuleId {
            pub fn parse(id: &str) -> Option<RuleId> {
                match id { $($id => Some(RuleId::$variant),)* _ => None }
            }

            pub fn check(self, ctx: &Context, out: &mut Vec<Finding>) -> Found {
                match self { $(RuleId::$variant => $check(ctx, out),)* }
            }
        }
    };
}

rule_ids! {
    PosMissing = "pos.missing" => pos_missing,
    PosNotHome = "pos.not-home" => pos_not_home,
    LobCodeSet = "lob.code-set" => lob_code_set,
    LobUnknown = "lob.unknown" => lob_unknown,
    DrugCodeNotJqb = "drug.code-not-jqb" => drug_code_not_jqb,
    DrugInfusions = "drug.infusions" => drug_infusions,
    UnitsInvalid = "units.invalid" => units_invalid,
    UnitsPerDiem = "units.per-diem" => units_per_diem,
    GcodeSingleDay = "gcode.single-day" => gcode_single_day,
    GcodeCategoryPerDay = "gcode.category-per-day" => gcode_category_per_day,
    DatesInvalid = "dates.invalid" => dates_invalid,
    DatesFuture = "dates.future" => dates_future,
    DatesCalendarYear = "dates.calendar-year" => dates_calendar_year,
    DatesCalendarMonth = "dates.calendar-month" => dates_calendar_month,
    NdcCode = "ndc.code" => ndc_code,
    NdcQuantity = "ndc.quantity" => ndc_quantity,
    NocDescription = "noc.description" => noc_description,
    CodeNotEffective = "code.not-effective" => code_not_effective,
    DiagnosisMissing = "diagnosis.missing" => diagnosis_missing,
    DiagnosisInvalid = "diagnosis.invalid" => diagnosis_invalid,
    AuthMissing = "auth.missing" => auth_missing,
    NpiBilling = "npi.billing" => npi_billing,
    NpiRendering = "npi.rendering" => npi_rendering,
    ChargesLine = "charges.line" => charges_line,
    ChargesTotal = "charges.total" => charges_total,
    MemberMissing = "member.missing" => member_missing,
    FrequencyPayerClaimNumber = "frequency.payer-claim-number" => frequency_payer_claim_number,
    AddonPrimaryMissing = "addon.primary-missing" => addon_primary_missing,
    CodesMutuallyExclusive = "codes.mutually-exclusive" => codes_mutually_exclusive,
    BundledPerDiem = "bundled.per-diem" => bundled_per_diem,
    ModifierRoute = "modifier.route" => modifier_route,
    PolicyStraddlesEffectiveDate = "policy.straddles-effective-date" => policy_straddles,
}

fn found(out: &mut Vec<Finding>, line_number: Option<i32>, message: String) {
    out.push(Finding {
        line_number,
        message,
    });
}

// --- place of service -------------------------------------------------------------------

fn pos_missing(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.place_of_service.is_none() {
            let message = "No place of service on the line or the claim; bill POS 12.";
            found(out, Some(line.number), message.into());
        }
    }
    Ok(())
}

fn pos_not_home(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let home = &ctx.policy.home_place_of_service;
    for line in &ctx.lines {
        if let Some(pos) = line.place_of_service.filter(|pos| pos != home) {
            let message = format!(
                "Place of service {pos} is not {home} (Home); home infusion is paid only in the home."
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

// --- code sets, exclusive and bundled codes, modifiers, NOC -----------------------------

fn group_name(group: &str) -> &str {
    match group {
        "hit_professional" => "HIT professional services G-code",
        "home_infusion_s_code" => "home infusion S-code",
        "home_nursing" => "home infusion nursing code",
        other => other,
    }
}

fn lob_code_set(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let Some(not_billable) = &ctx.policy.not_billable[ctx.lob as usize] else {
        return Ok(());
    };
    if not_billable.is_empty() {
        return Ok(());
    }
    for line in &ctx.lines {
        let barred = line
            .info
            .groups
            .iter()
            .filter(|g| not_billable.contains(*g))
            .min();
        if let Some(group) = barred {
            let message = format!(
                "{} is a {}, which {} claims may not bill under {}; use the code set of the \
                 member's plan.",
                line.code,
                group_name(group),
                ctx.lob_name,
                ctx.policy.policy_id
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn code_not_effective(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let (start, end) = (line.info.effective_from, line.info.effective_to);
        if start.is_some_and(|s| line.date_from < s) || end.is_some_and(|e| line.date_to > e) {
            let message = format!(
                "{} is in effect from {} to {}, not on {} to {}.",
                line.code,
                start.map_or("the start".into(), iso_date),
                end.map_or("now".into(), iso_date),
                iso_date(line.date_from),
                iso_date(line.date_to)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn codes_mutually_exclusive(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let lines = &ctx.lines;
    if !lines.iter().any(|line| line.info.has_exclusions) {
        return Ok(());
    }
    for (i, later) in lines.iter().enumerate() {
        for earlier in &lines[..i] {
            let (a, b) = (earlier.info, later.info);
            let exclusive = a.exclusive_with.contains::<str>(&later.code)
                || a.exclusive_with_kinds.contains(&b.kind)
                || b.exclusive_with_kinds.contains(&a.kind);
            if exclusive && later.overlaps(earlier) {
                let message = format!(
                    "{} may not be billed with {} (line {}) on the same days.",
                    later.code, earlier.code, earlier.number
                );
                found(out, Some(later.number), message);
            }
        }
    }
    Ok(())
}

fn addon_primary_missing(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let Some(primary) = &line.info.add_on_to else {
            continue;
        };
        if !ctx
            .all_lines
            .iter()
            .any(|other| other.code.as_ref() == primary.as_str() && other.overlaps(line))
        {
            let message = format!(
                "Add-on code {} needs {} billed for the same day.",
                line.code, primary
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn bundled_per_diem(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    if !ctx.policy.bundling[ctx.lob as usize] {
        return Ok(());
    }
    for line in &ctx.lines {
        if !line.info.bundled_into_per_diem {
            continue;
        }
        let cover = ctx
            .lines
            .iter()
            .find(|p| p.info.kind == Kind::PerDiem && p.overlaps(line));
        if let Some(cover) = cover {
            let message = format!(
                "{} is included in per-diem {} (line {}) for the same days and cannot be \
                 billed separately.",
                line.code, cover.code, cover.number
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn modifier_route(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let Some(required) = &line.info.required_modifiers_by_lob[ctx.lob as usize] else {
            continue;
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|m| {
                !line
                    .modifiers
                    .iter()
                    .any(|have| have.as_ref() == m.as_str())
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "{} needs modifier {} (administered subcutaneously) for this plan.",
                line.code,
                missing.join(", ")
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn noc_description(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.info.not_otherwise_classified && line.description.is_none() {
            let message = format!(
                "{} is a not-otherwise-classified code; describe the drug or service (name, \
                 strength, dosage).",
                line.code
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

// --- dates --------------------------------------------------------------------------------

fn dates_invalid(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.days.is_none() {
            let message = format!(
                "The to-date {} is before the from-date {}.",
                iso_date(line.date_to),
                iso_date(line.date_from)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn dates_future(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let last = if line.days.is_some() {
            line.date_to
        } else {
            line.date_from
        };
        if last > ctx.submitted_on {
            let message = format!(
                "Service date {} is after the claim was submitted on {}.",
                iso_date(last),
                iso_date(ctx.submitted_on)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn dates_calendar_year(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let (from, to) = (
            crate::pytext::civil(line.date_from),
            crate::pytext::civil(line.date_to),
        );
        if from.0 != to.0 {
            let message = format!(
                "{} to {} crosses into a new year; bill one line (and claim) per calendar year.",
                iso_date(line.date_from),
                iso_date(line.date_to)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn dates_calendar_month(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let (from, to) = (
            crate::pytext::civil(line.date_from),
            crate::pytext::civil(line.date_to),
        );
        if (from.0, from.1) != (to.0, to.1) {
            let message = format!(
                "{} to {} spans months; bill one calendar month per line.",
                iso_date(line.date_from),
                iso_date(line.date_to)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn policy_straddles(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let effective = ctx.policy.effective_from;
    for line in &ctx.lines {
        if line.date_from < effective && effective <= line.date_to {
            let message = format!(
                "{} to {} straddles the {} effective date {}; bill the days before and after \
                 it on separate lines.",
                iso_date(line.date_from),
                iso_date(line.date_to),
                ctx.policy.policy_id,
                iso_date(effective)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

// --- diagnoses ------------------------------------------------------------------------------

fn diagnosis_missing(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let count = ctx.claim.diagnosis_codes.len() as i64;
    if count == 0 {
        found(out, None, "The claim has no diagnosis code.".into());
        return Ok(());
    }
    for line in &ctx.lines {
        if line.pointers.is_empty() {
            found(
                out,
                Some(line.number),
                "The line does not point to any diagnosis.".into(),
            );
            continue;
        }
        let bad: Vec<String> = line
            .pointers
            .iter()
            .filter(|p| !(1..=count).contains(&i64::from(**p)))
            .map(|p| p.to_string())
            .collect();
        if !bad.is_empty() {
            let message = format!(
                "Diagnosis pointer(s) {} point past the claim's {} diagnosis code(s).",
                bad.join(", "),
                count
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn diagnosis_invalid(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for (position, code) in ctx.claim.diagnosis_codes.iter().enumerate() {
        // `is_billable`: strip, upper case (ASCII only here), then a leaf of ICD-10-CM.
        let normalised = crate::pytext::normalise_ascii(code).ok_or(Fallback)?;
        if !ctx.billable_diagnoses.contains::<str>(&normalised) {
            let message = format!(
                "Diagnosis {} ({}) is not a billable ICD-10-CM code; code it to the highest \
                 level of specificity.",
                position + 1,
                code
            );
            found(out, None, message);
        }
    }
    Ok(())
}

// --- drugs and NDC --------------------------------------------------------------------------

fn drug_code_not_jqb(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.ndc.is_some() && !line.code.starts_with(['J', 'Q', 'B']) {
            let message = format!(
                "{} carries an NDC but is not a drug code; bill the drug with its J, Q or B code.",
                line.code
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn drug_infusions(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.info.is_jq_drug && line.infusions.is_none_or(|n| n < 1) {
            let message = format!(
                "Drug {} does not state how many infusions were administered.",
                line.code
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn ndc_code(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let qualifier = &ctx.policy.ndc_qualifier;
    for line in &ctx.lines {
        if !line.info.is_jq_drug {
            continue;
        }
        let Some(ndc) = line.ndc else {
            found(
                out,
                Some(line.number),
                format!("Drug {} has no NDC.", line.code),
            );
            continue;
        };
        // Python's len() counts characters: anything non-ASCII goes to the Python path.
        if !ndc.code.is_ascii() {
            return Err(Fallback);
        }
        if !(ndc.code.len() == 11 && ndc.code.bytes().all(|b| b.is_ascii_digit())) {
            let code = str_repr(ndc.code).ok_or(Fallback)?;
            found(
                out,
                Some(line.number),
                format!("NDC {code} is not 11 digits in 5-4-2 form."),
            );
        } else if crate::pytext::normalise_ascii(ndc.qualifier)
            .ok_or(Fallback)?
            .as_ref()
            != qualifier.as_str()
        {
            let given = str_repr(ndc.qualifier).ok_or(Fallback)?;
            found(
                out,
                Some(line.number),
                format!("NDC qualifier {given} should be {qualifier}."),
            );
        }
    }
    Ok(())
}

// `!(x > 0.0)` on purpose, as Python's `not x > 0`: NaN fails it too.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn ndc_quantity(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let units = &ctx.policy.ndc_units;
    for line in &ctx.lines {
        let Some(ndc) = line.ndc else { continue };
        let unit = crate::pytext::normalise_ascii(ndc.unit).ok_or(Fallback)?;
        if !units.contains::<str>(&unit) {
            let message = format!(
                "NDC unit {} is not one of {}.",
                str_repr(ndc.unit).ok_or(Fallback)?,
                ctx.policy.ndc_units_sorted.join(", ")
            );
            found(out, Some(line.number), message);
        } else if !(ndc.quantity > 0.0) {
            let message = format!(
                "NDC quantity {} is not greater than 0.",
                float_repr(ndc.quantity)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

// --- units and HIT visits ---------------------------------------------------------------------

#[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN must fail `units > 0`, as in Python
fn units_invalid(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let units = line.units;
        // Python: `not units > 0 or units % 1` (NaN and infinity fail too).
        if !(units > 0.0) || units % 1.0 != 0.0 || units.is_infinite() {
            let message = format!(
                "Units {} are not a whole number greater than 0.",
                float_repr(units)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn units_per_diem(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        let Some(days) = line.days else { continue };
        if line.info.kind == Kind::PerDiem && line.units != f64::from(days) {
            let message = format!(
                "{} is billed per day: {} to {} is {} day(s), but {} unit(s) were billed.",
                line.code,
                iso_date(line.date_from),
                iso_date(line.date_to),
                days,
                float_repr(line.units)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn gcode_single_day(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.info.kind == Kind::HitProfessional && line.days.is_some_and(|d| d > 1) {
            let message = format!(
                "{} is paid per infusion drug administration day; bill each visit day on its \
                 own line instead of {} to {}.",
                line.code,
                iso_date(line.date_from),
                iso_date(line.date_to)
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn gcode_category_per_day(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let visits: Vec<_> = ctx
        .lines
        .iter()
        .filter(|l| l.info.kind == Kind::HitProfessional)
        .collect();
    for (i, later) in visits.iter().enumerate() {
        for earlier in &visits[..i] {
            if earlier.info.hit_category == later.info.hit_category && later.overlaps(earlier) {
                let category = later
                    .info
                    .hit_category
                    .map_or("None".into(), |c| c.to_string());
                let message = format!(
                    "{} repeats HIT payment category {} already billed on line {} ({}) for \
                     the same day.",
                    later.code, category, earlier.number, earlier.code
                );
                found(out, Some(later.number), message);
                break;
            }
        }
    }
    Ok(())
}

// --- providers, member, plan, charges, frequency, authorization ------------------------------

/// 10 ASCII digits whose last is the Luhn check digit over "80840" + the NPI.
pub fn is_valid_npi(npi: &str) -> bool {
    let digits = npi.as_bytes();
    if digits.len() != 10 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // The prefix 80840 always contributes 24; from the left, digits 1, 3, 5, 7, 9 are doubled.
    let mut total = 24;
    for (i, byte) in digits.iter().enumerate() {
        let d = u32::from(byte - b'0');
        total += if i % 2 == 0 {
            if d * 2 > 9 {
                d * 2 - 9
            } else {
                d * 2
            }
        } else {
            d
        };
    }
    total % 10 == 0
}

fn npi_billing(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    if !is_valid_npi(ctx.claim.billing_npi) {
        let message = "The billing provider NPI is missing or fails the NPI check digit.";
        found(out, None, message.into());
    }
    Ok(())
}

fn npi_rendering(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    if ctx
        .claim
        .rendering_npi
        .is_some_and(|npi| !is_valid_npi(npi))
    {
        let message = "The claim's rendering provider NPI fails the NPI check digit.";
        found(out, None, message.into());
    }
    for line in &ctx.lines {
        if line.rendering_npi.is_some_and(|npi| !is_valid_npi(npi)) {
            let message = "The line's rendering provider NPI fails the check digit.";
            found(out, Some(line.number), message.into());
        }
    }
    Ok(())
}

fn member_missing(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    if strip(ctx.claim.member_id).is_empty() {
        found(out, None, "The member id is empty.".into());
    }
    Ok(())
}

fn lob_unknown(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    if ctx.lob == UNKNOWN_LOB {
        let message = "The line of business is unknown; the claim cannot be matched to a plan \
                       (Medicare Advantage, Individual & Family, CHIP or Medicaid).";
        found(out, None, message.into());
    }
    Ok(())
}

fn charges_line(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if line.charge <= 0 {
            let message = format!("Line charge {} is not greater than 0.", cents(line.charge));
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

fn charges_total(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let total = ctx.claim.total_charge;
    let sum: i64 = ctx.all_lines.iter().map(|line| line.charge).sum();
    if total != sum {
        let message = format!(
            "Total charge {} does not equal the line charges' sum {}.",
            cents(total),
            cents(sum)
        );
        found(out, None, message);
    }
    Ok(())
}

fn frequency_payer_claim_number(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    let claim = ctx.claim;
    if claim.frequency != 0 && stripped(claim.payer_claim_number).is_none() {
        let message = format!(
            "A {} claim must give the original payer claim number.",
            FREQUENCIES[claim.frequency as usize].to_ascii_lowercase()
        );
        found(out, None, message);
    }
    Ok(())
}

fn auth_missing(ctx: &Context, out: &mut Vec<Finding>) -> Found {
    for line in &ctx.lines {
        if !line.has_auth
            && ctx
                .policy
                .needs_authorization(&line.code, line.info, ctx.lob)
        {
            let message = format!(
                "{} needs prior authorization for {}; none is on the line or claim.",
                line.code, ctx.lob_name
            );
            found(out, Some(line.number), message);
        }
    }
    Ok(())
}

pub fn lob_name(lob: u8) -> &'static str {
    LINES_OF_BUSINESS[lob as usize]
}
