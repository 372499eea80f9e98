"""The broker-free decision core: rule set + catalogue (data) and rules (code) → decisions."""

from consumer.engine.engine import ACCEPTED, PENDED, Engine, Outcome, RuleResult

__all__ = ["ACCEPTED", "PENDED", "Engine", "Outcome", "RuleResult"]
