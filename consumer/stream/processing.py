"""A batch of input records → one output record each: a decision on accepted/pended, or a dead
letter.

Broker-free: it takes anything shaped like a `confluent_kafka.Message`, so unit tests need no
Kafka. The compiled engine's `StreamDecider` reads and decides every record it can read where
it lies; each one it hands back is decoded here (`consumer.codec.decoding`), which either yields the
claim - re-encoded in our schema and decided by the same engine - or a dead letter with its
error class. Nothing about a record's content can make this raise; only the DLQ ratio guard
and infrastructure failures (e.g. the schema registry down) do. What it decides is counted in
its `tally`, which the pipeline publishes to the metrics only once the batch is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from consumer import __version__
from consumer._native import Decisions, History, StreamDecider
from consumer.codec.decoding import ERROR_CLASSES
from consumer.codec.encoding import claim_body
from consumer.codec.registry import CONFLUENT_HEADER, decision_prefix
from consumer.codec.wire import Wire
from consumer.engine import Engine
from consumer.errors import DecodeError
from consumer.settings import TopicSettings
from consumer.stream.dlq import DeadLetterGuard, Headers, dead_letter
from consumer.stream.metrics import CLAIM_BUCKETS, Metrics
from consumer.stream.tally import Tally

log = logging.getLogger(__name__)

# A claim the decoder read but the engine could not take (a bug): dead-lettered under this
# class and logged with its coordinates, so it can be replayed after the fix.
ENGINE_ERROR = "engine_error"
# Records the engine decides per call. A call reads its messages with the GIL before deciding
# them without it, and ends at a record only Python can decode; the next call reads on from
# there, so this bounds what such a record makes it read twice. 2,000 a call measured the same
# throughput (ADR 0005).
DECIDE_CHUNK = 256
# Every `dlq.error.class` the service writes (the metric's label values).
DLQ_ERROR_CLASSES = (*sorted(ERROR_CLASSES), ENGINE_ERROR)


class KafkaRecord(Protocol):
    """The parts of `confluent_kafka.Message` the processor reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...


# (topic, value, headers) of one output record; an empty topic means "write nothing".
Produced = tuple[str, bytes, Headers]
# A decision the engine keeps to produce itself (`keep_decisions`): nothing for Python to write.
KEPT: Produced = ("", b"", [])


