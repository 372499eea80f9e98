"""Dead letters (SPEC §2.4): records that cannot be decoded keep their original bytes and say why.

The record goes to the DLQ topic in the same transaction as the batch's decisions, so a dead
letter is written exactly once too. The ratio guard stops the service loudly when most recent
records are dead letters — after a bad deploy or a schema mix-up, stopping beats draining a
whole topic into the DLQ.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import UTC, datetime

from consumer.errors import InfusionValidatorError

Headers = list[tuple[str, str | bytes | None]]  # the type confluent-kafka takes

# Header names, kept short and namespaced like Kafka Streams' `__streams.errors.*`.
ERROR_CLASS = "dlq.error.class"
ERROR_MESSAGE = "dlq.error.message"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
FAILED_AT = "dlq.failed.at"
# On an `oversized` dead letter the DLQ topic cannot hold, instead of the value: its size.
VALUE_OMITTED = "dlq.value.omitted.bytes"
MAX_MESSAGE_BYTES = 512
# Room for the key, the headers and the record-batch framing around a dead letter's value.
RECORD_OVERHEAD_BYTES = 4096


def fits_dlq(value_bytes: int, dlq_max_bytes: int | None) -> bool:
    """Whether a dead letter with a value this large fits the DLQ topic's `max.message.bytes`
    (None: unknown, so no)."""
    return dlq_max_bytes is not None and value_bytes + RECORD_OVERHEAD_BYTES <= dlq_max_bytes


def dead_letter(
    value: bytes, error_class: str, message: str, where: tuple[str, int, int], max_bytes: int | None
) -> tuple[bytes, Headers]:
    """A dead letter's value and headers. An oversized value larger than the DLQ topic takes
    (`max_bytes`) is left out, its size in a header: a dead letter that cannot be written
    stalls the partition (the batch is aborted and re-read forever), and the record itself stays
    at its source coordinates in the input topic."""
    headers = dead_letter_headers(error_class, message, *where)
    if error_class == "oversized" and not fits_dlq(len(value), max_bytes):
        headers.append((VALUE_OMITTED, str(len(value)).encode()))
        value = b""
    return value, headers


def dead_letter_headers(
    error_class: str, message: str, topic: str, partition: int, offset: int
) -> Headers:
    """Headers for a dead letter: what went wrong and where the record came from (no PHI: the
    message describes the structure, never field values)."""
    return [
        (ERROR_CLASS, error_class.encode()),
        (ERROR_MESSAGE, message.encode("utf-8", "replace")[:MAX_MESSAGE_BYTES]),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
        (FAILED_AT, datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
    ]


class DeadLetterRatioError(InfusionValidatorError):
    """Too many recent records went to the DLQ; the service stops without committing them."""


class DeadLetterGuard:
    """Tracks the share of dead letters among the last `window` records."""

    def __init__(self, max_ratio: float, window: int) -> None:
        self.max_ratio = max_ratio
        self.window = window
        self._recent: deque[bool] = deque(maxlen=window)
        self._dead = 0

    def record(self, dead: bool) -> None:
        """Count one record; raise DeadLetterRatioError when the window is full and over."""
        if len(self._recent) == self.window and self._recent[0]:
            self._dead -= 1
        self._recent.append(dead)
        self._dead += dead
        if len(self._recent) == self.window and self._dead > self.max_ratio * self.window:
            raise DeadLetterRatioError(
                f"{self._dead} of the last {self.window} records could not be decoded "
                f"(limit {self.max_ratio:.0%}); stopping without committing them. Check the "
                "producer's schema and wire format, then restart (the records will be re-read)."
            )

    def record_clean(self, count: int) -> None:
        """Count `count` records that were decided (no dead letter): `record(False)` each, in
        C loops instead of Python ones - the compiled fast path decides whole runs at once."""
        drop = min(len(self._recent), max(0, len(self._recent) + count - self.window))
        if drop:
            self._dead -= sum(itertools.islice(self._recent, drop))
        self._recent.extend(itertools.repeat(False, count))

    @property
    def ratio(self) -> float:
        return self._dead / len(self._recent) if self._recent else 0.0
