"""A batch of consumed records on its way to a commit, and a commit in flight."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import Message

from consumer._native import batch_offsets
from consumer.stream.tally import Tally
from consumer.stream.txn import BoundedProducer, Job

Key = tuple[str, int]


@dataclass(eq=False, slots=True)
class Batch:
    """Consumed records on their way to a commit."""

    records: list[Message]
    first: dict[Key, int]  # each partition's first offset in the batch
    nxt: dict[Key, int]  # each partition's offset to commit (past the batch)
    started: float  # perf_counter when it was consumed
    fetched: float  # monotonic, the same moment (for `stuck_for`)
    tally: Tally = field(default_factory=Tally)  # its claim metrics, once produced

    @classmethod
    def of(cls, records: list[Message]) -> Batch:
        """The batch of `records` (consumed just now)."""
        first, nxt = batch_offsets(records)
        return cls(records, first, nxt, time.perf_counter(), time.monotonic())


@dataclass(eq=False, slots=True)
class InFlight:
    """A batch whose commit runs on its producer's worker."""

    batch: Batch
    producer: BoundedProducer
    job: Job
