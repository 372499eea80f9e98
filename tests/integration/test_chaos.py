"""SPEC §10 chaos, small: kill -9s at random points and a broker hard restart during one paced
run, then exactly one decision per event on the right topic, equal to the offline decisions.
The full run (200k claims, ≥ 10 kills) is `make chaos`; see tests/integration/chaos.py."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.local.kafka import LocalKafka
from tests.integration.chaos import Plan, run_chaos
from tests.integration.streaming import make_topics


def test_kills_and_a_broker_restart_during_one_paced_run_keep_exactly_once(
    local_kafka: LocalKafka | None, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    if local_kafka is None:
        pytest.fail("the broker is external (KAFKA_BOOTSTRAP_SERVERS): it cannot be restarted")
    topics = make_topics(topic_factory, 3)
    # Paced to last ~40 s: every event happens while input still flows, so each is timed.
    plan = Plan(claims=6000, rate=150, kills=3, broker_restarts=1, batch_size=100)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    report = run_chaos(local_kafka, topics, plan, log_dir, random.Random(16))
    print("\n" + report.describe())
    assert report.verdict is not None
    assert report.verdict.ok, report.describe()
    assert len(report.kills) == plan.kills
    assert report.processes == plan.kills + 1
    for restart in report.broker_restarts:
        assert restart.recovery_seconds is not None, report.describe()
        assert restart.recovery_seconds <= 30, report.describe()
