//! The member's claim history (SPEC §3.1): a claim billed again, a per-diem day billed
//! twice, an initial visit too soon after another visit.
//!
//! These read `Context::history`: the member's history before this claim (absent when the
//! service keeps no history). A REPLACEMENT is compared with the rest of the history, never
//! with the claim it replaces; a VOID bills nothing, so only the stateless rules judge it.

use super::{found, Context, Findings};
use crate::history::{PastClaim, ORIGINAL, VOID};
use crate::ruleset::codes::Kind;
use crate::text::iso_date;

/// How far back an initial visit looks for another HIT visit: day 61 is a new episode.
const INITIAL_VISIT_GAP_DAYS: i32 = 60;

/// The member's other claims (not this claim id), when the claim bills something.
fn others<'h>(ctx: &Context<'_, '_, 'h>) -> impl Iterator<Item = &'h PastClaim> {
    let history = ctx.history.filter(|_| ctx.claim.frequency != VOID);
    let claim_id = ctx.claim.claim_id.trim();
    let claims = history.into_iter().flat_map(|h| h.claims.iter());
    claims.filter(move |past| past.claim_id != claim_id)
}

pub fn duplicate_claim(ctx: &Context, out: &mut Findings) {
    let claim_id = ctx.claim.claim_id.trim();
    let known = ctx.history.and_then(|h| h.claim(claim_id));
    if ctx.claim.frequency == ORIGINAL && known.is_some() {
        let message = || {
            format!(
                "Claim {claim_id} was already received for this member; send a replacement (7) to \
                 change it or a void (8) to cancel it, not the claim again."
            )
        };
        found(out, None, message);
    }
}

pub fn per_diem_overlap(ctx: &Context, out: &mut Findings) {
    let per_diems = ctx
        .lines
        .iter()
        .filter(|l| l.info.kind == Kind::PerDiem && l.days.is_some());
    for line in per_diems {
        let earlier = others(ctx).find_map(|past| {
            // The dates first: two integer comparisons rule most lines out before a `memcmp`
            // of the codes (which was ~2 % of `decide` with the history, perf).
            let overlapping = past.lines.iter().find(|pl| {
                pl.from <= line.date_to && line.date_from <= pl.to && pl.code == line.code
            });
            overlapping.map(|pl| (past, pl))
        });
        if let Some((past, pl)) = earlier {
            let message = || {
                format!(
                    "{} for {} to {} overlaps the same per diem on claim {} ({} to {}); each day \
                     is paid once.",
                    line.code,
                    iso_date(line.date_from),
                    iso_date(line.date_to),
                    past.claim_id,
                    iso_date(pl.from),
                    iso_date(pl.to)
                )
            };
            found(out, Some(line.number), message);
        }
    }
}

pub fn initial_visit(ctx: &Context, out: &mut Findings) {
    let visits = ctx
        .lines
        .iter()
        .filter(|l| l.info.initial_visit && l.days.is_some());
    for line in visits {
        let visit = line.date_from;
        let since = visit - INITIAL_VISIT_GAP_DAYS;
        let earlier = others(ctx).find_map(|past| {
            let hit = past.lines.iter().find(|pl| {
                let kind = ctx.catalogue.lookup(&pl.code).kind;
                // A visit dated after this one does not count, whatever the arrival order.
                kind == Kind::HitProfessional && pl.from <= visit && since <= pl.to
            });
            hit.map(|pl| (past, pl))
        });
        if let Some((past, pl)) = earlier {
            let message = || {
                format!(
                    "{} on {} is an initial visit, but claim {} billed {} on {}, within {} days \
                     before it; bill the subsequent visit code.",
                    line.code,
                    iso_date(visit),
                    past.claim_id,
                    pl.code,
                    iso_date(pl.from),
                    INITIAL_VISIT_GAP_DAYS
                )
            };
            found(out, Some(line.number), message);
        }
    }
}
