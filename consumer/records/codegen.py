"""Shared parts of the generated code: runtime helpers, the source builder, type lookup."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from consumer.errors import DecodeError

Record = dict[str, Any]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
SMALL = [bytes([z]) for z in range(128)]  # one-byte varints
# The value of each one-byte varint (byte < 128): a table look-up instead of the zigzag ops.
ZIGZAG = tuple((b >> 1) ^ -(b & 1) for b in range(128))
MISSING: Any = object()
# Decoded dates and decimals repeat from record to record (days of service, charges), so the
# decoder keeps the objects it made (immutable, so shared safely) up to this many per cache;
# a full cache is emptied and refilled, so memory stays bounded whatever the input.
CACHE_SIZE = 8192


class Unsupported(Exception):  # noqa: N818 - a signal to fall back to fastavro, not an error
    """The schema uses a feature the compiled codec does not implement."""


def _fail(error_class: str, message: str) -> Any:
    raise DecodeError(error_class, message)


def write_long(z: int, bits: int) -> bytes:
    """Varint of the zigzag value `z`, checking that the integer fits in `bits` bits."""
    if not 0 <= z < 1 << bits:
        raise ValueError(f"integer out of range for a {bits}-bit Avro number")
    if z < 16384:  # two bytes (one-byte values come from SMALL): string lengths, offsets
        return bytes(((z & 0x7F) | 0x80, z >> 7)) if z >= 0x80 else SMALL[z]
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _decimal_bytes(v: Decimal, precision: int, scale: int) -> bytes:
    unscaled = v.scaleb(scale)
    n = int(unscaled)
    if n != unscaled:
        raise ValueError(f"decimal {v} has more than {scale} decimal places")
    if abs(n) >= 10**precision:
        raise ValueError(f"decimal {v} has more than {precision} digits")
    body = n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)
    return write_long(len(body) << 1, 64) + body


def date_reader(cache: dict[int, date]) -> Any:
    """days since the epoch -> date, remembered in `cache`; DecodeError when out of range."""

    def read(days: int) -> date:
        try:
            value = date.fromordinal(days + EPOCH_ORDINAL)
        except (ValueError, OverflowError):
            _fail("value_out_of_range", "date " + str(days) + " days")
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[days] = value
        return value

    return read


def decimal_reader(cache: dict[bytes, Decimal], precision: int, scale: int) -> Any:
    """two's complement big-endian unscaled bytes -> Decimal, remembered in `cache`;
    DecodeError when the value has more digits than `precision`."""
    limit = 10**precision

    def read(raw: bytes) -> Decimal:
        unscaled = int.from_bytes(raw, "big", signed=True)
        if not -limit < unscaled < limit:
            _fail("value_out_of_range", "decimal beyond its precision")
        value = Decimal(unscaled).scaleb(-scale)
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[raw] = value
        return value

    return read


def _timestamp(v: datetime, per_second: int) -> int:
    # Decisions made in the same millisecond share one `decided_at` object
    # (`consumer.decisions`): convert it once.
    last = _LAST_TIMESTAMP[0]  # one tuple: a consistent snapshot even across threads
    if v is last[0] and per_second == last[1]:
        return last[2]
    delta = (v if v.tzinfo is not None else v.replace(tzinfo=UTC)) - EPOCH
    result = (delta.days * 86400 + delta.seconds) * per_second + delta.microseconds // (
        1_000_000 // per_second
    )
    _LAST_TIMESTAMP[0] = (v, per_second, result)
    return result


_LAST_TIMESTAMP: list[tuple[Any, int, int]] = [(None, 0, 0)]


_RUNTIME: dict[str, Any] = {
    "_fail": _fail,
    "_wlong": write_long,
    "_SMALL": SMALL,
    "_ZZ": ZIGZAG,
    "_unpack_d": struct.Struct("<d").unpack_from,
    "_unpack_f": struct.Struct("<f").unpack_from,
    "_pack_d": struct.Struct("<d").pack,
    "_pack_f": struct.Struct("<f").pack,
    "_ordinal": date.fromordinal,
    "_td": timedelta,
    "_EPOCH": EPOCH,
    "_D": Decimal,
    "_from_bytes": int.from_bytes,
    "_wdec": _decimal_bytes,
    "_ts": _timestamp,
}


class Source:
    """Python source being generated, plus the constants it refers to by name."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.functions: list[str] = []
        self.consts: dict[str, Any] = dict(_RUNTIME)
        self.records: dict[str, str] = {}  # full name -> generated function name
        self.named: dict[str, Any] = {}  # full name -> schema
        self.counter = 0

    def var(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.var("_k")
        self.consts[name] = value
        return name

    def shared(self, name: str, make: Any) -> str:
        """A constant every generated function shares under `name`, made once by `make()`."""
        if name not in self.consts:
            self.consts[name] = make()
        return name

    def build(self, root: str) -> Any:
        source = "\n\n".join(self.functions)
        namespace = dict(self.consts)
        # The source is produced above from our own templates; every schema-derived string
        # enters it as a repr() literal or through `namespace`, never as code.
        exec(compile(source, f"<avro {self.prefix} {root}>", "exec"), namespace)  # noqa: S102
        return namespace[self.records[root]]


def resolve(src: Source, schema: Any) -> Any:
    """The definition of `schema` when it names a type seen before; records definitions."""
    if isinstance(schema, str) and schema in src.named:
        return src.named[schema]
    if isinstance(schema, dict) and "name" in schema and schema.get("type") != "fixed":
        src.named[schema["name"]] = schema
    return schema


def type_of(schema: Any) -> tuple[str, str | None]:
    """(Avro type, supported logical type or None); Unsupported for other logical types."""
    if isinstance(schema, list):
        return "union", None
    if isinstance(schema, str):
        return schema, None
    logical = schema.get("logicalType")
    known = {"date", "timestamp-millis", "timestamp-micros", "decimal"}
    if logical in known:
        expected = {"date": "int", "decimal": "bytes"}.get(logical, "long")
        if schema["type"] == expected:
            return schema["type"], logical
    if logical is not None:
        raise Unsupported(f"logical type {logical} on {schema['type']}")
    return str(schema["type"]), None
