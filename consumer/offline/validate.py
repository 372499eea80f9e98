"""Offline validation: claims from a JSON Lines or Avro container file, decisions as JSON Lines.

For analysts and tests: the same engine as the Kafka service, no broker. A claim that cannot be
read is reported on stderr with its line number and the other claims still get decided. The
file is one stream in file order: each claim is decided against the member's history of the
claims before it (SPEC §3.1), which may start from a file of prior claims (`--history`); a
re-sent event gets no second decision line.

JSON Lines go to the engine's `OfflineDecider` a block at a time, which reads plainly written
claims itself; each line it hands back is read here (`consumer.records.claims`), which turns
any other spelling the JSON form allows into the claim - decided by the same engine - or words
what is wrong with the line. Claims from an Avro container file are decided the same way.
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

from consumer import __version__
from consumer._native import History, OfflineDecider
from consumer.codec.encoding import claim_body
from consumer.engine import Engine
from consumer.errors import ClaimFormatError, InfusionValidatorError
from consumer.records.claims import claim_from_json, claim_to_json
from consumer.records.schemas import claim_schema

AVRO_CONTAINER_MAGIC = b"Obj\x01"
MAX_LINES = 50  # the 837P limit, as the Kafka decoder enforces (processing.max_lines)
BLOCK = 1 << 20  # bytes of JSON Lines per call into the engine


@dataclass
class Summary:
    """What a validation run did, for the closing line on stderr."""

    decisions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    resent: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def claims(self) -> int:
        return sum(self.decisions.values())

    def describe(self) -> str:
        rate = self.claims / self.seconds if self.seconds > 0 else 0.0
        per_cpu = self.claims / self.cpu_seconds if self.cpu_seconds > 0 else 0.0
        parts = [f"{self.claims} claims decided"]
        parts += [f"{n} {d.lower()}" for d, n in sorted(self.decisions.items())]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable")
        if self.resent:
            parts.append(f"{self.resent} re-sent events skipped")
        return (
            ", ".join(parts)
            + f" in {self.seconds:.2f}s ({rate:,.0f} claims/s, {per_cpu:,.0f} per CPU-second)"
        )


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


def decider(
    engine: Engine, history: History | None = None, max_lines: int = MAX_LINES
) -> OfflineDecider:
    """The engine's decider for one file as one stream (with `history`: against the claims
    before each one; `History(retention_days)`)."""
    return OfflineDecider(
        engine.native, validator_version=__version__, max_lines=max_lines, history=history
    )


def validate(
    path: str,
    engine: Engine,
    out: IO[bytes],
    err: IO[str],
    *,
    history: History | None = None,
    record_only: bool = False,
) -> Summary:
    """Decide every claim in `path`, writing one JSON decision per line to `out`. With
    `record_only`, only record the claims in `history` (prior claims): no decision lines."""
    summary = Summary()
    offline = decider(engine, history)
    started, cpu_started = time.perf_counter(), time.process_time()
    with open_input(path) as handle:
        head = handle.peek(4)[:4] if hasattr(handle, "peek") else b""
        if head == AVRO_CONTAINER_MAGIC:
            for read in read_claims(handle):
                _decide(read, path, offline, out, err, summary, record_only)
        else:
            _decide_json_lines(handle, path, offline, out, err, summary, record_only)
    counts = offline.take_tally()
    for (decision, _lob), n in counts["decisions"].items():
        summary.decisions[decision] += n
    summary.reasons.update(counts["rule_failures"])
    summary.resent = counts["resent"]
    summary.seconds = time.perf_counter() - started
    summary.cpu_seconds = time.process_time() - cpu_started
    return summary


def _decide_json_lines(
    handle: IO[bytes],
    path: str,
    offline: OfflineDecider,
    out: IO[bytes],
    err: IO[str],
    summary: Summary,
    record_only: bool,
) -> None:
    """A block of whole lines at a time to the engine, which decides every line it reads
    itself and stops at one it does not; that line is read here, then the engine goes on."""
    number, tail = 0, b""  # lines done; a line cut at the block's end
    while True:
        data = handle.read(BLOCK)
        text = tail + data
        cut = text.rfind(b"\n") + 1 if data else len(text)
        text, tail = text[:cut], text[cut:]
        position = 0
        while position < len(text):
            decided, lines, position = offline.decide_text(text, position, record_only)
            out.write(decided)
            number += lines
            if position < len(text):
                end = text.find(b"\n", position) + 1 or len(text)
                number += 1
                read = read_line(number, text[position:end])
                _decide(read, path, offline, out, err, summary, record_only)
                position = end
        if not data:
            return


def _decide(
    read: Read,
    path: str,
    offline: OfflineDecider,
    out: IO[bytes],
    err: IO[str],
    summary: Summary,
    record_only: bool,
) -> None:
    number, claim, text = read
    if isinstance(claim, ClaimFormatError):
        summary.unreadable += 1
        print(f"{path}:{number}: skipped: {claim}", file=err)
        return
    if text is None:  # from an Avro file: the claim in its JSON form
        text = orjson.dumps(claim_to_json(claim))
    out.write(offline.decide_body(claim_body(claim), text, record_only))
