"""Offline validation: claims from a JSON Lines or Avro container file, decisions as JSON Lines.

For analysts and tests: the same engine as the Kafka service, no broker. A claim that cannot be
read is reported on stderr with its line number and the other claims still get decided.

JSON Lines go through the compiled path (`consumer._native.FastPath.validate_json`) a chunk
at a time; each line it hands back - anything but a plainly written claim - is read and
decided here in Python, which also words the error of a line that is not a claim.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import fastavro
import orjson

from consumer._native import FastPath
from consumer.claims import claim_from_json, decision_to_json
from consumer.decisions import decision_json_line, decision_record
from consumer.engine import Engine
from consumer.errors import ClaimFormatError, InfusionValidatorError
from consumer.schemas import claim_schema

AVRO_CONTAINER_MAGIC = b"Obj\x01"
MAX_LINES = 50  # the 837P limit, as the Kafka decoder enforces (processing.max_lines)
CHUNK = 2048  # JSON lines per call into the compiled path


@dataclass
class Summary:
    """What a validation run did, for the closing line on stderr."""

    decisions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    seconds: float = 0.0

    @property
    def claims(self) -> int:
        return sum(self.decisions.values())

    def describe(self) -> str:
        rate = self.claims / self.seconds if self.seconds > 0 else 0.0
        parts = [f"{self.claims} claims decided"]
        parts += [f"{n} {d.lower()}" for d, n in sorted(self.decisions.items())]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable")
        return ", ".join(parts) + f" in {self.seconds:.2f}s ({rate:,.0f} claims/s)"


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 (closed below; open errors reported first)
    except OSError as exc:
        raise InfusionValidatorError(f"{path}: cannot open: {exc.strerror}") from exc
    with handle:
        yield handle


Read = tuple[int, dict[str, Any] | ClaimFormatError, bytes | None]


def read_claims(handle: IO[bytes]) -> Iterator[Read]:
    """(position, claim record or the reason it could not be read, the claim's JSON text) for
    each claim in the input.

    Position is the 1-based line number in JSON Lines, the record number in an Avro file (which
    has no JSON text).
    """
    head = handle.peek(4)[:4] if hasattr(handle, "peek") else b""
    if head == AVRO_CONTAINER_MAGIC:
        # The file's own writer schema is resolved against ours, so older files still read.
        for number, record in enumerate(fastavro.reader(handle, claim_schema()), start=1):
            yield number, record, None  # type: ignore[misc]
        return
    for number, raw in enumerate(handle, start=1):
        if raw.strip():
            yield read_line(number, raw)


def read_line(number: int, raw: bytes) -> Read:
    """One JSON Lines claim (see `read_claims`)."""
    try:
        return number, claim_from_json(orjson.loads(raw), MAX_LINES), raw.strip()
    except orjson.JSONDecodeError as exc:
        return number, ClaimFormatError(f"not valid JSON: {exc}"), None
    except ClaimFormatError as exc:
        return number, exc, None


def validate(
    path: str, engine: Engine, out: IO[bytes], err: IO[str], fast: FastPath | None = None
) -> Summary:
    """Decide every claim in `path`, writing one JSON decision per line to `out`; JSON Lines
    through `fast` (the compiled path for `engine`) when given."""
    summary = Summary()
    started = time.perf_counter()
    with open_input(path) as handle:
        head = handle.peek(4)[:4] if hasattr(handle, "peek") else b""
        if fast is None or head == AVRO_CONTAINER_MAGIC:
            for read in read_claims(handle):
                _decide(read, path, engine, out, err, summary)
        else:
            chunk: list[tuple[int, bytes]] = []
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    chunk.append((number, raw))
                if len(chunk) == CHUNK:
                    _decide_chunk(chunk, fast, path, engine, out, err, summary)
                    chunk = []
            _decide_chunk(chunk, fast, path, engine, out, err, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _decide_chunk(
    chunk: list[tuple[int, bytes]],
    fast: FastPath,
    path: str,
    engine: Engine,
    out: IO[bytes],
    err: IO[str],
    summary: Summary,
) -> None:
    lines = fast.validate_json([raw for _, raw in chunk])
    for (number, raw), line in zip(chunk, lines, strict=True):
        if line is None:
            _decide(read_line(number, raw), path, engine, out, err, summary)
        else:
            out.write(line)
    counts = fast.take_tally()
    for (decision, _lob), n in counts["decisions"].items():
        summary.decisions[decision] += n
    summary.reasons.update(counts["rule_failures"])


def _decide(
    read: Read, path: str, engine: Engine, out: IO[bytes], err: IO[str], summary: Summary
) -> None:
    number, claim, text = read
    if isinstance(claim, ClaimFormatError):
        summary.unreadable += 1
        print(f"{path}:{number}: skipped: {claim}", file=err)
        return
    outcome = engine.decide(claim)
    if text is not None:
        out.write(decision_json_line(claim, outcome, text))
    else:
        record = decision_record(claim, outcome)
        out.write(orjson.dumps(decision_to_json(record), option=orjson.OPT_APPEND_NEWLINE))
    summary.decisions[outcome.decision] += 1
    summary.reasons.update(r["rule_id"] for r in outcome.reasons if r["carc"])
