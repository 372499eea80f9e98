"""The local broker standing still during a latency run: its JVM's safepoints (GC pauses and
every other stop-the-world operation), read from the log `consumer.local.kafka` has each node
write (`SAFEPOINT_LOG`, one line per safepoint, stamped with the wall clock when it ended).

A claim whose way through the pipeline spans a long stop waited through it, whatever the app
did: when such claims are more than 1 % of a run, the run's p99 is the broker's, not the
app's. That is the measurement in the same run that a "floor" needs (issue 17)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# `[1796647201212ms] Safepoint "Cleanup", Time since last: …, Total: 38895 ns`
_LINE = re.compile(rb"^\[(\d+)ms\] Safepoint .*Total: (\d+) ns")
# A stop this long or longer is counted as one a claim waited through: a p99 target of 50 ms
# cannot absorb many of them.
LONG_MS = 20.0


@dataclass(frozen=True)
class Stop:
    start_ms: float  # wall clock, ms
    end_ms: float

    @property
    def ms(self) -> float:
        return self.end_ms - self.start_ms


def read_stops(path: Path, start_ms: float, end_ms: float) -> list[Stop]:
    """The safepoints that ended within [start_ms, end_ms], in order (none without the log)."""
    if not path.is_file():
        return []
    stops = []
    for line in path.read_bytes().splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        end, total_ns = float(match[1]), int(match[2])
        if start_ms <= end <= end_ms:
            stops.append(Stop(end - total_ns / 1e6, end))
    return stops


@dataclass(frozen=True)
class StopSummary:
    long_stops: int  # stops of LONG_MS or more
    max_ms: float  # the longest stop (0 without any)
    stopped_share: float  # the window's wall time the broker spent stopped, all stops
    claims_share: float  # counted claims (CreateTime to arrival) spanning a long stop

    def as_fields(self) -> dict[str, float]:
        return {
            "broker_long_stops": self.long_stops, "broker_stop_max_ms": self.max_ms,
            "broker_stopped_pct": 100 * self.stopped_share,
            "claims_in_stop_pct": 100 * self.claims_share,
        }  # fmt: skip


def summarise(
    stops: Sequence[Stop], window_ms: float, claims: Sequence[tuple[float, float]]
) -> StopSummary:
    """`claims`: (CreateTime, arrival) of each counted claim, in ms of the same clock."""
    long = sorted((s for s in stops if s.ms >= LONG_MS), key=lambda s: s.end_ms)
    ends = [s.end_ms for s in long]

    def spans_a_long_stop(created: float, arrived: float) -> bool:
        # Stops do not overlap, so the first one ending after `created` starts first too.
        i = bisect.bisect_left(ends, created)
        return i < len(long) and long[i].start_ms <= arrived

    spanning = sum(1 for created, arrived in claims if spans_a_long_stop(created, arrived))
    return StopSummary(
        long_stops=len(long),
        max_ms=max((s.ms for s in stops), default=0.0),
        stopped_share=sum(s.ms for s in stops) / window_ms if window_ms > 0 else 0.0,
        claims_share=spanning / len(claims) if claims else 0.0,
    )
