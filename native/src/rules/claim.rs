//! Claim-level facts: providers, member, plan, charges, frequency, and authorization.

use super::{found, Context, Findings};
use crate::claim::{FREQUENCIES, LINES_OF_BUSINESS, UNKNOWN_LOB};
use crate::text::{cents, present};

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
        total += match (i % 2 == 0, d * 2) {
            (true, doubled) if doubled > 9 => doubled - 9,
            (true, doubled) => doubled,
            (false, _) => d,
        };
    }
    total % 10 == 0
}

pub fn npi_billing(ctx: &Context, out: &mut Findings) {
    if !is_valid_npi(ctx.claim.billing_npi.trim()) {
        let message = "The billing provider NPI is missing or fails the NPI check digit.";
        found(out, None, || message.into());
    }
}

pub fn npi_rendering(ctx: &Context, out: &mut Findings) {
    if present(ctx.claim.rendering_npi).is_some_and(|npi| !is_valid_npi(npi)) {
        let message = "The claim's rendering provider NPI fails the NPI check digit.";
        found(out, None, || message.into());
    }
    for line in &ctx.lines {
        if line.rendering_npi.is_some_and(|npi| !is_valid_npi(npi)) {
            let message = "The line's rendering provider NPI fails the check digit.";
            found(out, Some(line.number), || message.into());
        }
    }
}

pub fn member_missing(ctx: &Context, out: &mut Findings) {
    if ctx.claim.member_id.trim().is_empty() {
        found(out, None, || "The member id is empty.".into());
    }
}

pub fn lob_unknown(ctx: &Context, out: &mut Findings) {
    if ctx.lob == UNKNOWN_LOB {
        let message = "The line of business is unknown; the claim cannot be matched to a plan \
                       (Medicare Advantage, Individual & Family, CHIP or Medicaid).";
        found(out, None, || message.into());
    }
}

pub fn charges_line(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.charge <= 0) {
        let message = || format!("Line charge {} is not greater than 0.", cents(line.charge));
        found(out, Some(line.number), message);
    }
}

pub fn charges_total(ctx: &Context, out: &mut Findings) {
    let total = ctx.claim.total_charge;
    let sum: i64 = ctx.all_lines.iter().map(|line| line.charge).sum();
    if total != sum {
        let message = || {
            format!(
                "Total charge {} does not equal the line charges' sum {}.",
                cents(total),
                cents(sum)
            )
        };
        found(out, None, message);
    }
}

pub fn payer_claim_number(ctx: &Context, out: &mut Findings) {
    let claim = ctx.claim;
    if claim.frequency != 0 && present(claim.payer_claim_number).is_none() {
        let message = || {
            format!(
                "A {} claim must give the original payer claim number.",
                FREQUENCIES[usize::from(claim.frequency)].to_ascii_lowercase()
            )
        };
        found(out, None, message);
    }
}

pub fn auth_missing(ctx: &Context, out: &mut Findings) {
    let lob = usize::from(ctx.lob);
    let extra = &ctx.policy.extra_prior_authorization[lob];
    for line in ctx.lines.iter().filter(|line| !line.has_auth) {
        if line.info.prior_authorization[lob] || extra.contains(line.code.as_ref()) {
            let message = || {
                format!(
                    "{} needs prior authorization for {}; none is on the line or claim.",
                    line.code, LINES_OF_BUSINESS[lob]
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_npi;

    #[test]
    fn npi_check_digit() {
        assert!(is_valid_npi("1234567893")); // CMS's worked example
        assert!(!is_valid_npi("1234567890"));
        assert!(!is_valid_npi("123456789"));
        assert!(!is_valid_npi("12345678a3"));
    }
}
