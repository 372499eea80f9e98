"""Generates the decoder: one function per record type, every field unrolled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumer.records.codegen import (
    Record,
    Source,
    Unsupported,
    date_reader,
    decimal_reader,
    resolve,
    type_of,
)

Decoder = Callable[[bytes, int], tuple[Record, int]]


def _d_long(out: list[str], ind: str, target: str, bits: int = 64) -> None:
    # Most numbers are one byte; dates take 3 and timestamps 6, so the first three bytes are
    # unrolled and only longer numbers loop (a helper call returning a tuple costs more).
    out += [
        f"{ind}b = buf[p]",
        f"{ind}if b < 128:",
        f"{ind}    {target} = _ZZ[b]",
        f"{ind}    p += 1",
        f"{ind}else:",
        f"{ind}    b1 = buf[p + 1]",
        f"{ind}    if b1 < 128:",
        f"{ind}        z = (b & 127) | (b1 << 7)",
        f"{ind}        p += 2",
        f"{ind}    else:",
        f"{ind}        b2 = buf[p + 2]",
        f"{ind}        z = (b & 127) | ((b1 & 127) << 7) | ((b2 & 127) << 14)",
        f"{ind}        p += 3",
        f"{ind}        if b2 >= 128:",
        f"{ind}            s = 21",
        f"{ind}            while True:",
        f"{ind}                b = buf[p]",
        f"{ind}                p += 1",
        f"{ind}                z |= (b & 127) << s",
        f"{ind}                if b < 128:",
        f"{ind}                    break",
        f"{ind}                s += 7",
        f"{ind}                if s > 63:",
        f"{ind}                    _fail('not_avro', 'varint longer than 10 bytes')",
        f"{ind}    {target} = (z >> 1) ^ -(z & 1)",
    ]
    if bits == 32:
        out += [f"{ind}    if not -2147483648 <= {target} <= 2147483647:"]
        out += [f"{ind}        _fail('not_avro', 'int out of 32-bit range')"]


def _d_sized(out: list[str], ind: str, target: str, what: str, decode: bool) -> None:
    _d_long(out, ind, "n")
    out += [
        f"{ind}e = p + n",
        f"{ind}if n < 0 or e > end:",
        f"{ind}    _fail('truncated' if n >= 0 else 'not_avro', {what!r} + ' length ' + str(n))",
        f"{ind}{target} = buf[p:e]{'.decode()' if decode else ''}",
        f"{ind}p = e",
    ]


def _d_value(src: Source, out: list[str], ind: str, schema: Any, target: str) -> None:
    schema = resolve(src, schema)
    kind, logical = type_of(schema)
    if kind == "null":
        out.append(f"{ind}{target} = None")
    elif kind == "boolean":
        out += [f"{ind}{target} = buf[p]", f"{ind}p += 1", f"{ind}if {target} > 1:"]
        out += [f"{ind}    _fail('not_avro', 'boolean byte')", f"{ind}{target} = {target} == 1"]
    elif kind in ("int", "long"):
        _d_long(out, ind, target, 32 if kind == "int" else 64)
        if logical == "date":
            cache = src.shared("_dates", dict)
            read = src.shared("_read_date", lambda: date_reader(src.consts[cache]))
            out += [f"{ind}d = {cache}.get({target})"]
            out += [f"{ind}{target} = {read}({target}) if d is None else d"]
        elif logical is not None:
            # timedelta(days, seconds, microseconds, milliseconds): positional is faster.
            args = "0, 0, 0, " if logical == "timestamp-millis" else "0, 0, "
            out += [f"{ind}try:", f"{ind}    {target} = _EPOCH + _td({args}{target})"]
            out += [f"{ind}except OverflowError:"]
            out += [f"{ind}    _fail('value_out_of_range', 'timestamp ' + str({target}))"]
    elif kind in ("float", "double"):
        size, fn = (8, "_unpack_d") if kind == "double" else (4, "_unpack_f")
        out += [f"{ind}{target} = {fn}(buf, p)[0]", f"{ind}p += {size}"]
    elif kind == "string":
        _d_sized(out, ind, target, "string", decode=True)
    elif kind == "bytes":
        _d_sized(out, ind, target, "bytes", decode=False)
        if logical == "decimal":
            precision, scale = schema["precision"], schema.get("scale", 0)
            cache = src.shared(f"_decimals_{precision}_{scale}", dict)
            read = src.shared(
                f"_read_decimal_{precision}_{scale}",
                lambda: decimal_reader(src.consts[cache], precision, scale),
            )
            out += [f"{ind}d = {cache}.get({target})"]
            out += [f"{ind}{target} = {read}({target}) if d is None else d"]
    elif kind == "enum":
        count = len(schema["symbols"])
        symbols = src.const(tuple(schema["symbols"]))
        # One byte holds the index (2 * i) of up to 64 symbols: a table from byte to symbol.
        by_byte = src.const(tuple(schema["symbols"][b >> 1] if b < 2 * count and not b & 1
                                  else None for b in range(128)))  # fmt: skip
        out += [f"{ind}b = buf[p]", f"{ind}if b < 128 and {by_byte}[b] is not None:"]
        out += [f"{ind}    {target} = {by_byte}[b]", f"{ind}    p += 1", f"{ind}else:"]
        _d_long(out, ind + "    ", target)
        out += [f"{ind}    if not 0 <= {target} < {count}:"]
        out += [f"{ind}        _fail('not_avro', 'enum index ' + str({target}))"]
        out += [f"{ind}    {target} = {symbols}[{target}]"]
    elif kind == "array":
        _d_array(src, out, ind, schema["items"], target)
    elif kind == "union":
        if len(schema) > 63:
            raise Unsupported("union of more than 63 branches")
        # A union index below 64 is one byte holding 2 * index: compare bytes, skip zigzag.
        out += [f"{ind}b = buf[p]", f"{ind}p += 1"]
        for index, branch in enumerate(schema):
            out.append(f"{ind}{'if' if index == 0 else 'elif'} b == {2 * index}:")
            _d_value(src, out, ind + "    ", branch, target)
        out += [f"{ind}else:", f"{ind}    _fail('not_avro', 'union index byte ' + str(b))"]
    elif kind == "record":
        out.append(f"{ind}{target}, p = {_d_record(src, schema)}(buf, p)")
    else:
        raise Unsupported(f"type {kind}")


def _d_array(src: Source, out: list[str], ind: str, items: Any, target: str) -> None:
    item, count = src.var("x"), src.var("c")
    # An item takes at least one byte unless it is null or an empty record; with that, a
    # block count larger than the bytes left is a truncated (or hostile) body.
    items_schema = resolve(src, items)
    sized = items_schema != "null" and not (
        isinstance(items_schema, dict) and items_schema.get("fields") == []
    )
    out += [f"{ind}{target} = []", f"{ind}while True:"]
    _d_long(out, ind + "    ", count)
    out += [f"{ind}    if {count} == 0:", f"{ind}        break", f"{ind}    if {count} < 0:"]
    out += [f"{ind}        {count} = -{count}"]
    _d_long(out, ind + "        ", "n")  # block size in bytes, not needed
    if sized:
        out += [f"{ind}    if {count} > end - p:", f"{ind}        _fail('truncated', 'array')"]
    # A countdown is cheaper than range() for the short arrays claims have.
    out += [f"{ind}    while {count}:", f"{ind}        {count} -= 1"]
    _d_value(src, out, ind + "        ", items, item)
    out.append(f"{ind}        {target}.append({item})")


def _d_record(src: Source, schema: dict[str, Any]) -> str:
    name = schema["name"]
    if name in src.records:
        return src.records[name]
    function = src.records[name] = src.var("_dec")
    out = [f"def {function}(buf, p):", "    end = len(buf)"]
    values = []
    for field in schema["fields"]:
        target = src.var("v")
        _d_value(src, out, "    ", field["type"], target)
        values.append(f"{field['name']!r}: {target}")
    out.append(f"    return {{{', '.join(values)}}}, p")
    src.functions.append("\n".join(out))
    return function


def compile_decoder(schema: dict[str, Any]) -> Decoder | None:
    """Compile a decoder for a parsed record schema, or None if the schema is out of scope.

    The decoder takes (body, start offset) and returns (record, end offset). It raises
    DecodeError ('not_avro', 'value_out_of_range', 'truncated') and, on a body that ends
    early, IndexError or struct.error - the caller turns those into 'truncated'.
    """
    src = Source("decoder")
    try:
        _d_record(src, resolve(src, schema))
    except Unsupported:
        return None
    decoder: Decoder = src.build(schema["name"])
    return decoder
