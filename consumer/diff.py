"""`replay --diff`: which claims' decisions a rule-set change would change, and why.

Each claim is decided under both rule sets; a claim changes when its decision flips or its
reasons (rule and line) differ. Counts by kind and by rule, plus the list of claim ids, as a
terminal table or a JSON/CSV report. Nothing is written to Kafka.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from consumer.engine import Outcome

Reasons = set[tuple[str, int | None]]


def _reasons(outcome: Outcome) -> Reasons:
    return {(r["rule_id"], r["line_number"]) for r in outcome.reasons if r["carc"]}


@dataclass
class Change:
    event_id: str
    claim_id: str
    partition: int
    offset: int
    before: str
    after: str
    rules_added: list[str]
    rules_removed: list[str]

    @property
    def kind(self) -> str:
        return f"{self.before}->{self.after}" if self.before != self.after else "reasons changed"


@dataclass
class DiffReport:
    base_version: str
    other_version: str
    compared: int = 0
    undecodable: int = 0
    changes: list[Change] = field(default_factory=list)

    def add(
        self, claim: dict[str, Any], partition: int, offset: int, a: Outcome, b: Outcome
    ) -> None:
        """Compare one claim's two outcomes and keep it if they differ."""
        self.compared += 1
        before, after = _reasons(a), _reasons(b)
        if a.decision == b.decision and before == after:
            return
        self.changes.append(
            Change(
                claim["event_id"],
                claim["claim_id"],
                partition,
                offset,
                a.decision,
                b.decision,
                sorted({rule for rule, _ in after - before}),
                sorted({rule for rule, _ in before - after}),
            )
        )

    def by_kind(self) -> Counter[str]:
        return Counter(change.kind for change in self.changes)

    def by_rule(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for change in self.changes:
            counts.update(f"+{rule}" for rule in change.rules_added)
            counts.update(f"-{rule}" for rule in change.rules_removed)
        return counts

    def table(self, limit: int = 50) -> str:
        out = [
            f"Compared {self.compared:,} claims: {self.base_version} -> {self.other_version}; "
            f"{len(self.changes):,} would change"
            + (f" ({self.undecodable:,} undecodable records skipped)" if self.undecodable else ""),
        ]
        for kind, count in sorted(self.by_kind().items()):
            out.append(f"  {kind:<22} {count:>8,}")
        if self.changes:
            out.append("  By rule (+ newly failing, - no longer failing):")
            for rule, count in self.by_rule().most_common():
                out.append(f"    {rule:<36} {count:>8,}")
            out.append(f"  {'claim_id':<24} {'event_id':<28} change")
            for change in self.changes[:limit]:
                detail = " ".join(
                    [f"+{r}" for r in change.rules_added] + [f"-{r}" for r in change.rules_removed]
                )
                out.append(f"  {change.claim_id:<24} {change.event_id:<28} {change.kind} {detail}")
            if len(self.changes) > limit:
                out.append(f"  ... {len(self.changes) - limit:,} more (use --report FILE)")
        return "\n".join(out)

    def write(self, path: Path) -> None:
        """JSON (summary + every change) or CSV (one row per change), by file extension."""
        if path.suffix.lower() == ".csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    [
                        "claim_id",
                        "event_id",
                        "partition",
                        "offset",
                        "before",
                        "after",
                        "rules_added",
                        "rules_removed",
                    ]
                )
                for c in self.changes:
                    writer.writerow(
                        [
                            c.claim_id,
                            c.event_id,
                            c.partition,
                            c.offset,
                            c.before,
                            c.after,
                            " ".join(c.rules_added),
                            " ".join(c.rules_removed),
                        ]
                    )
            return
        report = {
            "base_rule_set_version": self.base_version,
            "other_rule_set_version": self.other_version,
            "compared": self.compared,
            "undecodable": self.undecodable,
            "changed": len(self.changes),
            "by_kind": dict(self.by_kind()),
            "by_rule": dict(self.by_rule()),
            "changes": [asdict(c) | {"kind": c.kind} for c in self.changes],
        }
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
