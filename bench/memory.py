"""Peak and steady-state RSS of one stateless validator over a long run (SPEC §9: flat,
≤ 300 MB over 2M claims).

The long input is the benchmark's claims repeated with fresh `event_id`s and `claim_id`s
(`bench.inputs.Copies`), so every record is a new claim and any cache keyed by content would
show as growth. History is switched off for this run: it is the stateless figure, and with
history on the repeated members would pile up claims that never age out (every copy has the
same dates of service), which is not what a real stream does. RSS with a claim history is
measured by `bench.history` (1M members).
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.apps import AppRun, Workload, run_app, with_settings
from bench.cluster import produce_values, read_values
from bench.inputs import Copies
from bench.measure import Sample

MAX_RSS_MB = 300.0
# "Flat": the RSS at the end is within this much of the RSS at 25 % of the run.
FLAT_TOLERANCE = 0.05
# The RSS at a point of the run: the median of the samples (every 0.1 s) within this share of
# the claims either side of it. A single sample missed a leak's trend as easily as it caught a
# dip: in run 20261207T233744Z the 25 % sample read 130 MB between 138 at 10 % and 139 at
# 50 %, and an RSS at 138 from 10 % to the end counted as growing 8.1 MB.
MARK_WINDOW = 0.025
STATELESS = {"INFUSION_VALIDATOR_HISTORY__ENABLED": "false"}


@dataclass
class MemoryResult:
    claims: int
    peak_rss_mb: float
    rss_at: dict[str, float]  # progress ("25%") -> RSS in MiB
    growth_mb: float  # end - 25 %
    run: AppRun

    @property
    def flat(self) -> bool:
        base = self.rss_at.get("25%", 0.0)
        return self.growth_mb <= max(FLAT_TOLERANCE * base, 8.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "claims": self.claims,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "rss_at_mb": {k: round(v, 1) for k, v in self.rss_at.items()},
            "growth_mb": round(self.growth_mb, 1),
            "flat": self.flat,
            "rate": round(self.run.result.rate, 1),
            "ok": self.run.ok,
        }


def measure_memory(w: Workload, claims: int) -> MemoryResult:
    topic = f"bench.rss-{uuid.uuid4().hex[:6]}.input"
    w.cluster.create({topic: w.partitions})
    try:
        copies = Copies(read_values(w.bootstrap, w.input_topic, w.total), claims)
        produce_values(w.bootstrap, topic, copies)
        long_run = Workload(
            **{**w.__dict__, "input_topic": topic, "total": claims, "resent": copies.resent}
        )
        run = run_app(with_settings(long_run, STATELESS), "validator")
    finally:
        w.cluster.delete([topic])
    rss_at = rss_marks(run.result.samples, claims)
    return MemoryResult(claims, run.result.peak_rss_mb, rss_at, rss_at["100%"] - rss_at["25%"], run)


def rss_marks(samples: Sequence[Sample], claims: int) -> dict[str, float]:
    """RSS at 10, 25, 50, 75 and 100 % of the claims committed: the median of the samples
    within MARK_WINDOW of each mark (the last ones for 100 %), or the first sample past the
    mark when none falls within."""
    out = {}
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        low, high = (share - MARK_WINDOW) * claims, (share + MARK_WINDOW) * claims
        near = [s.rss_mb for s in samples if low <= s.committed <= high]
        past = next((s for s in samples if s.committed >= share * claims), samples[-1])
        out[f"{share:.0%}"] = statistics.median(near) if near else past.rss_mb
    return out
