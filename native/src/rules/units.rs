//! Units of service, and the HIT professional visit G-codes (one day per line, one line per
//! payment category per day).

use super::{found, Context, Findings, LineView};
use crate::ruleset::codes::Kind;
use crate::text::{iso_date, number};

pub fn units_invalid(ctx: &Context, out: &mut Findings) {
    for line in &ctx.lines {
        let units = line.units;
        // Written so that NaN and infinity fail too.
        if !(units > 0.0 && units.is_finite() && units.fract() == 0.0) {
            let message = || {
                format!(
                    "Units {} are not a whole number greater than 0.",
                    number(units)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn units_per_diem(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|l| l.info.kind == Kind::PerDiem) {
        let Some(days) = line.days else { continue };
        if line.units != f64::from(days) {
            let message = || {
                format!(
                    "{} is billed per day: {} to {} is {} day(s), but {} unit(s) were billed.",
                    line.code,
                    iso_date(line.date_from),
                    iso_date(line.date_to),
                    days,
                    number(line.units)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn gcode_single_day(ctx: &Context, out: &mut Findings) {
    for line in ctx
        .lines
        .iter()
        .filter(|l| l.info.kind == Kind::HitProfessional)
    {
        if line.days.is_some_and(|days| days > 1) {
            let message = || {
                format!(
                    "{} is paid per infusion drug administration day; bill each visit day on its \
                     own line instead of {} to {}.",
                    line.code,
                    iso_date(line.date_from),
                    iso_date(line.date_to)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn gcode_category_per_day(ctx: &Context, out: &mut Findings) {
    // The visits with a trusted span (only those can overlap), side by side as the pairs
    // compare them: comparing the line views themselves chased two pointers a pair, over the
    // n²/2 pairs of a claim's n visits (~4 % of the 50-line bench, perf).
    // Each category's earliest from-date and latest to-date so far: a visit outside them
    // overlaps none of its category, and visits mostly come day after day.
    // (Up to 8 categories; a visit of any other is compared with every earlier one.)
    let mut spans: Vec<(Option<u8>, i32, i32, &LineView)> = Vec::new();
    let mut bounds = [(None, 0, 0); 8];
    let mut categories = 0;
    let visits = (ctx.lines.iter()).filter(|l| l.info.kind == Kind::HitProfessional);
    for later in visits.filter(|l| l.days.is_some()) {
        let (category, from, to) = (later.info.hit_category, later.date_from, later.date_to);
        let known = bounds[..categories]
            .iter_mut()
            .find(|(c, _, _)| *c == category);
        let apart = match known {
            Some((_, first, last)) => {
                let apart = from > *last || to < *first;
                (*first, *last) = ((*first).min(from), (*last).max(to));
                apart
            }
            None if categories < 8 => {
                bounds[categories] = (category, from, to);
                categories += 1;
                true
            }
            None => false,
        };
        let repeated = if apart {
            None
        } else {
            (spans.iter())
                .find(|&&(c, f, t, _)| c == category && f <= to && from <= t)
                .map(|&(_, _, _, earlier)| earlier)
        };
        spans.push((category, from, to, later));
        if let Some(earlier) = repeated {
            let message = || {
                let category = (later.info.hit_category).map_or("none".into(), |c| c.to_string());
                format!(
                    "{} repeats HIT payment category {category} already billed on line {} ({}) \
                     for the same day.",
                    later.code, earlier.number, earlier.code
                )
            };
            found(out, Some(later.number), message);
        }
    }
}
