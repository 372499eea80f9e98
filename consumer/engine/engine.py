"""The decision engine as Python sees it: a thin typed facade over the compiled engine.

The rules live once, in `native/` (built into `consumer._native`). This module loads and
validates the rule-set files (`consumer.engine.files`), hands them to the compiled engine, and
asks it for decisions: of a claim in record form (encoded in our schema first), of an Avro
body, with every rule's verdict (`explain`), or under two rule sets at once (`compare`). The
stream and offline `validate` use the engine's batch deciders (`StreamDecider`,
`JsonDecider`), built from the same compiled rule sets.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from consumer import _native
from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.engine.files import is_rule_set_file, read_rule_set
from consumer.engine.icd10 import billable_codes
from consumer.errors import RuleSetError
from consumer.paths import RULES

Decision = _native.Decision
Reason = _native.Reason
RuleVerdict = _native.RuleVerdict
Difference = _native.Difference
ACCEPTED = "ACCEPTED"
PENDED = "PENDED"
NOT_IN_EFFECT = "policy.not-in-effect"
RULE_IDS: tuple[str, ...] = tuple(_native.RULE_IDS)

# The rules/ folder of a source checkout; a deployment points INFUSION_VALIDATOR_RULES at its own.
DEFAULT_RULES_PATH = RULES


@functools.cache
def _billable_json() -> str:
    return json.dumps(sorted(billable_codes()))


def engine_files_json(rule_sets: Iterable[dict[str, Any]]) -> str:
    """What the compiled engine is built from: the validated files and the ICD-10-CM codes."""
    files = json.dumps(list(rule_sets))
    return f'{{"rule_sets": {files}, "billable_diagnoses": {_billable_json()}}}'


class Engine:
    """Decides claims under the rule set(s) of one policy, effective-dated."""

    def __init__(self, rule_sets: Sequence[dict[str, Any]]) -> None:
        """From validated rule sets (`consumer.engine.files.read_rule_set`)."""
        if not rule_sets:
            raise RuleSetError("no rule set to decide with")
        try:
            self.native = _native.Engine(engine_files_json(rule_sets))
        except ValueError as exc:
            raise RuleSetError(str(exc)) from exc
        self._rule_sets = list(rule_sets)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Engine:
        """From a rule-set file, or every rule-set file in a folder (default: `rules/`)."""
        target = Path(path or os.environ.get("INFUSION_VALIDATOR_RULES") or DEFAULT_RULES_PATH)
        if target.is_dir():
            files = sorted(p for p in target.glob("*.yaml") if is_rule_set_file(p))
            if not files:
                raise RuleSetError(f"{target}: no rule-set file (a YAML file with a policy_id)")
            return cls([read_rule_set(p) for p in files])
        if not target.exists():
            raise RuleSetError(f"{target}: no such rule-set file or folder")
        return cls([read_rule_set(target)])

    @classmethod
    def choose(cls, spec: str | None, rules_dir: str | Path | None) -> Engine:
        """A rule-set file or folder, or one version among the rule sets of `rules_dir`."""
        if spec is None or Path(spec).exists():
            return cls.load(spec or rules_dir)
        every = cls.load(rules_dir)
        chosen = [rs for rs in every._rule_sets if rs["rule_set"]["version"] == spec]
        if not chosen:
            raise RuleSetError(
                f"{spec!r} is neither a rule-set file nor a known version "
                f"(known: {', '.join(every.versions)})"
            )
        return cls(chosen)

    @property
    def versions(self) -> list[str]:
        """The rule-set versions, oldest first."""
        return self.native.versions

    @property
    def policy_id(self) -> str:
        return self.native.policy_id

    def describe(self) -> list[dict[str, Any]]:
        """Per rule set: file, identity, dates, rules on, catalogue, contracts."""
        return self.native.describe()

    def decide(self, claim: dict[str, Any]) -> Decision:
        """The decision of a claim in record form (`consumer.records.claims`)."""
        return self.native.decide(claim_body(claim))

    def decide_body(self, body: bytes) -> Decision:
        """The decision of a claim given as its Avro body in our schema."""
        return self.native.decide(body)

    def explain(self, claim: dict[str, Any]) -> tuple[Decision, list[RuleVerdict]]:
        """The decision and every rule's verdict (empty when no rule set is in effect)."""
        return self.native.explain(claim_body(claim))

    def compare(
        self,
        other: Engine,
        bodies: Sequence[bytes],
        max_lines: int = 50,
        history: History | None = None,
        partitions: Sequence[int] | None = None,
    ) -> tuple[list[Difference | None], list[int], list[int]]:
        """For each claim body (our schema's Avro), how `other`'s decision differs from this
        one's (None: not at all); the indexes of the bodies it could not read (or whose claim
        has no line or more than `max_lines`), left to the caller's decoder; and those of
        re-sent events (with a `history`: decided before, so not compared). Both decide
        against the member's history in the body's partition, which records each claim once."""
        return self.native.compare(other.native, list(bodies), max_lines, history, partitions)
