"""The benchmark's input topics and the byte-level edits that make more claims out of them.

One input topic per line count (`--lines`), produced once by the product's own producer and
sample generator and read by every consumer under test. The sample stream carries re-sent
events (about 3 %): a validator keeping claim history writes no second decision for them, so
the number of decisions to expect depends on whether history is on (`Input.resent`, which
counts only the re-sent events still inside the history's retention: `Resends`).

Longer or repeated inputs (the RSS run, the paced latency runs, the history changelog) are the
same Avro bodies with fresh ids patched in: every record is then a new event and a new claim,
so neither the history nor a cache keyed by content sees a repeat.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.cluster import Cluster, produce_sample
from consumer.settings import Settings

Item = tuple[bytes | None, bytes]  # (key, value) as read from a topic


@dataclass(frozen=True)
class Input:
    topic: str
    total: int  # records
    lines: int  # service lines per claim
    resent: int  # records whose event id came earlier in the topic (re-sent events)


def produce_input(
    cluster: Cluster,
    topic: str,
    claims: int,
    seed: int,
    lines: int,
    partitions: int,
    retention_days: int,
) -> Input:
    """Create `topic` and fill it with `claims` sample claims of `lines` lines; the validators
    keep `retention_days` of history (`Input.resent` depends on it)."""
    cluster.create({topic: partitions})
    resends = Resends(partitions, retention_days)
    produce_sample(cluster.bootstrap, topic, claims, seed, lines, wrap=resends.note)
    return Input(topic, claims, lines, resends.count)


def history_retention_days(validator_env: Mapping[str, str]) -> int:
    """The history retention the validators run with: the default, or the `--env` setting it."""
    value = validator_env.get("INFUSION_VALIDATOR_HISTORY__RETENTION_DAYS")
    return int(value) if value else Settings().history.retention_days


@dataclass
class Resends:
    """Counts the re-sent events that a validator keeping `retention_days` of history writes no
    decision for: an event id already decided on its partition, whose claim has not
    left the partition's history. A claim leaves once its last date of service is more than
    `retention_days` before the newest one seen on the partition (SPEC §3.1). Short inputs
    never get there; in the 2M-claim input of seed 2026 each member's claims span more than a
    year, and 374 of its 15,674 re-sent events come after their claim left: decided again."""

    partitions: int
    retention_days: int
    count: int = 0
    _last_day: list[dict[str, int]] = field(init=False)  # per partition: event id -> last day
    _newest: list[int] = field(init=False)  # per partition: the newest last day of service

    def __post_init__(self) -> None:
        self._last_day = [{} for _ in range(self.partitions)]
        self._newest = [0] * self.partitions

    def note(self, claim: dict[str, Any]) -> dict[str, Any]:
        # librdkafka's default partitioner for a keyed record: CRC-32 of the key.
        partition = zlib.crc32(claim["member_id"].encode()) % self.partitions
        decided, newest = self._last_day[partition], self._newest[partition]
        last = max(
            (
                date.fromisoformat(line.get("service_date_to") or line["service_date_from"])
                for line in claim["lines"]
            ),
            default=date.min,
        ).toordinal()
        earlier = decided.get(claim["event_id"])
        if earlier is not None and earlier >= newest - self.retention_days:
            self.count += 1
        decided[claim["event_id"]] = last
        self._newest[partition] = max(newest, last)
        return claim


def varint(n: int) -> bytes:
    """Avro's zig-zag varint."""
    z, out = (n << 1) ^ (n >> 63), bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _read_long(buf: bytes, p: int) -> tuple[int, int]:
    z, shift = 0, 0
    while True:
        b = buf[p]
        p += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            return (z >> 1) ^ -(z & 1), p
        shift += 7


def _read_string(buf: bytes, p: int) -> tuple[bytes, int]:
    n, p = _read_long(buf, p)
    return buf[p : p + n], p + n


def _string(value: bytes) -> bytes:
    return varint(len(value)) + value


def with_new_ids(value: bytes, suffix: bytes) -> bytes:
    """The claim in `value` (raw Avro, our ClaimSubmitted) with `suffix` appended to its
    event_id and claim_id, its first two fields."""
    event_id, p = _read_string(value, 0)
    claim_id, p = _read_string(value, p)
    return _string(event_id + suffix) + _string(claim_id + suffix) + value[p:]


def with_member(value: bytes, event_id: bytes, claim_id: bytes, member_id: bytes) -> bytes:
    """The claim with these ids. The fields before member_id, in the schema's order: event_id,
    claim_id, frequency (enum), payer_claim_number (union null|string), submitted_at (long),
    line_of_business (enum), contract_id (union null|string)."""
    _, p = _read_string(value, 0)
    _, p = _read_string(value, p)
    middle = p
    _, p = _read_long(value, p)  # frequency
    branch, p = _read_long(value, p)
    if branch == 1:
        _, p = _read_string(value, p)
    _, p = _read_long(value, p)  # submitted_at
    _, p = _read_long(value, p)  # line_of_business
    branch, p = _read_long(value, p)
    if branch == 1:
        _, p = _read_string(value, p)
    before_member = p
    _, p = _read_string(value, p)
    head = _string(event_id) + _string(claim_id) + value[middle:before_member]
    return head + _string(member_id) + value[p:]


@dataclass
class Copies:
    """`total` records out of `items`, each copy after the first with fresh ids; counts the
    re-sent events it hands out (a copy re-sends what the original re-sent)."""

    items: list[Item]
    total: int
    resent: int = 0

    def __iter__(self) -> Iterator[Item]:
        made = 0
        for copy in range(self.total // max(len(self.items), 1) + 1):
            suffix = f"-r{copy}".encode()
            seen: set[bytes] = set()
            for key, value in self.items:
                if made == self.total:
                    return
                event_id, _ = _read_string(value, 0)
                if event_id in seen:
                    self.resent += 1
                seen.add(event_id)
                yield key, (value if copy == 0 else with_new_ids(value, suffix))
                made += 1
