"""Candidate rule sets for the tests that compare two (`replay --diff`, a shadow rule set)."""

from __future__ import annotations

import shutil
from pathlib import Path

from consumer.engine.engine import DEFAULT_RULES_PATH

# The shipped rules with one more code (J1170, hydromorphone) needing prior authorization.
MORE_AUTHORIZATION = (
    "extra_prior_authorization: {}",
    "extra_prior_authorization: { ALL: [J1170] }",
)


def changed_rule_set(
    folder: Path, change: tuple[str, str] = MORE_AUTHORIZATION, version: str = "r2"
) -> Path:
    """The shipped rules under `folder`/rules-`version`, with `change` (old text, new text)
    made to RB.046.A.yaml and the rule-set version ending in `-version`."""
    rules = folder / f"rules-{version}"
    rules.mkdir()
    shutil.copy(DEFAULT_RULES_PATH / "catalogue.yaml", rules)
    text = (DEFAULT_RULES_PATH / "RB.046.A.yaml").read_text()
    current = 'version: "RB.046.A-2026.06.14-r1"'
    old, new = change
    assert current in text, "the shipped rule set's version changed: update the tests"
    assert old in text, f"the shipped rule set has no {old!r}: update the tests"
    text = text.replace(current, f'version: "RB.046.A-2026.06.14-{version}"')
    (rules / "RB.046.A.yaml").write_text(text.replace(old, new))
    return rules
