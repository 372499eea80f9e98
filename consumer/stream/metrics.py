"""Prometheus metrics (SPEC §6), built on an injected registry.

Names carry the `infusion_validator_` prefix and base units; label sets are bounded and
pre-initialised (rule ids from the registry, DLQ error classes from a fixed vocabulary).
Never a claim id, member id, key or offset as a label.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from consumer import __version__
from consumer.engine.files import LINES_OF_BUSINESS
from consumer.stream.txn import CommitSteps

PREFIX = "infusion_validator"
DECISIONS = ("ACCEPTED", "PENDED")
TRANSACTION_RESULTS = ("committed", "aborted", "fenced")
TRANSACTION_STEPS = CommitSteps._fields  # produce, send_offsets, commit
LOOP_STEPS = ("consume", "decide", "commit_wait")
REBALANCE_KINDS = ("assign", "revoke", "lost")
SHADOW_KINDS = ("ACCEPTED->PENDED", "PENDED->ACCEPTED", "reasons changed")
# How a rule's reasons differ under the shadow rule set (`Difference.rules` signs).
SHADOW_CHANGES = {"+": "added", "-": "removed", "~": "changed"}
# A claim's decode, decision and encode in the compiled engine: 2-5 us at 1-5 lines, about
# 20 us at 50; a batch is up to a few hundred milliseconds.
CLAIM_BUCKETS = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


# attribute, name after the prefix, help, labels: every counter and gauge the service exports.
_COUNTERS = (
    ("records_consumed", "records_consumed",
     "Input records decided or dead-lettered in a committed batch (a batch read again after an "
     "abort counts once).", ("topic",)),
    ("decisions", "decisions", "Claims decided, by decision and line of business.",
     ("decision", "line_of_business")),
    ("rule_failures", "rule_failures", "Reasons reported, by rule.", ("rule_id",)),
    ("dlq_records", "dlq_records", "Records sent to the dead-letter topic, by error class.",
     ("error_class",)),
    ("transactions", "transactions", "Kafka transactions, by result.", ("result",)),
    ("rebalances", "rebalances", "Consumer group rebalance events.", ("kind",)),
    ("fetch_restarts", "fetch_restarts",
     "Times this instance assigned its partitions again, each from the group's committed "
     "offset, because librdkafka had left one out of the active fetch state for 30 s.", ()),
    ("duplicate_events", "duplicate_events",
     "Re-sent events (an event id decided before): the first decision stands.", ()),
    ("history_restore_records", "history_restore_records",
     "Changelog records read to restore partitions' history.", ()),
    ("shadow_decisions", "shadow_decisions",
     "Claims decided by the shadow rule set (written nowhere), by decision and line of "
     "business.", ("decision", "line_of_business")),
    ("shadow_disagreements", "shadow_disagreements",
     "Claims the shadow rule set decides otherwise than the live one, by kind.", ("kind",)),
    ("shadow_rule_changes", "shadow_rule_changes",
     "Disagreeing claims by rule: the rule's reasons added, removed or changed (other lines or "
     "reason codes) under the shadow rule set.", ("rule_id", "change")),
)  # fmt: skip
_GAUGES = (
    ("consumer_lag", "consumer_lag_records", "Records behind the end of each assigned partition.",
     ("topic", "partition")),
    ("assigned_partitions", "assigned_partitions", "Input partitions assigned to this instance.",
     ()),
    ("partitions_not_fetching", "partitions_not_fetching",
     "Assigned input partitions librdkafka has not fetched from (fetch state other than "
     "active) for over a minute: their claims are not being decided.", ()),
    ("producer_queue", "producer_queue_messages", "Messages waiting in the producer queue.", ()),
    ("last_progress", "last_progress_timestamp_seconds",
     "Unix time of the last committed batch (or idle poll with nothing to do).", ()),
    ("history_members", "history_members", "Members with a claim history, by input partition.",
     ("partition",)),
    ("history_restoring", "history_restoring_partitions",
     "Input partitions whose history is being restored (none of their records is decided "
     "until it is).", ()),
    ("history_restore_seconds", "history_restore_seconds",
     "How long the last restore of each input partition's history took.", ("partition",)),
)  # fmt: skip


class Metrics:
    """Every metric the service exports; one instance per process (or per test)."""

    records_consumed: Counter
    decisions: Counter
    rule_failures: Counter
    dlq_records: Counter
    transactions: Counter
    rebalances: Counter
    fetch_restarts: Counter
    duplicate_events: Counter
    history_restore_records: Counter
    shadow_decisions: Counter
    shadow_disagreements: Counter
    shadow_rule_changes: Counter
    consumer_lag: Gauge
    assigned_partitions: Gauge
    partitions_not_fetching: Gauge
    producer_queue: Gauge
    last_progress: Gauge
    history_members: Gauge
    history_restoring: Gauge
    history_restore_seconds: Gauge

    def __init__(
        self,
        registry: CollectorRegistry,
        rule_ids: Iterable[str],
        dlq_error_classes: Iterable[str],
    ) -> None:
        self.registry = registry
        self._rule_ids = tuple(rule_ids)
        for metric_type, table in ((Counter, _COUNTERS), (Gauge, _GAUGES)):
            for attribute, short, help_, labels in table:
                metric = metric_type(f"{PREFIX}_{short}", help_, labels, registry=registry)
                setattr(self, attribute, metric)
        self.batch_duration = Histogram(
            f"{PREFIX}_batch_duration_seconds", "Time to process and commit one batch.",
            buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.transaction_steps = Histogram(
            f"{PREFIX}_transaction_step_seconds",
            "Time a committed batch's transaction spent in each step on the producer's "
            "worker: produce (its records handed to the producer), send_offsets (its input "
            "offsets added) and commit (its records acknowledged, then the commit). A "
            "transaction begun while the broker still writes the last one's markers is "
            "answered CONCURRENT_TRANSACTIONS and retried: that wait shows here, not in the "
            "claims' processing.",
            ("step",), buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.loop_steps = Histogram(
            f"{PREFIX}_loop_step_seconds",
            "Time the Kafka loop's thread spent on each batch, by step: consume (waiting for "
            "records: up to processing.batch_timeout_ms below full load; rebalance callbacks "
            "run inside it), decide, and commit_wait (waiting for a batch's transaction to "
            "commit). Their sum per batch is the loop's cycle, which sets the decisions' "
            "latency below full load.",
            ("step",), buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.claim_duration = BulkHistogram(
            f"{PREFIX}_claim_duration_seconds", "Time to decode, decide and encode one claim.",
            CLAIM_BUCKETS, registry,
        )  # fmt: skip
        self.end_to_end_latency = BulkHistogram(
            f"{PREFIX}_end_to_end_latency_seconds",
            "From the input record's timestamp to its decision being committed.",
            LATENCY_BUCKETS, registry,
        )  # fmt: skip
        self.shadow = Info(f"{PREFIX}_shadow", "The shadow rule set, if any.", registry=registry)
        self.build = Info(f"{PREFIX}_build", "Validator build and rule set.", registry=registry)

        # Every bounded label value starts at zero, so rate() and alerts see the series at once.
        for decision in DECISIONS:
            for lob in LINES_OF_BUSINESS:
                self.decisions.labels(decision, lob)
        for rule_id in self._rule_ids:
            self.rule_failures.labels(rule_id)
        for error_class in dlq_error_classes:
            self.dlq_records.labels(error_class)
        for result in TRANSACTION_RESULTS:
            self.transactions.labels(result)
        for step in TRANSACTION_STEPS:
            self.transaction_steps.labels(step)
        for step in LOOP_STEPS:
            self.loop_steps.labels(step)
        for kind in REBALANCE_KINDS:
            self.rebalances.labels(kind)

    def describe_shadow(self, rule_set_versions: Iterable[str]) -> None:
        """Start the shadow series at zero (only when a shadow rule set runs)."""
        self.shadow.info({"rule_set_version": ",".join(rule_set_versions)})
        for decision in DECISIONS:
            for lob in LINES_OF_BUSINESS:
                self.shadow_decisions.labels(decision, lob)
        for kind in SHADOW_KINDS:
            self.shadow_disagreements.labels(kind)
        for rule_id in self._rule_ids:
            for change in SHADOW_CHANGES.values():
                self.shadow_rule_changes.labels(rule_id, change)

    def describe_build(self, policy_id: str, rule_set_versions: Iterable[str]) -> None:
        self.build.info(
            {
                "version": __version__,
                "policy_id": policy_id,
                "rule_set_version": ",".join(rule_set_versions),
            }
        )


class BulkHistogram(Collector):
    """An unlabelled histogram that also takes a batch's bucket counts at once.

    prometheus_client's `Histogram` takes one observation at a time and has no public way to
    add counts in bulk, which is how the claim durations and the records' end-to-end latencies
    arrive: a committed batch's worth, counted by the compiled engine (consumer.stream.tally,
    `age_buckets`). Exports the same `_bucket`, `_count` and `_sum` series as a `Histogram`
    with the same name and buckets (no `_created`).
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.buckets = tuple(buckets)  # upper bounds, ascending; +Inf is implied
        # `le` values written as Histogram writes them (1e-05, +Inf); the function is untyped.
        self._le = [floatToGoString(b) for b in (*self.buckets, float("inf"))]  # type: ignore[no-untyped-call]
        self._counts = [0] * len(self._le)  # per bucket, not cumulative
        self._sum = 0.0
        self._lock = threading.Lock()  # scrapes read from the HTTP server's threads
        registry.register(self)

    def add(self, bucket_counts: Sequence[int], total: float) -> None:
        """Observations per bucket (not cumulative; the last is +Inf) and their sum."""
        if len(bucket_counts) != len(self._counts):
            raise ValueError(f"{len(bucket_counts)} bucket counts for {len(self._counts)} buckets")
        if min(bucket_counts) < 0:
            raise ValueError("bucket counts only go up")
        with self._lock:
            for i, n in enumerate(bucket_counts):
                self._counts[i] += n
            self._sum += total

    def observe(self, seconds: float) -> None:
        i = bisect_left(self.buckets, seconds)  # Prometheus buckets are `le`
        with self._lock:
            self._counts[i] += 1
            self._sum += seconds

    def describe(self) -> Iterable[Metric]:
        """The name only, so the registry rejects a duplicate without collecting."""
        return [HistogramMetricFamily(self.name, self.documentation, labels=())]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        family = HistogramMetricFamily(self.name, self.documentation, labels=())
        family.add_metric((), list(zip(self._le, accumulate(counts), strict=True)), total)
        return [family]
