"""The rule registry: every rule is a small pure function registered under a stable `rule_id`.

A rule takes a `ClaimContext` and yields `Finding`s (data, not exceptions): the line it is about
(None for the claim) and a message a billing analyst can act on. Which rules run, and with which
CARC/RARC, is decided by the rule-set file, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from consumer.engine.context import ClaimContext


class Finding(NamedTuple):
    line_number: int | None
    message: str


Check = Callable[["ClaimContext"], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    summary: str  # what the rule requires, in the words of the billing policy
    check: Check


REGISTRY: dict[str, Rule] = {}


def rule(rule_id: str, summary: str) -> Callable[[Check], Check]:
    """Register `check` under `rule_id`; ids are part of the output contract, never reuse one."""

    def register(check: Check) -> Check:
        if rule_id in REGISTRY:
            raise RuntimeError(f"rule id {rule_id!r} registered twice")
        REGISTRY[rule_id] = Rule(rule_id, summary, check)
        return check

    return register


def all_rules() -> dict[str, Rule]:
    """Every registered rule (importing the rule modules registers them)."""
    import consumer.engine.rules  # noqa: F401  (import for its registrations)

    return REGISTRY
