"""The decision engine: the compiled RB.046.A rules (`native/`) behind a small typed facade.

`Engine.load()` reads and validates the rule-set files; `decide`, `explain` and `compare`
ask the compiled engine. Where is the rule for ...? In `native/src/rules/`, one file per theme.
"""

from consumer.engine.engine import (
    ACCEPTED,
    NOT_IN_EFFECT,
    PENDED,
    RULE_IDS,
    Decision,
    Difference,
    Engine,
    Reason,
    RuleVerdict,
)

__all__ = [
    "ACCEPTED",
    "NOT_IN_EFFECT",
    "PENDED",
    "RULE_IDS",
    "Decision",
    "Difference",
    "Engine",
    "Reason",
    "RuleVerdict",
]
