"""The bench's reading of the local broker's safepoint log (`bench.stops`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.stops import Stop, read_stops, summarise

LOG = b"""\
[1000ms] Safepoint "Cleanup", Time since last: 1000118374 ns, Reaching safepoint: 13813 ns, \
Cleanup: 33459 ns, At safepoint: 4232 ns, Total: 51504 ns
[2000ms] Safepoint "G1CollectForAllocation", Time since last: 999000000 ns, Reaching \
safepoint: 245541 ns, At safepoint: 60000000 ns, Total: 60245541 ns
[2500ms] some other line of the JVM's
[3000ms] Safepoint "Cleanup", Time since last: 1000000000 ns, Total: 1000000 ns
"""


def test_stops_are_read_with_their_start_and_end_within_the_window(tmp_path: Path) -> None:
    log = tmp_path / "safepoint.log"
    log.write_bytes(LOG)
    stops = read_stops(log, 1500, 3000)
    assert [s.end_ms for s in stops] == [2000, 3000]
    assert stops[0].ms == pytest.approx(60.245541)
    assert stops[0].start_ms == pytest.approx(2000 - 60.245541)
    assert read_stops(tmp_path / "absent.log", 0, 10_000) == []


def test_a_claim_waited_through_a_long_stop_when_its_way_spans_it() -> None:
    stops = [Stop(1000, 1001), Stop(1940, 2000), Stop(2900, 2901)]  # one long: 60 ms at 1940
    claims = [
        (1900.0, 1950.0),  # arrived during it
        (1950.0, 2100.0),  # created during it
        (1800.0, 2200.0),  # spans it
        (2000.5, 2100.0),  # after it
        (1500.0, 1939.0),  # before it
        (950.0, 1005.0),  # spans a short stop only
    ]
    summary = summarise(stops, 2000.0, claims)
    assert summary.long_stops == 1
    assert summary.max_ms == 60
    assert summary.stopped_share == pytest.approx(62 / 2000)
    assert summary.claims_share == pytest.approx(3 / 6)
    assert summarise([], 1000.0, []).as_fields() == {
        "broker_long_stops": 0, "broker_stop_max_ms": 0.0, "broker_stopped_pct": 0.0,
        "claims_in_stop_pct": 0.0,
    }  # fmt: skip
