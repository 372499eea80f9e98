//! Dates of service: a trustworthy span, not after submission, one calendar year (or month,
//! when a contract asks), and not across the policy's effective date.
//!
//! A line whose to-date is before its from-date is reported once, by `invalid`: the other
//! rules here skip it.

use super::{found, Context, Findings, LineView};
use crate::text::{civil, iso_date};

fn span(line: &LineView) -> String {
    format!("{} to {}", iso_date(line.date_from), iso_date(line.date_to))
}

pub fn invalid(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_none()) {
        let message = format!(
            "The to-date {} is before the from-date {}.",
            iso_date(line.date_to),
            iso_date(line.date_from)
        );
        found(out, Some(line.number), message);
    }
}

pub fn future(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        // A service on the day of submission (UTC) is not after it; only a later day is.
        if line.date_to > ctx.submitted_on {
            let message = format!(
                "Service date {} is after the claim was submitted on {}.",
                iso_date(line.date_to),
                iso_date(ctx.submitted_on)
            );
            found(out, Some(line.number), message);
        }
    }
}

pub fn calendar_year(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        if civil(line.date_from).0 != civil(line.date_to).0 {
            let message = format!(
                "{} crosses into a new year; bill one line (and claim) per calendar year.",
                span(line)
            );
            found(out, Some(line.number), message);
        }
    }
}

pub fn calendar_month(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        let (from, to) = (civil(line.date_from), civil(line.date_to));
        if (from.0, from.1) != (to.0, to.1) {
            let message = format!(
                "{} spans months; bill one calendar month per line.",
                span(line)
            );
            found(out, Some(line.number), message);
        }
    }
}

pub fn straddles(ctx: &Context, out: &mut Findings) {
    let effective = ctx.policy.effective_from;
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        if line.date_from < effective && effective <= line.date_to {
            let message = format!(
                "{} straddles the {} effective date {}; bill the days before and after it on \
                 separate lines.",
                span(line),
                ctx.policy.policy_id,
                iso_date(effective)
            );
            found(out, Some(line.number), message);
        }
    }
}