class Output(NamedTuple):
    """One record's output, with its key (the input record's own)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers

    @property
    def decision(self) -> str | None:
        """ACCEPTED or PENDED; None for a dead letter."""
        found = dict(self.headers).get("decision")
        return found.decode() if isinstance(found, bytes) else found


Decode = Callable[[bytes | None], dict[str, Any]]


def stream_decider(
    engine: Engine,
    topics: TopicSettings,
    *,
    max_value_bytes: int,
    max_lines: int,
    header_len: int = 0,
    reads_raw: bool = True,
    prefixes: tuple[bytes, bytes] = (b"", b""),
    history: History | None = None,
    shadow: Engine | None = None,
    keep_decisions: bool = False,
) -> StreamDecider:
    """The compiled batch decider for these output topics and wire-format prefixes; with a
    `history`, each claim is decided against (and recorded in) its member's history; with a
    `shadow` engine, each claim is also decided by it (see `ClaimProcessor.shadow_records`);
    with `keep_decisions`, the decisions stay in the engine (`ClaimProcessor.take_decisions`)."""
    return StreamDecider(
        engine.native,
        validator_version=__version__,
        accepted_topic=topics.accepted,
        pended_topic=topics.pended,
        max_value_bytes=max_value_bytes,
        max_lines=max_lines,
        duration_bounds=list(CLAIM_BUCKETS),
        header_len=header_len,
        reads_raw=reads_raw,
        accepted_prefix=prefixes[0],
        pended_prefix=prefixes[1],
        history=history,
        shadow=shadow.native if shadow is not None else None,
        keep_decisions=keep_decisions,
    )


def build_processor(
    wire: Wire,
    engine: Engine,
    topics: TopicSettings | None = None,
    *,
    keep_dead_letters: bool = True,
    history: History | None = None,
    shadow: Engine | None = None,
    keep_decisions: bool = False,
) -> ClaimProcessor:
    """A batch processor deciding with `engine` and writing to `topics` (default: the
    settings' topics), reading records as `wire` does. With `confluent` output, the decision
    schema is registered (or found) under each output topic's subject now: SchemaError or
    SchemaRegistryUnavailableError when the registry refuses or cannot be reached."""
    settings = wire.settings
    topics = topics or settings.topics
    processing = settings.processing
    prefixes = (b"", b"")
    if settings.decision_wire_format == "confluent":
        assert wire.registry is not None  # Wire.build checked
        prefixes = (
            decision_prefix(wire.registry, topics.accepted),
            decision_prefix(wire.registry, topics.pended),
        )
    confluent_input = settings.input_wire_format == "confluent"
    decider = stream_decider(
        engine,
        topics,
        max_value_bytes=processing.max_value_bytes,
        max_lines=processing.max_lines,
        header_len=CONFLUENT_HEADER.size if confluent_input else 0,
        # Raw values written with a configured writer schema go through the decoder.
        reads_raw=settings.writer_schema is None,
        prefixes=prefixes,
        history=history,
        shadow=shadow,
        keep_decisions=keep_decisions,
    )
    if confluent_input:
        wire.follow_schema_ids(decider.allow_schema_id)
    guard = DeadLetterGuard(processing.dlq_max_ratio, processing.dlq_window)
    return ClaimProcessor(
        decider,
        wire.decoder.decode,
        topics,
        guard,
        keep_dead_letters=keep_dead_letters,
        history=history,
    )


class ClaimProcessor:
    """Decide what the engine reads where it lies; decode the rest, or dead-letter it."""

    # The DLQ topic's max.message.bytes, read at start-up (None: unknown).
    dlq_max_bytes: int | None = None

    def __init__(
        self,
        decider: StreamDecider,
        decode: Decode,
        topics: TopicSettings,
        guard: DeadLetterGuard,
        *,
        keep_dead_letters: bool = True,
        history: History | None = None,
    ) -> None:
        self.decider = decider
        # The claim history `decider` reads (None: none kept); its batch changes are pending
        # until `committed`.
        self.history = history
        self.decode = decode
        self.topics = topics
        self.guard = guard
        self.tally = Tally()  # this batch's counts; see consumer.stream.tally
        # False when replaying the DLQ itself: what still cannot be decoded is counted and left
        # in place rather than appended to the same topic again.
        self.keep_dead_letters = keep_dead_letters
        # With a shadow rule set: the last batch's disagreements, (input message, JSON value),
        # for the pipeline to write to the shadow topic in the batch's transaction.
        self.shadow_records: list[tuple[KafkaRecord, bytes]] = []

    def process_batch(self, records: Sequence[KafkaRecord]) -> list[Produced]:
        """(topic, value, headers) for each record, in order; the key is the record's own. A
        re-sent event gets an empty topic: nothing is written for it, and neither is it for a
        decision the engine keeps (`keep_decisions`: see `take_decisions`)."""
        self.decider.take_decisions()  # what an abandoned batch left
        results: list[Produced] = []
        start, count = 0, len(records)
        while start < count:
            end = min(start + DECIDE_CHUNK, count)
            decided, stop = self.decider.process(records, start, end)
            self.guard.record_clean(len(decided))  # the DLQ window sees the records in order
            for index, result in enumerate(decided, start):
                results.append(KEPT if result is True else result or self._resent(records[index]))
            if stop < end:  # a record the engine cannot read where it lies
                results.append(self._decode_and_decide(records[stop]))
                stop += 1
            start = stop
        counts = self.decider.take_tally()
        self.tally.add_decisions(counts["decisions"])
        self.tally.add_rule_failures(counts["rule_failures"])
        self.tally.add_claim_durations(counts["duration_buckets"], counts["duration_sum"])
        self.tally.add_resent(counts["resent"])
        if "shadow" in counts:
            self.tally.add_shadow(counts["shadow"])
            self.shadow_records = self.decider.take_shadow()
        return results

    def take_decisions(self) -> Decisions:
        """The decisions of the last batch that the engine kept (`keep_decisions`), in input
        order, to be produced in its transaction; none without it."""
        return self.decider.take_decisions()

    def seal(self) -> Tally:
        """The batch is produced and its transaction commits: its history changes are sealed
        (the next batch, decided meanwhile, changes a layer above them) and its counts handed
        over, to be published by `committed` or dropped."""
        if self.history is not None:
            self.history.seal()
        tally, self.tally = self.tally, Tally()
        return tally

    def committed(self, metrics: Metrics, tally: Tally) -> None:
        """The sealed batch's transaction committed: its history changes and `tally` stand."""
        if self.history is not None:
            self.history.commit_sealed()
        tally.publish(metrics)

    def abandoned(self) -> None:
        """The batch was not committed (it will be read and decided again), nor the one
        decided on top of it: forget their history changes, counts and shadow records."""
        if self.history is not None:
            self.history.abort()
        self.decider.take_decisions()
        self.tally.clear()
        self.shadow_records = []

    def process(self, msg: KafkaRecord) -> Output:
        """One record (see `process_batch`)."""
        topic, value, headers = self.process_batch([msg])[0]
        return Output(topic, msg.key(), value, headers)

    def _decode_and_decide(self, msg: KafkaRecord) -> Produced:
        where = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        try:
            claim = self.decode(msg.value())
        except DecodeError as exc:
            return self._dead_letter(msg, exc.error_class, exc.message, *where)
        try:
            produced: Produced | bool = self.decider.decide_body(msg, claim_body(claim))
        except ValueError as exc:
            log.exception(
                "claim could not be decided; dead-lettered",
                extra={"topic": where[0], "partition": where[1], "offset": where[2]},
            )
            message = f"{type(exc).__name__} while deciding the claim"
            return self._dead_letter(msg, ENGINE_ERROR, message, *where)
        self.guard.record(False)
        if produced is False:
            return self._resent(msg)
        return KEPT if produced is True else produced

    def _resent(self, msg: KafkaRecord) -> Produced:
        """An event decided before: the first decision stands, nothing is written."""
        log.info(
            "re-sent event skipped: decided before",
            extra={"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()},
        )
        return ("", b"", [])

    def _dead_letter(
        self, msg: KafkaRecord, error_class: str, message: str, topic: str, part: int, offset: int
    ) -> Produced:
        self.guard.record(True)  # raises when too many recent records are dead letters
        self.tally.add_dead_letter(error_class)
        log.warning(
            "record dead-lettered",
            extra={"topic": topic, "partition": part, "offset": offset, "error_class": error_class},
        )
        where = topic, part, offset
        value, headers = dead_letter(
            msg.value() or b"", error_class, message, where, self.dlq_max_bytes
        )
        return (self.topics.dlq if self.keep_dead_letters else "", value, headers)
