"""A batch's claim counts: per claim or in bulk, published to the metrics at once, or dropped."""

from __future__ import annotations

from bisect import bisect_left

import pytest
from prometheus_client import CollectorRegistry

from consumer.stream.metrics import CLAIM_BUCKETS, Metrics
from consumer.stream.tally import Tally

DECISIONS = "infusion_validator_decisions_total"
RULE_FAILURES = "infusion_validator_rule_failures_total"
DEAD_LETTERS = "infusion_validator_dlq_records_total"
CLAIM_DURATION = "infusion_validator_claim_duration_seconds"
INF = len(CLAIM_BUCKETS)  # index of the +Inf bucket


def reason(rule_id: str, carc: str | None) -> dict[str, object]:
    return {"rule_id": rule_id, "carc": carc, "rarc": None, "line_number": 1}


def new_metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry, ["pos.not-home", "units.invalid"], ["not_avro"]), registry


def test_per_claim_adders() -> None:
    tally = Tally()
    tally.add_decision("ACCEPTED", "MEDICAID", [])
    tally.add_decision("PENDED", "MEDICAID", [reason("pos.not-home", "58")] * 2)
    tally.add_decision("PENDED", "MEDICAID", [reason("units.invalid", "16"), reason("info", None)])
    tally.add_dead_letter("not_avro")
    tally.add_dead_letter("not_avro")
    observed = (0.0, CLAIM_BUCKETS[0], 0.000011, CLAIM_BUCKETS[-1], 0.5)
    for seconds in observed:
        tally.observe_claim(seconds)

    assert tally.decisions == {("ACCEPTED", "MEDICAID"): 1, ("PENDED", "MEDICAID"): 2}
    assert tally.rule_failures == {"pos.not-home": 2, "units.invalid": 1}  # no CARC: not counted
    assert tally.dead_letters == {"not_avro": 2}
    # `le` buckets: a value on a bound falls in that bound's bucket.
    expected = [0] * (INF + 1)
    expected[0], expected[INF - 1], expected[INF] = 2, 1, 1
    expected[bisect_left(CLAIM_BUCKETS, 0.000011)] += 1
    assert tally.claim_buckets == expected
    assert tally.claim_seconds == pytest.approx(sum(observed))


def test_bulk_adders_add_to_what_was_counted_per_claim() -> None:
    tally = Tally()
    tally.add_decision("PENDED", "COMMERCIAL", [reason("pos.not-home", "58")])
    tally.observe_claim(0.00003)
    tally.add_decisions({("PENDED", "COMMERCIAL"): 4, ("ACCEPTED", "MEDICARE_ADVANTAGE"): 10})
    tally.add_rule_failures({"pos.not-home": 3, "units.invalid": 7})
    bulk = list(range(INF + 1))
    tally.add_claim_durations(bulk, 1.25)

    assert tally.decisions == {("PENDED", "COMMERCIAL"): 5, ("ACCEPTED", "MEDICARE_ADVANTAGE"): 10}
    assert tally.rule_failures == {"pos.not-home": 4, "units.invalid": 7}
    at = bisect_left(CLAIM_BUCKETS, 0.00003)
    assert tally.claim_buckets == [n + (i == at) for i, n in enumerate(bulk)]
    assert tally.claim_seconds == pytest.approx(1.25003)


def test_bulk_durations_need_one_count_per_bucket_and_inf() -> None:
    with pytest.raises(ValueError, match="bucket counts"):
        Tally().add_claim_durations([1] * len(CLAIM_BUCKETS), 0.1)  # no +Inf


def test_publish_adds_everything_to_the_metrics_then_starts_over() -> None:
    metrics, registry = new_metrics()
    tally = Tally()
    tally.add_decisions({("PENDED", "MEDICAID"): 2})
    tally.add_rule_failures({"pos.not-home": 2})
    tally.add_dead_letter("not_avro")
    tally.add_claim_durations([1] + [0] * (INF - 1) + [1], 0.75)

    tally.publish(metrics)
    tally.publish(metrics)  # nothing left to add

    value = registry.get_sample_value
    assert value(DECISIONS, {"decision": "PENDED", "line_of_business": "MEDICAID"}) == 2
    assert value(RULE_FAILURES, {"rule_id": "pos.not-home"}) == 2
    assert value(DEAD_LETTERS, {"error_class": "not_avro"}) == 1
    assert value(f"{CLAIM_DURATION}_count") == 2
    assert value(f"{CLAIM_DURATION}_sum") == 0.75
    assert value(f"{CLAIM_DURATION}_bucket", {"le": "1e-05"}) == 1
    assert value(f"{CLAIM_DURATION}_bucket", {"le": "0.01"}) == 1
    assert value(f"{CLAIM_DURATION}_bucket", {"le": "+Inf"}) == 2
    assert tally.decisions == tally.rule_failures == tally.dead_letters == {}
    assert not any(tally.claim_buckets)
    assert tally.claim_seconds == 0


def test_clear_drops_the_batch() -> None:
    metrics, registry = new_metrics()
    tally = Tally()
    tally.add_decision("ACCEPTED", "MEDICAID", [])
    tally.add_rule_failures({"units.invalid": 1})
    tally.add_dead_letter("not_avro")
    tally.observe_claim(0.001)
    tally.clear()
    tally.add_decision("PENDED", "MEDICAID", [])
    tally.publish(metrics)

    value = registry.get_sample_value
    assert value(DECISIONS, {"decision": "ACCEPTED", "line_of_business": "MEDICAID"}) == 0
    assert value(DECISIONS, {"decision": "PENDED", "line_of_business": "MEDICAID"}) == 1
    assert value(RULE_FAILURES, {"rule_id": "units.invalid"}) == 0
    assert value(DEAD_LETTERS, {"error_class": "not_avro"}) == 0
    assert value(f"{CLAIM_DURATION}_count") == 0
