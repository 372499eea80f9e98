"""Service units, per-diem spans and HIT professional visit (G-code) limits."""

from __future__ import annotations

from collections.abc import Iterator

from consumer.engine.context import ClaimContext
from consumer.engine.registry import Finding, rule


@rule("units.invalid", "Every line bills a whole, positive number of units.")
def units_invalid(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        units = line.units
        # `not units > 0` also catches NaN; `units % 1` is non-zero for fractions and infinity.
        if units is None or not units > 0 or units % 1:
            yield Finding(line.number, f"Units {units} are not a whole number greater than 0.")


@rule("units.per-diem", "A per-diem code bills one unit per day of its span.")
def units_per_diem(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.info.kind == "per_diem" and line.days is not None and line.units != line.days:
            yield Finding(
                line.number,
                f"{line.code} is billed per day: {line.date_from} to {line.date_to} is "
                f"{line.days} day(s), but {line.units} unit(s) were billed.",
            )


@rule("gcode.single-day", "A HIT professional visit G-code line covers one day of service.")
def gcode_single_day(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.info.kind == "hit_professional" and line.days is not None and line.days > 1:
            yield Finding(
                line.number,
                f"{line.code} is paid per infusion drug administration day; bill each visit day "
                f"on its own line instead of {line.date_from} to {line.date_to}.",
            )


@rule(
    "gcode.category-per-day",
    "At most one HIT G-code line per payment category per day of service.",
)
def gcode_category_per_day(ctx: ClaimContext) -> Iterator[Finding]:
    visits = [line for line in ctx.lines if line.info.kind == "hit_professional"]
    for i, later in enumerate(visits):
        for earlier in visits[:i]:
            if earlier.info.hit_category == later.info.hit_category and later.overlaps(earlier):
                yield Finding(
                    later.number,
                    f"{later.code} repeats HIT payment category {later.info.hit_category} already "
                    f"billed on line {earlier.number} ({earlier.code}) for the same day.",
                )
                break
