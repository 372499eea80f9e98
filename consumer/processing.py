"""One input record → one output record: a decision on accepted/pended, or a dead letter.

Broker-free: it takes anything shaped like a `confluent_kafka.Message`, so unit tests need no
Kafka. Nothing about a record's content can make it raise; only the DLQ ratio guard and
infrastructure failures (e.g. the schema registry down) do. What it decides is counted in its
`tally`, which the pipeline publishes to the metrics only once the batch is committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from consumer.decisions import decision_record, source_of
from consumer.decoding import SchemaRegistryUnavailableError
from consumer.dlq import VALUE_OMITTED, DeadLetterGuard, Headers, dead_letter_headers, fits_dlq
from consumer.engine import ACCEPTED, Engine
from consumer.errors import DecodeError, SchemaError
from consumer.settings import TopicSettings
from consumer.tally import Tally

if TYPE_CHECKING:
    from consumer._native import FastPath

log = logging.getLogger(__name__)

# A bug in a rule must not stop the stream or lose the claim: the record is dead-lettered
# under this class (and logged with its coordinates) so it can be replayed after the fix.
ENGINE_ERROR = "engine_error"


class KafkaRecord(Protocol):
    """The parts of `confluent_kafka.Message` the processor reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...


@dataclass(slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    decision: str | None  # None for a dead letter


# (topic, value, headers) of one output record; an empty topic means "write nothing".
Produced = tuple[str, bytes, Headers]

# value → (claim record, the claim's Avro body when it can be copied into the decision as is)
Decode = Callable[[bytes | None], tuple[dict[str, Any], bytes | None]]
# (decision record, output topic, claim body or None) → value
Encode = Callable[[dict[str, Any], str, bytes | None], bytes]


class ClaimProcessor:
    """Decode, decide, encode; dead-letter what cannot be decoded or decided."""

    # The DLQ topic's max.message.bytes, read at start-up (None: unknown).
    dlq_max_bytes: int | None = None

    def __init__(
        self,
        engine: Engine,
        decode: Decode,
        encode: Encode,
        topics: TopicSettings,
        guard: DeadLetterGuard,
        *,
        keep_dead_letters: bool = True,
        fast: FastPath | None = None,
    ) -> None:
        self.engine = engine
        self.decode = decode
        self.encode = encode
        self.topics = topics
        self.guard = guard
        self.tally = Tally()  # this batch's counts; see consumer.tally
        # False when replaying the DLQ itself: what still cannot be decoded is counted and left
        # in place rather than appended to the same topic again.
        self.keep_dead_letters = keep_dead_letters
        # The compiled hot path (consumer.fastpath), tried first for every record.
        self.fast = fast

    def process_batch(self, records: Sequence[KafkaRecord]) -> list[Produced]:
        """(topic, value, headers) for each record, in order; the key is the record's own.

        The compiled path decides what it can in one call; each record it hands back goes
        through `process`, the reference path, which decides or dead-letters it.
        """
        if self.fast is None:
            return [(out.topic, out.value, out.headers) for out in map(self.process, records)]
        results: list[Produced | None] = self.fast.process(records)
        guard, clean = self.guard, 0
        for index, result in enumerate(results):
            if result is not None:
                clean += 1
                continue
            guard.record_clean(clean)  # the DLQ window sees the records in their order
            clean = 0
            out = self.process(records[index])
            results[index] = (out.topic, out.value, out.headers)
        guard.record_clean(clean)
        counts = self.fast.take_tally()
        self.tally.add_decisions(counts["decisions"])
        self.tally.add_rule_failures(counts["rule_failures"])
        self.tally.add_claim_durations(counts["duration_buckets"], counts["duration_sum"])
        return results  # type: ignore[return-value]  # every None was replaced

    def process(self, msg: KafkaRecord) -> Output:
        started = time.perf_counter()
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        try:
            claim, body = self.decode(msg.value())
        except DecodeError as exc:
            return self._dead_letter(msg, exc.error_class, exc.message, topic, partition, offset)
        try:
            outcome = self.engine.decide(claim)
            record = decision_record(claim, outcome, source=source_of(topic, partition, offset))
            target = self.topics.accepted if outcome.decision == ACCEPTED else self.topics.pended
            value = self.encode(record, target, body)
        except (SchemaRegistryUnavailableError, SchemaError):
            raise  # infrastructure, not the record: retry the batch, or stop
        except Exception as exc:  # a rule or encoder bug; see ENGINE_ERROR
            log.exception(
                "claim could not be decided; dead-lettered",
                extra={"topic": topic, "partition": partition, "offset": offset},
            )
            message = f"{type(exc).__name__} while deciding the claim"
            return self._dead_letter(msg, ENGINE_ERROR, message, topic, partition, offset)
        self.guard.record(False)
        self.tally.add_decision(outcome.decision, claim["line_of_business"], outcome.reasons)
        headers: Headers = [
            ("decision", outcome.decision.encode()),
            ("rule_set_version", outcome.rule_set_version.encode()),
            ("source.topic", topic.encode()),
            ("source.partition", str(partition).encode()),
            ("source.offset", str(offset).encode()),
        ]
        self.tally.observe_claim(time.perf_counter() - started)
        return Output(target, msg.key(), value, headers, outcome.decision)

    def _dead_letter(
        self, msg: KafkaRecord, error_class: str, message: str, topic: str, part: int, offset: int
    ) -> Output:
        self.guard.record(True)  # raises when too many recent records are dead letters
        self.tally.add_dead_letter(error_class)
        log.warning(
            "record dead-lettered",
            extra={"topic": topic, "partition": part, "offset": offset, "error_class": error_class},
        )
        headers = dead_letter_headers(error_class, message, topic, part, offset)
        value = msg.value() or b""
        if error_class == "oversized" and not fits_dlq(len(value), self.dlq_max_bytes):
            # More than the DLQ topic takes: a dead letter that cannot be written stalls the
            # partition (the batch is aborted and re-read forever), so keep its size, not its
            # bytes. The record itself stays at its source coordinates in the input topic.
            headers.append((VALUE_OMITTED, str(len(value)).encode()))
            value = b""
        target = self.topics.dlq if self.keep_dead_letters else ""
        return Output(target, msg.key(), value, headers, None)
