"""Generates the encoder: one function per record type appending to a bytearray."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumer.records.codegen import (
    EPOCH_ORDINAL,
    MISSING,
    SMALL,
    Record,
    Source,
    Unsupported,
    resolve,
    type_of,
    write_long,
)

Encoder = Callable[[Record, bytearray], None]


def _e_long(out: list[str], ind: str, value: str, bits: int) -> None:
    shift = bits - 1
    out += [f"{ind}z = ({value} << 1) ^ ({value} >> {shift})"]
    out += [f"{ind}out += _SMALL[z] if 0 <= z < 128 else _wlong(z, {bits})"]


def _e_value(src: Source, out: list[str], ind: str, schema: Any, value: str) -> None:
    schema = resolve(src, schema)
    kind, logical = type_of(schema)
    if kind == "null":
        out.append(f"{ind}pass")
    elif kind == "boolean":
        out.append(f"{ind}out += b'\\x01' if {value} else b'\\x00'")
    elif kind in ("int", "long"):
        if logical == "date":
            out.append(f"{ind}d = {value}.toordinal() - {EPOCH_ORDINAL}")
            value = "d"
        elif logical is not None:
            per_second = 1000 if logical == "timestamp-millis" else 1_000_000
            out.append(f"{ind}d = _ts({value}, {per_second})")
            value = "d"
        _e_long(out, ind, value, 32 if kind == "int" else 64)
    elif kind in ("float", "double"):
        out.append(f"{ind}out += {'_pack_d' if kind == 'double' else '_pack_f'}({value})")
    elif kind in ("string", "bytes"):
        if logical == "decimal":
            precision, scale = schema["precision"], schema.get("scale", 0)
            out.append(f"{ind}out += _wdec({value}, {precision}, {scale})")
            return
        encoded = f"{value}.encode()" if kind == "string" else value
        out += [f"{ind}e = {encoded}", f"{ind}n = len(e)"]
        out += [f"{ind}out += _SMALL[n << 1] if n < 64 else _wlong(n << 1, 64)", f"{ind}out += e"]
    elif kind == "enum":
        symbols = schema["symbols"]
        table = src.const({s: write_long(i << 1, 64) for i, s in enumerate(symbols)})
        out.append(f"{ind}out += {table}[{value}]")
    elif kind == "array":
        item = src.var("x")
        out += [f"{ind}if {value}:", f"{ind}    n = len({value})"]
        out += [f"{ind}    out += _SMALL[n << 1] if n < 64 else _wlong(n << 1, 64)"]
        out.append(f"{ind}    for {item} in {value}:")
        _e_value(src, out, ind + "        ", schema["items"], item)
        out.append(f"{ind}out += b'\\x00'")
    elif kind == "union":
        if len(schema) != 2 or "null" not in schema:
            raise Unsupported("encoding a union other than null + one type")
        null_index = schema.index("null")
        other = schema[1 - null_index]
        out += [f"{ind}if {value} is None:", f"{ind}    out += {SMALL[2 * null_index]!r}"]
        out += [f"{ind}else:", f"{ind}    out += {SMALL[2 * (1 - null_index)]!r}"]
        _e_value(src, out, ind + "    ", other, value)
    elif kind == "record":
        out.append(f"{ind}{_e_record(src, schema)}({value}, out)")
    else:
        raise Unsupported(f"type {kind}")


def _e_record(src: Source, schema: dict[str, Any]) -> str:
    name = schema["name"]
    if name in src.records:
        return src.records[name]
    function = src.records[name] = src.var("_enc")
    out = [f"def {function}(r, out):"]
    for field in schema["fields"]:
        value = src.var("v")
        default = field.get("default", MISSING)
        if default is MISSING and not (isinstance(field["type"], list) and "null" in field["type"]):
            out.append(f"    {value} = r[{field['name']!r}]")
        else:
            # Like fastavro: a key left out takes the field default (null for a nullable).
            if isinstance(default, list) and not default:
                default = ()
            elif default is MISSING:
                default = None
            elif not isinstance(default, str | int | float | bool | None):
                raise Unsupported(f"default {default!r}")
            out.append(f"    {value} = r.get({field['name']!r}, {default!r})")
        _e_value(src, out, "    ", field["type"], value)
    src.functions.append("\n".join(out))
    return function


def compile_encoder(schema: dict[str, Any]) -> Encoder | None:
    """Compile an encoder for a parsed record schema, or None if the schema is out of scope.

    The encoder appends the Avro body of a record to a bytearray. A record that does not fit
    the schema raises KeyError, TypeError, AttributeError, ValueError or struct.error; use
    fastavro's validation to explain it.
    """
    src = Source("encoder")
    try:
        _e_record(src, resolve(src, schema))
    except Unsupported:
        return None
    encoder: Encoder = src.build(schema["name"])
    return encoder
