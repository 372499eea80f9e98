"""/readyz: ready only with partitions, their history restored, and a loop that commits what it
fetches; fetched records left uncommitted past the transaction timeout mean stuck, whatever the
(stale) lag gauge says."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from consumer.settings import load_settings
from consumer.stream.fetching import NOT_FETCHING_SECONDS, FetchStates
from consumer.stream.service import STALL_SECONDS, Service


@dataclass
class FakePipeline:
    assigned: set[tuple[str, int]] = field(default_factory=lambda: {("claims.submitted", 0)})
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    last_progress: float = field(default_factory=time.time)
    stuck: float = 0.0
    restoring: set[int] = field(default_factory=set)
    fetching: FetchStates = field(default_factory=FetchStates)

    def stuck_for(self) -> float:
        return self.stuck


def _readiness(pipeline: FakePipeline) -> tuple[bool, str]:
    settings = load_settings(processing={"transaction_timeout_ms": 10_000})
    none: Any = None
    return Service(settings, none, none, none, none, pipeline).readiness()  # type: ignore[arg-type]


def test_ready_when_assigned_and_committing() -> None:
    assert _readiness(FakePipeline()) == (True, "ready: 1 partition(s)")


def test_not_ready_without_partitions() -> None:
    assert _readiness(FakePipeline(assigned=set())) == (False, "no partitions assigned")


def test_not_ready_while_fetched_records_wait_past_the_transaction_timeout() -> None:
    # The lag gauge says 0 (its last value before the loop got stuck): not trusted alone.
    ready, why = _readiness(FakePipeline(stuck=11.0))
    assert not ready
    assert why == "stuck: fetched records not committed for 11s"
    assert _readiness(FakePipeline(stuck=9.0))[0]


def test_not_ready_while_a_partition_s_history_is_restored() -> None:
    ready, why = _readiness(FakePipeline(restoring={2, 0}))
    assert (ready, why) == (False, "restoring history of partition(s) [0, 2]")


def test_not_ready_when_nothing_committed_for_long_with_lag() -> None:
    old = time.time() - STALL_SECONDS - 5
    ready, why = _readiness(FakePipeline(lag={("claims.submitted", 0): 10}, last_progress=old))
    assert not ready
    assert why.startswith("stalled: no progress for")


def test_not_ready_while_an_assigned_partition_is_not_fetched_from() -> None:
    # Nothing fetched, so nothing waits and no lag is measured: only the fetch state tells.
    now = [0.0]
    fetching = FetchStates(clock=lambda: now[0])
    fetching.update(("claims.submitted", 3), "offset-query")
    pipeline = FakePipeline(fetching=fetching)
    assert _readiness(pipeline)[0]
    now[0] = NOT_FETCHING_SECONDS + 12
    assert _readiness(pipeline) == (
        False,
        f"not fetching: partition(s) 3 (offset-query) for {NOT_FETCHING_SECONDS + 12:.0f}s",
    )
