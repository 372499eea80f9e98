//! Drugs: J, Q and B codes with an infusion count, and the NDC that identifies the drug.
//!
//! The NDC number is taken as submitted (a hyphenated or 10-digit NDC is invalid); its
//! qualifier and unit of measure are codes and are normalised like the others.

use super::{found, Context, Findings};
use crate::text::{normalise, number, quoted};

pub fn code_not_jqb(ctx: &Context, out: &mut Findings) {
    for line in &ctx.lines {
        if line.ndc.is_some() && !line.code.starts_with(['J', 'Q', 'B']) {
            let message = || {
                format!(
                    "{} carries an NDC but is not a drug code; bill the drug with its J, Q or B \
                     code.",
                    line.code
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn infusions(ctx: &Context, out: &mut Findings) {
    for line in &ctx.lines {
        if line.info.is_jq_drug && line.infusions.is_none_or(|n| n < 1) {
            let message = || {
                format!(
                    "Drug {} does not state how many infusions were administered.",
                    line.code
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn ndc_code(ctx: &Context, out: &mut Findings) {
    let qualifier = &ctx.policy.ndc_qualifier;
    for line in ctx.lines.iter().filter(|line| line.info.is_jq_drug) {
        let Some(ndc) = line.ndc else {
            found(out, Some(line.number), || {
                format!("Drug {} has no NDC.", line.code)
            });
            continue;
        };
        if !(ndc.code.len() == 11 && ndc.code.bytes().all(|b| b.is_ascii_digit())) {
            let message = || format!("NDC {} is not 11 digits in 5-4-2 form.", quoted(ndc.code));
            found(out, Some(line.number), message);
        } else if normalise(ndc.qualifier) != qualifier.as_str() {
            let message = || {
                format!(
                    "NDC qualifier {} should be {qualifier}.",
                    quoted(ndc.qualifier)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn ndc_quantity(ctx: &Context, out: &mut Findings) {
    let units = &ctx.policy.ndc_units;
    for line in &ctx.lines {
        let Some(ndc) = line.ndc else { continue };
        let unit = normalise(ndc.unit);
        if !units.iter().any(|known| unit == known.as_str()) {
            let message = || {
                format!(
                    "NDC unit {} is not one of {}.",
                    quoted(ndc.unit),
                    units.join(", ")
                )
            };
            found(out, Some(line.number), message);
        } else if ndc.quantity.is_nan() || ndc.quantity <= 0.0 {
            let message = || {
                format!(
                    "NDC quantity {} is not greater than 0.",
                    number(ndc.quantity)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}
