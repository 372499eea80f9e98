//! Procedure codes: the code set of the plan, codes in effect, codes that exclude or bundle
//! each other, add-ons with their primary code, route modifiers, and NOC descriptions.

use super::{found, Context, Findings, LineView};
use crate::claim::LINES_OF_BUSINESS;
use crate::ruleset::codes::Kind;
use crate::text::iso_date;

fn group_name(group: &str) -> &str {
    match group {
        "hit_professional" => "HIT professional services G-code",
        "home_infusion_s_code" => "home infusion S-code",
        "home_nursing" => "home infusion nursing code",
        other => other,
    }
}

pub fn lob_code_set(ctx: &Context, out: &mut Findings) {
    let not_billable = &ctx.policy.not_billable[usize::from(ctx.lob)];
    if not_billable.is_empty() {
        return;
    }
    for line in &ctx.lines {
        // Groups are sorted, so a code in two barred groups is reported the same way each time.
        let barred = line.info.groups.iter().find(|g| not_billable.contains(*g));
        if let Some(group) = barred {
            let message = || {
                format!(
                    "{} is a {}, which {} claims may not bill under {}; use the code set of the \
                     member's plan.",
                    line.code,
                    group_name(group),
                    LINES_OF_BUSINESS[usize::from(ctx.lob)],
                    ctx.policy.policy_id
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn code_not_effective(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        let (start, end) = (line.info.effective_from, line.info.effective_to);
        if start.is_some_and(|s| line.date_from < s) || end.is_some_and(|e| line.date_to > e) {
            let message = || {
                format!(
                    "{} is in effect from {} to {}, not on {} to {}.",
                    line.code,
                    start.map_or("the start".into(), iso_date),
                    end.map_or("now".into(), iso_date),
                    iso_date(line.date_from),
                    iso_date(line.date_to)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn mutually_exclusive(ctx: &Context, out: &mut Findings) {
    let lines = &ctx.lines;
    // A pair where neither code has an exclusion cannot exclude: a line without one is
    // compared only with the earlier lines that have one (few, where any), not with all
    // n²/2 pairs (~3 % of the 50-line bench, perf).
    let excluding: Vec<usize> = (lines.iter().enumerate())
        .filter(|(_, line)| line.info.has_exclusions)
        .map(|(i, _)| i)
        .collect();
    if excluding.is_empty() {
        return;
    }
    let check = |out: &mut Findings, earlier: &LineView, later: &LineView| {
        // The day overlap first: it is two comparisons, and rules most pairs out.
        let (a, b) = (earlier.info, later.info);
        let exclusive = || {
            a.exclusive_with_kinds.contains(&b.kind)
                || b.exclusive_with_kinds.contains(&a.kind)
                || a.exclusive_with.contains(later.code.as_ref())
        };
        if later.overlaps(earlier) && exclusive() {
            let message = || {
                format!(
                    "{} may not be billed with {} (line {}) on the same days.",
                    later.code, earlier.code, earlier.number
                )
            };
            found(out, Some(later.number), message);
        }
    };
    for (i, later) in lines.iter().enumerate() {
        if later.info.has_exclusions {
            for earlier in &lines[..i] {
                check(out, earlier, later);
            }
        } else {
            for &e in excluding.iter().take_while(|&&e| e < i) {
                check(out, lines[e], later);
            }
        }
    }
}

pub fn addon_primary_missing(ctx: &Context, out: &mut Findings) {
    for line in ctx.lines.iter().filter(|line| line.days.is_some()) {
        let Some(primary) = &line.info.add_on_to else {
            continue;
        };
        // The overlap first: it is cheaper than comparing the codes.
        let billed = (ctx.all_lines.iter())
            .any(|other| other.overlaps(line) && other.code.as_ref() == primary.as_str());
        if !billed {
            let message = || {
                format!(
                    "Add-on code {} needs {} billed for the same day.",
                    line.code, primary
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn bundled_per_diem(ctx: &Context, out: &mut Findings) {
    if !ctx.policy.bundling[usize::from(ctx.lob)] {
        return;
    }
    for line in ctx.lines.iter().filter(|l| l.info.bundled_into_per_diem) {
        let cover = (ctx.lines.iter()).find(|p| p.info.kind == Kind::PerDiem && p.overlaps(line));
        if let Some(cover) = cover {
            let message = || {
                format!(
                    "{} is included in per-diem {} (line {}) for the same days and cannot be \
                     billed separately.",
                    line.code, cover.code, cover.number
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn modifier_route(ctx: &Context, out: &mut Findings) {
    for line in &ctx.lines {
        let Some(required) = &line.info.required_modifiers[usize::from(ctx.lob)] else {
            continue;
        };
        let missing: Vec<&str> = (required.iter())
            .filter(|m| {
                !line
                    .modifiers
                    .iter()
                    .any(|have| have.as_ref() == m.as_str())
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let message = || {
                format!(
                    "{} needs modifier {} (administered subcutaneously) for this plan.",
                    line.code,
                    missing.join(", ")
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn noc_description(ctx: &Context, out: &mut Findings) {
    for line in &ctx.lines {
        if line.info.not_otherwise_classified && line.description.is_none() {
            let message = || {
                format!(
                    "{} is a not-otherwise-classified code; describe the drug or service (name, \
                     strength, dosage).",
                    line.code
                )
            };
            found(out, Some(line.number), message);
        }
    }
}
