//! Units of service, and the HIT professional visit G-codes (one day per line, one line per
//! payment category per day).

use super::{found, Context, Findings};
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
    let visits: Vec<_> = (ctx.lines.iter())
        .filter(|l| l.info.kind == Kind::HitProfessional)
        .collect();
    for (i, later) in visits.iter().enumerate() {
        let repeated = visits[..i].iter().find(|earlier| {
            earlier.info.hit_category == later.info.hit_category && later.overlaps(earlier)
        });
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
