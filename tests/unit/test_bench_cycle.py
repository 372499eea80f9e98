"""The bench's reading of the validator's loop over a latency run: `bench.probe.loop_steps_of`
from /metrics, `bench.latency.loop_cycle` between two scrapes, `bench.report.cycle_table`."""

from __future__ import annotations

import math

import pytest

from bench.latency import loop_cycle
from bench.probe import loop_steps_of
from bench.report import cycle_table

METRICS = """\
# HELP infusion_validator_loop_step_seconds Time the Kafka loop's thread spent on each batch
# TYPE infusion_validator_loop_step_seconds histogram
infusion_validator_loop_step_seconds_bucket{step="consume",le="0.01"} 3.0
infusion_validator_loop_step_seconds_count{step="consume"} 12.0
infusion_validator_loop_step_seconds_sum{step="consume"} 0.5
infusion_validator_loop_step_seconds_count{step="decide"} 10.0
infusion_validator_loop_step_seconds_sum{step="decide"} 0.25
infusion_validator_loop_step_seconds_count{step="commit_wait"} 10.0
infusion_validator_loop_step_seconds_sum{step="commit_wait"} 0.125
infusion_validator_transaction_step_seconds_sum{step="commit"} 9.0
infusion_validator_history_members{partition="0"} 5.0
"""


def test_the_loop_steps_are_read_by_step_and_nothing_else() -> None:
    assert loop_steps_of(METRICS) == {
        "consume": (0.5, 12.0),
        "decide": (0.25, 10.0),
        "commit_wait": (0.125, 10.0),
    }
    assert loop_steps_of("") == {}


def test_the_cycle_is_per_batch_decided_between_the_two_scrapes() -> None:
    before = loop_steps_of(METRICS)
    # Two seconds later: 40 batches more, decided in 400 ms, 48 consume() calls (8 of them
    # empty) that took 480 ms, 40 commits waited for, 200 ms.
    after = {"consume": (0.98, 60.0), "decide": (0.65, 50.0), "commit_wait": (0.325, 50.0)}
    cycle = loop_cycle(before, after, 2.0)
    assert cycle["batches_per_s"] == pytest.approx(20.0)
    # Per batch decided, not per call: the empty consume() calls belong to the cycle too.
    assert cycle["consume_ms"] == pytest.approx(12.0)
    assert cycle["decide_ms"] == pytest.approx(10.0)
    assert cycle["commit_wait_ms"] == pytest.approx(5.0)


def test_an_app_without_the_metric_has_no_cycle() -> None:
    assert loop_cycle({}, {}, 2.0) == {}
    idle = loop_cycle(loop_steps_of(METRICS), loop_steps_of(METRICS), 2.0)
    assert idle["batches_per_s"] == 0
    assert math.isnan(idle["decide_ms"])


def test_the_cycle_table_shows_the_validator_rows_only() -> None:
    validator = {
        "rate": 10_000.0, "app": "validator", "batches_per_s": 50.0, "batch_claims": 200.0,
        "consume_ms": 11.0, "decide_ms": 1.5, "commit_wait_ms": 6.0,
    }  # fmt: skip
    passthrough = {"rate": 10_000.0, "app": "passthrough", "decide_ms": math.nan}
    older_build = {**validator, "rate": 2_000.0, "decide_ms": math.nan}
    lines = cycle_table([passthrough, older_build, validator]).splitlines()
    assert len(lines) == 3  # the header, its rule, one row
    assert lines[2].split() == ["10,000", "50.0", "200", "11.0", "1.5", "6.0", "20.0"]
    assert cycle_table([passthrough]) == ""
