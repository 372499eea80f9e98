"""`replay --diff`: which claims' decisions a rule-set change would change, and why.

Each claim is decided under both rule sets by the one engine (`Engine.compare`), which compares
whole reasons: rule, line, CARC and RARC, informational reasons included (not their wording).
Counts by kind and by rule, plus the list of claims, as a terminal table or a JSON/CSV report.
Nothing is written to Kafka.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from consumer.engine import Difference

# How a rule's reasons changed between the two rule sets.
CHANGES = {"+": "newly failing", "-": "no longer failing", "~": "other lines or reason codes"}


@dataclass
class Change:
    event_id: str
    claim_id: str
    partition: int
    offset: int
    before: str
    after: str
    rules: list[str]  # "+rule", "-rule" or "~rule", by rule id

    @property
    def kind(self) -> str:
        return f"{self.before}->{self.after}" if self.before != self.after else "reasons changed"


@dataclass
class DiffReport:
    base_version: str
    other_version: str
    compared: int = 0
    undecodable: int = 0
    resent: int = 0  # re-sent events (same event id): the live service decides them once
    changes: list[Change] = field(default_factory=list)

    def add(self, partition: int, offset: int, diff: Difference | None) -> None:
        """Count one compared claim and keep it if its decision changed."""
        self.compared += 1
        if diff is not None:
            rules = [f"{sign}{rule}" for rule, sign in diff.rules]
            change = Change(
                diff.event_id, diff.claim_id, partition, offset, diff.before, diff.after, rules
            )
            self.changes.append(change)

    def by_kind(self) -> Counter[str]:
        return Counter(change.kind for change in self.changes)

    def by_rule(self) -> Counter[str]:
        return Counter(rule for change in self.changes for rule in change.rules)

    def table(self, limit: int = 50) -> str:
        skipped = ", ".join(
            f"{count:,} {what}"
            for count, what in (
                (self.undecodable, "undecodable records"),
                (self.resent, "re-sent events"),
            )
            if count
        )
        skipped = f" ({skipped} skipped)" if skipped else ""
        out = [
            f"Compared {self.compared:,} claims: {self.base_version} -> {self.other_version}; "
            f"{len(self.changes):,} would change{skipped}",
        ]
        for kind, count in sorted(self.by_kind().items()):
            out.append(f"  {kind:<22} {count:>8,}")
        if self.changes:
            legend = "; ".join(f"{sign} {words}" for sign, words in CHANGES.items())
            out.append(f"  By rule ({legend}):")
            for rule, count in self.by_rule().most_common():
                out.append(f"    {rule:<36} {count:>8,}")
            out.append(f"  {'claim_id':<24} {'event_id':<28} change")
            for change in self.changes[:limit]:
                detail = " ".join(change.rules)
                out.append(f"  {change.claim_id:<24} {change.event_id:<28} {change.kind} {detail}")
            if len(self.changes) > limit:
                out.append(f"  ... {len(self.changes) - limit:,} more (use --report FILE)")
        return "\n".join(out)

    def write(self, path: Path) -> None:
        """JSON (summary + every change) or CSV (one row per change), by file extension."""
        if path.suffix.lower() == ".csv":
            columns = ["claim_id", "event_id", "partition", "offset", "before", "after", "rules"]
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                for c in self.changes:
                    row = asdict(c) | {"rules": " ".join(c.rules)}
                    writer.writerow([row[column] for column in columns])
            return
        report = {
            "base_rule_set_version": self.base_version,
            "other_rule_set_version": self.other_version,
            "compared": self.compared,
            "undecodable": self.undecodable,
            "resent": self.resent,
            "changed": len(self.changes),
            "by_kind": dict(self.by_kind()),
            "by_rule": dict(self.by_rule()),
            "changes": [asdict(c) | {"kind": c.kind} for c in self.changes],
        }
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
