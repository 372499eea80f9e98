"""Place of service: RB.046.A pays home infusion only in the home, POS 12."""

from __future__ import annotations

from collections.abc import Iterator

from consumer.engine.context import ClaimContext
from consumer.engine.registry import Finding, rule


@rule("pos.missing", "Every line has a place of service (on the line, or else on the claim).")
def pos_missing(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.place_of_service is None:
            yield Finding(line.number, "No place of service on the line or the claim; bill POS 12.")


@rule("pos.not-home", "Every line is billed with place of service 12 (Home).")
def pos_not_home(ctx: ClaimContext) -> Iterator[Finding]:
    home = ctx.policy.home_place_of_service
    for line in ctx.lines:
        if line.place_of_service is not None and line.place_of_service != home:
            yield Finding(
                line.number,
                f"Place of service {line.place_of_service} is not {home} (Home); "
                "home infusion is paid only in the home.",
            )
