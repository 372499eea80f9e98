"""Peak and steady-state RSS of one validator over a long run (SPEC §9: flat, ≤ 300 MB).

The long input is the benchmark's claims repeated with fresh `event_id`s and `claim_id`s
(patched into the Avro bytes: both are the first two fields), so every record is a new claim
and any cache keyed by content would show as growth.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.apps import AppRun, Workload, run_app
from bench.cluster import produce_values, read_values

MAX_RSS_MB = 300.0
# "Flat": the RSS at the end is within this much of the RSS at 25 % of the run.
FLAT_TOLERANCE = 0.05


def _varint(n: int) -> bytes:
    z, out = (n << 1) ^ (n >> 63), bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _read_string(buf: bytes, p: int) -> tuple[bytes, int]:
    z, shift = 0, 0
    while True:
        b = buf[p]
        p += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    n = (z >> 1) ^ -(z & 1)
    return buf[p : p + n], p + n


def with_new_ids(value: bytes, suffix: bytes) -> bytes:
    """The claim in `value` (raw Avro) with `suffix` appended to its event_id and claim_id."""
    event_id, p = _read_string(value, 0)
    claim_id, p = _read_string(value, p)
    event_id, claim_id = event_id + suffix, claim_id + suffix
    return _varint(len(event_id)) + event_id + _varint(len(claim_id)) + claim_id + value[p:]


def _copies(items: list[tuple[bytes | None, bytes]], total: int) -> Iterator[tuple[Any, bytes]]:
    made = 0
    for copy in range(total // max(len(items), 1) + 1):
        suffix = f"-r{copy}".encode()
        for key, value in items:
            if made == total:
                return
            yield key, (value if copy == 0 else with_new_ids(value, suffix))
            made += 1


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
        items = read_values(w.bootstrap, w.input_topic, w.total)
        produce_values(w.bootstrap, topic, _copies(items, claims))
        long_run = Workload(**{**w.__dict__, "input_topic": topic, "total": claims})
        run = run_app(long_run, "validator")
    finally:
        w.cluster.delete([topic])
    samples = run.result.samples
    rss_at = {}
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        sample = next((s for s in samples if s.committed >= share * claims), samples[-1])
        rss_at[f"{share:.0%}"] = sample.rss_mb
    return MemoryResult(claims, run.result.peak_rss_mb, rss_at, rss_at["100%"] - rss_at["25%"], run)
