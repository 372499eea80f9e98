"""Dates of service, and the policy's effective date."""

from __future__ import annotations

from collections.abc import Iterator

from consumer.engine.context import ClaimContext
from consumer.engine.registry import Finding, rule


@rule("dates.invalid", "Every line has a from-date and a to-date that is not before it.")
def dates_invalid(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.days is None:
            yield Finding(
                line.number, f"The to-date {line.date_to} is before the from-date {line.date_from}."
            )


@rule("dates.future", "No date of service is after the claim was submitted.")
def dates_future(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        last = line.date_to if line.days is not None else line.date_from
        if last > ctx.submitted_on:
            yield Finding(
                line.number,
                f"Service date {last} is after the claim was submitted on {ctx.submitted_on}.",
            )


@rule("dates.calendar-year", "A line does not span two calendar years.")
def dates_calendar_year(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        if line.date_from.year != line.date_to.year:
            yield Finding(
                line.number,
                f"{line.date_from} to {line.date_to} crosses into a new year; bill one line "
                "(and claim) per calendar year.",
            )


@rule("dates.calendar-month", "A line covers one calendar month at most (when the contract asks).")
def dates_calendar_month(ctx: ClaimContext) -> Iterator[Finding]:
    for line in ctx.lines:
        start, end = line.date_from, line.date_to
        if (start.year, start.month) != (end.year, end.month):
            yield Finding(
                line.number, f"{start} to {end} spans months; bill one calendar month per line."
            )


@rule(
    "policy.straddles-effective-date",
    "No line spans the policy's effective date; split it at that date.",
)
def policy_straddles_effective_date(ctx: ClaimContext) -> Iterator[Finding]:
    effective = ctx.policy.effective_from
    for line in ctx.lines:
        if line.date_from < effective <= line.date_to:
            yield Finding(
                line.number,
                f"{line.date_from} to {line.date_to} straddles the {ctx.policy.policy_id} "
                f"effective date {effective}; bill the days before and after it on separate lines.",
            )
