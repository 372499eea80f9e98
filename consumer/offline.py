"""Offline validation: claims from a JSON Lines or Avro container file, decisions as JSON Lines.

For analysts and tests: the same engine as the Kafka service, no broker. A claim that cannot be
read is reported on stderr with its line number and the other claims still get decided.
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

from consumer.claims import claim_from_json, decision_to_json
from consumer.decisions import decision_json_line, decision_record
from consumer.engine import Engine
from consumer.errors import ClaimFormatError, InfusionValidatorError
from consumer.schemas import claim_schema

AVRO_CONTAINER_MAGIC = b"Obj\x01"
MAX_LINES = 50  # the 837P limit, as the Kafka decoder enforces (processing.max_lines)


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
        if not raw.strip():
            continue
        try:
            yield number, claim_from_json(orjson.loads(raw), MAX_LINES), raw.strip()
        except orjson.JSONDecodeError as exc:
            yield number, ClaimFormatError(f"not valid JSON: {exc}"), None
        except ClaimFormatError as exc:
            yield number, exc, None


def validate(path: str, engine: Engine, out: IO[bytes], err: IO[str]) -> Summary:
    """Decide every claim in `path`, writing one JSON decision per line to `out`."""
    summary = Summary()
    started = time.perf_counter()
    with open_input(path) as handle:
        for number, claim, text in read_claims(handle):
            if isinstance(claim, ClaimFormatError):
                summary.unreadable += 1
                print(f"{path}:{number}: skipped: {claim}", file=err)
                continue
            outcome = engine.decide(claim)
            if text is not None:
                out.write(decision_json_line(claim, outcome, text))
            else:
                record = decision_record(claim, outcome)
                out.write(orjson.dumps(decision_to_json(record), option=orjson.OPT_APPEND_NEWLINE))
            summary.decisions[outcome.decision] += 1
            summary.reasons.update(r["rule_id"] for r in outcome.reasons if r["carc"])
    summary.seconds = time.perf_counter() - started
    return summary
