//! Dates of service: a trustworthy span, not after submission, one calendar year (or month,
//! when a contract asks), and not across the policy's effective date.
//!
//! A line whose to-date is before its from-date is reported once, by `invalid`: the other
//! rules here skip it.

use super::{found, Context, Findings, LineView};
use crate::text::{civil, days_from_civil, iso_date};

fn span(line: &LineView) -> String {
    format!("{} to {}", iso_date(line.date_from), iso_date(line.date_to))
}

/// Whether a trusted span (`from <= to`) lies in one calendar year: no 1 January after `from`
/// up to `to`. One `civil` at most instead of two: they were ~12 % of `decide` (perf, 5-line
/// claims), and over half the lines are a single day, which needs none.
fn same_year(from: i32, to: i32) -> bool {
    from == to || i64::from(to) < days_from_civil(civil(from).0 + 1, 1, 1)
}

pub fn invalid(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_none()) {
        let message = || {
            format!(
                "The to-date {} is before the from-date {}.",
                iso_date(line.date_to),
                iso_date(line.date_from)
            )
        };
        found(out, Some(line.number), message);
    }
}

pub fn future(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        // A service on the day of submission (UTC) is not after it; only a later day is.
        if line.date_to > ctx.submitted_on {
            let message = || {
                format!(
                    "Service date {} is after the claim was submitted on {}.",
                    iso_date(line.date_to),
                    iso_date(ctx.submitted_on)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn calendar_year(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        if !same_year(line.date_from, line.date_to) {
            let message = || {
                format!(
                    "{} crosses into a new year; bill one line (and claim) per calendar year.",
                    span(line)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn calendar_month(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        let (from, to) = (civil(line.date_from), civil(line.date_to));
        if (from.0, from.1) != (to.0, to.1) {
            let message = || {
                format!(
                    "{} spans months; bill one calendar month per line.",
                    span(line)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn straddles(ctx: &Context, out: &mut Findings) {
    let effective = ctx.policy.effective_from;
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        if line.date_from < effective && effective <= line.date_to {
            let message = || {
                format!(
                    "{} straddles the {} effective date {}; bill the days before and after it on \
                     separate lines.",
                    span(line),
                    ctx.policy.policy_id,
                    iso_date(effective)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_year;
    use crate::text::parse_date;

    #[test]
    fn a_span_is_in_one_year_up_to_new_years_eve() {
        let day = |text| parse_date(text).unwrap();
        assert!(same_year(day("2026-01-01"), day("2026-12-31")));
        assert!(same_year(day("2024-02-29"), day("2024-02-29")));
        assert!(!same_year(day("2025-12-31"), day("2026-01-01")));
        assert!(!same_year(day("1969-12-31"), day("1970-01-01")));
        assert!(!same_year(day("2026-06-01"), day("2028-03-01")));
    }
}
