//! Place of service: home infusion is paid only in the home (POS 12).

use super::{found, Context, Findings};

pub fn pos_missing(ctx: &Context, out: &mut Findings) {
    for line in &ctx.lines {
        if line.place_of_service.is_none() {
            let message = "No place of service on the line or the claim; bill POS 12.";
            found(out, Some(line.number), || message.into());
        }
    }
}

pub fn pos_not_home(ctx: &Context, out: &mut Findings) {
    let home = &ctx.policy.home_place_of_service;
    for line in &ctx.lines {
        if let Some(pos) = line.place_of_service.filter(|pos| pos != home) {
            let message = || {
                format!(
                    "Place of service {pos} is not {home} (Home); home infusion is paid only in \
                     the home."
                )
            };
            found(out, Some(line.number), message);
        }
    }
}
