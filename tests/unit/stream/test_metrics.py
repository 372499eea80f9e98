"""The claim-duration histogram that takes bulk bucket counts exports what a prometheus_client
`Histogram` with the same observations would, so dashboards and alerts see no difference."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from consumer.stream.metrics import CLAIM_BUCKETS, BulkHistogram, Metrics
from consumer.stream.tally import Tally

NAME = "infusion_validator_claim_duration_seconds"
LOWER = (float("-inf"), *CLAIM_BUCKETS)  # bucket i holds LOWER[i] < seconds <= UPPER[i]
UPPER = (*CLAIM_BUCKETS, float("inf"))
# Below, on and between the bounds, and past the last one (+Inf).
OBSERVATIONS = [0.0, 0.000004, 0.00001, 0.000013, 0.00002, 0.0003, 0.0003, 0.009, 0.01, 0.2, 3.0]


def exposition(registry: CollectorRegistry) -> list[str]:
    """The claim-duration lines of a scrape, without `_created` (the creation time, which the
    bulk histogram does not export and no dashboard or alert reads)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if NAME in line and "_created" not in line]


def reference(observations: list[float]) -> list[str]:
    """What the service exported before: a plain Histogram."""
    registry = CollectorRegistry()
    histogram = Histogram(
        NAME,
        "Time to decode, decide and encode one claim.",
        buckets=CLAIM_BUCKETS,
        registry=registry,
    )
    for seconds in observations:
        histogram.observe(seconds)
    return exposition(registry)


def new_metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry, ["r"], ["e"]), registry


def test_nothing_observed_exports_like_an_empty_histogram() -> None:
    _, registry = new_metrics()
    assert exposition(registry) == reference([])


def test_one_at_a_time_exports_like_a_histogram() -> None:
    metrics, registry = new_metrics()
    for seconds in OBSERVATIONS:
        metrics.claim_duration.observe(seconds)
    assert exposition(registry) == reference(OBSERVATIONS)


def test_a_published_batch_exports_like_a_histogram() -> None:
    metrics, registry = new_metrics()
    tally = Tally()
    for seconds in OBSERVATIONS:
        tally.observe_claim(seconds)
    tally.publish(metrics)
    assert exposition(registry) == reference(OBSERVATIONS)


def test_bulk_counts_over_several_batches_export_like_a_histogram() -> None:
    # Binary fractions, so the sum does not depend on how the observations are grouped.
    batches = [[2**-17, 2**-14, 2**-14], [2**-7], [], [2**-20, 4.0, 2**-12]]
    metrics, registry = new_metrics()
    for batch in batches:
        tally = Tally()
        tally.add_claim_durations(
            [sum(1 for s in batch if lo < s <= hi) for lo, hi in zip(LOWER, UPPER, strict=True)],
            sum(batch),
        )
        tally.publish(metrics)
    assert exposition(registry) == reference([s for batch in batches for s in batch])


def test_add_takes_one_non_negative_count_per_bucket() -> None:
    histogram = BulkHistogram("h", "h", (1.0, 2.0), CollectorRegistry())
    with pytest.raises(ValueError, match="2 bucket counts for 3 buckets"):
        histogram.add([1, 1], 1.0)
    with pytest.raises(ValueError, match="only go up"):
        histogram.add([1, -1, 0], 1.0)


def test_the_registry_refuses_a_second_metric_of_the_same_name() -> None:
    registry = CollectorRegistry()
    BulkHistogram(NAME, "h", CLAIM_BUCKETS, registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Histogram(NAME, "h", buckets=CLAIM_BUCKETS, registry=registry)
