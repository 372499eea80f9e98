"""Kafka record value bytes -> ClaimSubmitted record (the record form of `consumer.records.claims`).

Two wire formats (SPEC §2.2): `raw`, a schemaless Avro body written with our schema or a
configured writer schema, and `confluent`, magic byte 0 + 4-byte big-endian schema id + Avro
body, the writer schema fetched from a Schema Registry by id and cached.

A value that cannot become a claim raises DecodeError; its `error_class` is one of
`ERROR_CLASSES` (a metric label and DLQ header, so the set is closed):

- `empty_value`         the value is empty or null (a tombstone)
- `oversized`           the value is larger than `DecodeLimits.max_value_bytes` (not decoded)
- `bad_magic_byte`      confluent: the first byte is not 0
- `truncated`           the body (or the 5-byte confluent header) ends early
- `unknown_schema_id`   confluent: the registry does not know the schema id
- `unsupported_schema`  confluent: the registered schema is not Avro or does not parse
- `incompatible_schema` the writer schema cannot be read as ClaimSubmitted
- `not_avro`            the body does not decode (bad varint, union or enum index, UTF-8), or
                        bytes are left over after the record
- `value_out_of_range`  a date, timestamp or decimal is outside what the type can hold
- `no_lines`, `too_many_lines`  the claim has no service line, or more than
                        `DecodeLimits.max_lines` (default 50, the 837P limit)

Schema-valid oddities (NaN units, a year-9999 date, an empty member id) are not decode
errors: the claim decodes and the rules pend it. A registry that cannot be reached is not a
property of the record: that raises SchemaRegistryUnavailableError, which is *not* a
DecodeError - retry or stop, never dead-letter.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro.read import SchemaResolutionError

from consumer.codec.avrocodec import compile_decoder
from consumer.codec.registry import CONFLUENT_HEADER, writer_schema
from consumer.errors import DecodeError
from consumer.records.schemas import ParsedSchema, canonical_form, claim_schema, load_schema_file

Record = dict[str, Any]
WireFormat = Literal["raw", "confluent"]

ERROR_CLASSES = frozenset(
    [
        "empty_value",
        "oversized",
        "bad_magic_byte",
        "truncated",
        "unknown_schema_id",
        "unsupported_schema",
        "incompatible_schema",
        "not_avro",
        "value_out_of_range",
        "no_lines",
        "too_many_lines",
    ]
)


@dataclass(frozen=True)
class DecodeLimits:
    """Structural limits checked on every record."""

    max_value_bytes: int = 1 << 20
    max_lines: int = 50


class ClaimDecoder(Protocol):
    def decode(self, value: bytes | None) -> Record:
        """The claim record in `value`; raises DecodeError (or, confluent only,
        SchemaRegistryUnavailableError)."""
        ...


BodyReader = Callable[[bytes, int], Record]


def body_reader(writer: ParsedSchema, reader: ParsedSchema, limits: DecodeLimits) -> BodyReader:
    """A function (value, start) -> claim record that reads the Avro body from `start` to the
    end of `value`, written with `writer`, as `reader`, and applies `limits` to the lines."""
    same = canonical_form(writer) == canonical_form(reader)
    # Same canonical form = same bytes: the compiled reader decodes them. Otherwise fastavro
    # resolves writer against reader (slower, but only for producers on another version).
    compiled = _compiled(reader) if same else None
    slow_reader = None if same else reader
    max_lines = limits.max_lines

    def read(value: bytes, start: int) -> Record:
        record: Record
        try:
            if compiled is not None:
                record, end = compiled(value, start)
            else:
                record, end = _read_with_fastavro(value, start, writer, slow_reader)
        except DecodeError:
            raise
        except (IndexError, EOFError, struct.error):
            raise DecodeError("truncated", "the Avro body ends before the record does") from None
        except SchemaResolutionError as exc:
            raise DecodeError("incompatible_schema", f"writer schema: {exc}") from None
        except UnicodeDecodeError:
            raise DecodeError("not_avro", "a string is not valid UTF-8") from None
        except OverflowError as exc:
            raise DecodeError("value_out_of_range", str(exc)) from None
        except Exception as exc:  # fastavro raises a variety of types on garbage
            raise DecodeError("not_avro", f"{type(exc).__name__}: {exc}") from None
        if end != len(value):
            raise DecodeError("not_avro", f"{len(value) - end} bytes left after the record")
        count = len(record["lines"])
        if count == 0:
            raise DecodeError("no_lines", "the claim has no service line")
        if count > max_lines:
            raise DecodeError("too_many_lines", f"{count} service lines, limit {max_lines}")
        return record

    return read


_COMPILED: dict[int, tuple[ParsedSchema, Any]] = {}


def _compiled(reader: ParsedSchema) -> Any:
    # Keyed by identity (the entry keeps the schema alive, so the id is not reused): parsed
    # schemas are cached singletons, each compiled once. None = out of the codec's scope.
    key = id(reader)
    if key not in _COMPILED:
        _COMPILED[key] = (reader, compile_decoder(reader))
    return _COMPILED[key][1]


def _read_with_fastavro(
    value: bytes, start: int, writer: ParsedSchema, reader: ParsedSchema | None
) -> tuple[Record, int]:
    fo = io.BytesIO(value)
    fo.seek(start)
    record = fastavro.schemaless_reader(fo, writer, reader)
    if not isinstance(record, dict):
        raise DecodeError("incompatible_schema", "the writer schema is not a record")
    return record, fo.tell()


def _check_size(value: bytes | None, limits: DecodeLimits) -> bytes:
    if not value:
        raise DecodeError("empty_value", "the record value is empty")
    if len(value) > limits.max_value_bytes:
        raise DecodeError(
            "oversized", f"value of {len(value)} bytes exceeds {limits.max_value_bytes}"
        )
    return value


class RawClaimDecoder:
    """Decodes schemaless Avro bodies written with `writer_schema` (default: ours)."""

    def __init__(
        self,
        writer_schema: ParsedSchema | None = None,
        *,
        reader_schema: ParsedSchema | None = None,
        limits: DecodeLimits = DecodeLimits(),
    ) -> None:
        reader = reader_schema if reader_schema is not None else claim_schema()
        writer = writer_schema if writer_schema is not None else reader
        self._limits = limits
        self._read = body_reader(writer, reader, limits)

    def decode(self, value: bytes | None) -> Record:
        """The claim in `value`; raises DecodeError."""
        return self._read(_check_size(value, self._limits), 0)


class ConfluentClaimDecoder:
    """Decodes Confluent-framed values; writer schemas come from `registry`, parsed once per
    id. Ids the registry does not know are remembered for `unknown_id_ttl` seconds so a
    stream of garbage does not become a stream of registry requests.

    `on_our_schema`, when set, is called with each schema id whose writer schema is ours
    (same canonical form): the compiled engine reads such values where they lie, so after the
    first one it needs no Python decoding.
    """

    def __init__(
        self,
        registry: SchemaRegistryClient,
        *,
        reader_schema: ParsedSchema | None = None,
        limits: DecodeLimits = DecodeLimits(),
        unknown_id_ttl: float = 300.0,
    ) -> None:
        self._registry = registry
        self._reader_schema = reader_schema if reader_schema is not None else claim_schema()
        self._limits = limits
        self._unknown_id_ttl = unknown_id_ttl
        self._readers: dict[int, BodyReader] = {}
        self._failed: dict[int, tuple[float, DecodeError]] = {}
        self.on_our_schema: Callable[[int], None] | None = None

    def decode(self, value: bytes | None) -> Record:
        """The claim in `value`; raises DecodeError or SchemaRegistryUnavailableError."""
        value = _check_size(value, self._limits)
        if value[0] != 0:
            raise DecodeError("bad_magic_byte", f"first byte is {value[0]}, expected 0")
        if len(value) < CONFLUENT_HEADER.size:
            raise DecodeError("truncated", "shorter than the 5-byte Confluent header")
        schema_id = CONFLUENT_HEADER.unpack_from(value)[1]
        read = self._readers.get(schema_id) or self._reader_for(schema_id)
        return read(value, CONFLUENT_HEADER.size)

    def _reader_for(self, schema_id: int) -> BodyReader:
        failed = self._failed.get(schema_id)
        if failed is not None and failed[0] > time.monotonic():
            raise failed[1]
        try:
            writer = writer_schema(self._registry, schema_id)
        except DecodeError as exc:
            if len(self._failed) >= 10_000:  # bounded: random ids must not grow memory
                self._failed.clear()
            self._failed[schema_id] = (time.monotonic() + self._unknown_id_ttl, exc)
            raise
        read = self._readers[schema_id] = body_reader(writer, self._reader_schema, self._limits)
        if self.on_our_schema is not None and canonical_form(writer) == canonical_form(
            claim_schema()
        ):
            self.on_our_schema(schema_id)
        return read


def make_claim_decoder(
    wire_format: WireFormat,
    *,
    registry: SchemaRegistryClient | None = None,
    writer_schema_path: str | Path | None = None,
    limits: DecodeLimits = DecodeLimits(),
) -> ClaimDecoder:
    """The decoder for `wire_format`: `raw` reads bodies written with the schema file at
    `writer_schema_path` (default: ours), `confluent` needs `registry`.

    Raises SchemaError for a bad writer schema file, ValueError for a missing registry.
    """
    if wire_format == "raw":
        writer = load_schema_file(writer_schema_path) if writer_schema_path else None
        return RawClaimDecoder(writer, limits=limits)
    if registry is None:
        raise ValueError("the confluent wire format needs a Schema Registry client")
    return ConfluentClaimDecoder(registry, limits=limits)
