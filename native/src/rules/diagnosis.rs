//! Diagnoses: at least one, pointed to by every line, each a billable ICD-10-CM code.

use super::{found, Context, Findings};
use crate::text::{normalise, quoted};

pub fn missing(ctx: &Context, out: &mut Findings) {
    let count = ctx.claim.diagnosis_codes.len();
    if count == 0 {
        found(out, None, || "The claim has no diagnosis code.".into());
        return;
    }
    for line in &ctx.lines {
        if line.pointers.is_empty() {
            let message = "The line does not point to any diagnosis.";
            found(out, Some(line.number), || message.into());
            continue;
        }
        // Pointers are 1-based: 0 points at nothing.
        let bad: Vec<String> = (line.pointers.iter())
            .filter(|p| usize::try_from(**p).map_or(true, |p| p == 0 || p > count))
            .map(i32::to_string)
            .collect();
        if !bad.is_empty() {
            let message = || {
                format!(
                    "Diagnosis pointer(s) {} point past the claim's {count} diagnosis code(s).",
                    bad.join(", ")
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn invalid(ctx: &Context, out: &mut Findings) {
    for (position, code) in ctx.claim.diagnosis_codes.iter().enumerate() {
        // The set holds every code with and without its dot; a blank entry is not a code.
        if !ctx.billable_diagnoses.contains(normalise(code).as_ref()) {
            let message = || {
                format!(
                    "Diagnosis {} ({}) is not a billable ICD-10-CM code; code it to the highest \
                     level of specificity.",
                    position + 1,
                    quoted(code)
                )
            };
            found(out, None, message);
        }
    }
}
