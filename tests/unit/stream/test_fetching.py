"""An assigned partition librdkafka does not fetch from is reported - a gauge, one log line and
/readyz - once it has been out of the `active` fetch state for over a minute; the statistics
of partitions not assigned here, and a replay's paused partitions, are not."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from consumer.stream.callbacks import Callbacks
from consumer.stream.fetching import (
    NOT_FETCHING_SECONDS,
    RESTART_SECONDS,
    FetchStates,
    NotFetching,
)
from consumer.stream.metrics import Metrics

TOPIC = "claims.submitted"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_out_of_active_past_the_threshold_is_stalled_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    states = FetchStates(clock=clock)
    states.update((TOPIC, 1), "offset-query")
    clock.now += NOT_FETCHING_SECONDS  # not over it yet
    states.update((TOPIC, 1), "offset-query")
    assert states.stalled() == []
    caplog.set_level(logging.INFO)
    clock.now += 5
    states.update((TOPIC, 1), "offset-wait")  # the first time seen counts, whatever the state
    states.update((TOPIC, 1), "offset-wait")
    assert states.stalled() == [NotFetching(1, "offset-wait", NOT_FETCHING_SECONDS + 5)]
    warned = [r for r in caplog.records if r.getMessage() == "partition not fetched from"]
    assert len(warned) == 1
    assert (warned[0].__dict__["partition"], warned[0].__dict__["fetch_state"]) == (
        1,
        "offset-wait",
    )
    states.update((TOPIC, 1), "active")
    assert states.stalled() == []
    assert "partition fetched from again" in caplog.messages


def test_a_partition_back_in_active_or_revoked_starts_over() -> None:
    clock = Clock()
    states = FetchStates(clock=clock)
    states.update((TOPIC, 0), "stopped")
    clock.now += 40
    states.update((TOPIC, 0), "active")
    states.update((TOPIC, 0), "stopped")
    states.update((TOPIC, 2), "stopped")
    clock.now += 40
    states.forget((TOPIC, 2))
    assert states.stalled() == []  # 40 s each since it left active


def test_a_restart_is_due_past_its_wait_and_again_only_after_as_long_again() -> None:
    clock = Clock()
    states = FetchStates(clock=clock)
    assert states.restart_due() == []
    states.update((TOPIC, 0), "stopped")
    states.update((TOPIC, 1), "active")
    clock.now += RESTART_SECONDS
    assert states.restart_due() == []  # not over it yet
    clock.now += 1
    assert states.restart_due() == [NotFetching(0, "stopped", RESTART_SECONDS + 1)]
    states.restarted([(TOPIC, 0), (TOPIC, 1)])
    clock.now += RESTART_SECONDS
    states.update((TOPIC, 0), "stopped")
    assert states.restart_due() == []  # restarted too recently
    clock.now += 1
    assert [d.partition for d in states.restart_due()] == [0]
    # The time out of `active` runs on across restarts: reported at the usual threshold.
    states.restarted([(TOPIC, 0)])
    clock.now += NOT_FETCHING_SECONDS - 2 * RESTART_SECONDS
    assert states.stalled() == [NotFetching(0, "stopped", NOT_FETCHING_SECONDS + 2)]
    states.update((TOPIC, 0), "active")
    assert states.restart_due() == []
    states.update((TOPIC, 0), "offset-query")
    clock.now += RESTART_SECONDS + 1
    assert [d.partition for d in states.restart_due()] == [0]  # a new stall starts over


@dataclass
class FakeProducer:
    def __len__(self) -> int:
        return 0


@dataclass
class Loop(Callbacks):
    """The parts of the Pipeline the statistics callback uses."""

    metrics: Metrics
    assigned: set[tuple[str, int]]
    fetching: FetchStates
    bounds: object | None = None
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    producer: Any = field(default_factory=FakeProducer)


def _stats(partitions: dict[int, tuple[str, int, int]]) -> str:
    """librdkafka's statistics JSON: partition -> (fetch state, last stable offset, position)."""
    parts = {
        str(p): {"fetch_state": state, "ls_offset": end, "app_offset": position}
        for p, (state, end, position) in partitions.items()
    }
    return orjson.dumps({"topics": {TOPIC: {"partitions": parts}}}).decode()


def _gauge(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(f"infusion_validator_{name}")


@pytest.mark.parametrize("bounded", [False, True])
def test_the_statistics_report_assigned_partitions_not_fetched_from(bounded: bool) -> None:
    registry = CollectorRegistry()
    clock = Clock()
    loop = Loop(
        Metrics(registry, ["r"], ["e"]),
        {(TOPIC, 0), (TOPIC, 1)},
        FetchStates(clock=clock),
        bounds=object() if bounded else None,
    )
    # Partition 2 is another member's (librdkafka lists it as "none"); -1 is its internal one.
    stats = _stats({0: ("active", 100, 40), 1: ("offset-query", -1, -1), 2: ("none", -1, -1)})
    loop._on_stats(stats)
    clock.now += NOT_FETCHING_SECONDS + 1
    loop._on_stats(stats.replace('"2"', '"-1"'))
    assert loop.lag == {(TOPIC, 0): 60}
    if bounded:  # a replay pauses the partitions it has finished: not a stall
        assert loop.fetching.stalled() == []
        assert _gauge(registry, "partitions_not_fetching") == 0
    else:
        assert loop.fetching.stalled() == [NotFetching(1, "offset-query", NOT_FETCHING_SECONDS + 1)]
        assert _gauge(registry, "partitions_not_fetching") == 1
