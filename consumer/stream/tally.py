"""One batch's claim metrics, held back until the batch is committed.

An aborted batch is read and decided again, so claims counted as they are decided would be
counted twice. The processor adds to a `Tally` instead; the pipeline publishes it to the
Prometheus metrics after the batch's commit and clears it when the batch is aborted. Plain
dict and list arithmetic is also cheaper per claim than a Prometheus child (a lock per
increment), and the bulk adders take a whole batch's counts at once, the shape in which a
native decoder hands them over.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from consumer.stream.metrics import CLAIM_BUCKETS, SHADOW_CHANGES, Metrics


class Tally:
    """Counts per (decision, line of business), per failing rule and per dead-letter class,
    and claim durations as per-bucket counts (not cumulative; the last is +Inf) and a sum."""

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str], int] = {}
        self.rule_failures: dict[str, int] = {}
        self.dead_letters: dict[str, int] = {}
        self.claim_buckets = [0] * (len(CLAIM_BUCKETS) + 1)
        self.claim_seconds = 0.0
        self.resent = 0
        # The shadow rule set's counts: "decisions", "disagreements", "rules" (see Shadow).
        self.shadow: dict[str, dict[Any, int]] = {}

    # --- one claim at a time ---------------------------------------------------------------

    def add_decision(self, decision: str, lob: str, reasons: Iterable[Mapping[str, Any]]) -> None:
        """One decided claim; its reasons with a CARC count as failures of their rule."""
        key = (decision, lob)
        self.decisions[key] = self.decisions.get(key, 0) + 1
        failures = self.rule_failures
        for reason in reasons:
            if reason["carc"]:
                rule_id = reason["rule_id"]
                failures[rule_id] = failures.get(rule_id, 0) + 1

    def add_shadow(self, counts: Mapping[str, Any]) -> None:
        """A batch's shadow counts (`StreamDecider.take_tally()["shadow"]`)."""
        for part, by_key in counts.items():
            mine = self.shadow.setdefault(part, {})
            for key, n in by_key.items():
                mine[key] = mine.get(key, 0) + n

    def add_resent(self, n: int) -> None:
        """Re-sent events: decided before, not again."""
        self.resent += n

    def add_dead_letter(self, error_class: str) -> None:
        self.dead_letters[error_class] = self.dead_letters.get(error_class, 0) + 1

    def observe_claim(self, seconds: float) -> None:
        # The first bound >= seconds, as Prometheus buckets are `le`; past the last: +Inf.
        self.claim_buckets[bisect_left(CLAIM_BUCKETS, seconds)] += 1
        self.claim_seconds += seconds

    # --- a whole batch at once -------------------------------------------------------------

    def add_decisions(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Claims decided, by (decision, line of business)."""
        for key, n in counts.items():
            self.decisions[key] = self.decisions.get(key, 0) + n

    def add_rule_failures(self, counts: Mapping[str, int]) -> None:
        """Reasons with a CARC, by rule id."""
        for rule_id, n in counts.items():
            self.rule_failures[rule_id] = self.rule_failures.get(rule_id, 0) + n

    def add_claim_durations(self, bucket_counts: Sequence[int], total_seconds: float) -> None:
        """Observations per bucket of `CLAIM_BUCKETS` plus +Inf (not cumulative), and their sum."""
        if len(bucket_counts) != len(self.claim_buckets):
            raise ValueError(
                f"expected {len(self.claim_buckets)} bucket counts (CLAIM_BUCKETS and +Inf), "
                f"got {len(bucket_counts)}"
            )
        buckets = self.claim_buckets
        for i, n in enumerate(bucket_counts):
            buckets[i] += n
        self.claim_seconds += total_seconds

    # --- end of the batch ------------------------------------------------------------------

    def publish(self, metrics: Metrics) -> None:
        """Add everything to the metrics (the batch is committed), then start over."""
        for (decision, lob), n in self.decisions.items():
            if n:  # a zero would create a series for an unknown label for nothing
                metrics.decisions.labels(decision, lob).inc(n)
        for rule_id, n in self.rule_failures.items():
            if n:
                metrics.rule_failures.labels(rule_id).inc(n)
        for error_class, n in self.dead_letters.items():
            if n:
                metrics.dlq_records.labels(error_class).inc(n)
        if any(self.claim_buckets):
            metrics.claim_duration.add(self.claim_buckets, self.claim_seconds)
        if self.resent:
            metrics.duplicate_events.inc(self.resent)
        for (decision, lob), n in self.shadow.get("decisions", {}).items():
            metrics.shadow_decisions.labels(decision, lob).inc(n)
        for kind, n in self.shadow.get("disagreements", {}).items():
            metrics.shadow_disagreements.labels(kind).inc(n)
        for (rule_id, sign), n in self.shadow.get("rules", {}).items():
            metrics.shadow_rule_changes.labels(rule_id, SHADOW_CHANGES[sign]).inc(n)
        self.clear()

    def clear(self) -> None:
        """Forget the batch (it was aborted and will be decided again)."""
        self.decisions.clear()
        self.rule_failures.clear()
        self.dead_letters.clear()
        self.claim_buckets[:] = [0] * len(self.claim_buckets)
        self.claim_seconds = 0.0
        self.resent = 0
        self.shadow = {}
