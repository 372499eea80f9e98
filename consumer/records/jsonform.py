"""Converters between the JSON form and the record form, generated from the Avro schema.

`consumer.records.claims` documents both forms and is the API; this module holds the machinery. Like
`consumer.codec.avrocodec`, it writes one Python function per record type, unrolled per field,
once per schema: a field whose JSON value already is its record value (a string, an int in
range, a known enum symbol, null for an optional) costs one dict lookup and one type check;
everything else goes through a small converter. A failure raises `Bad`, whose path is
collected while it unwinds, so the successful path never builds path strings.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from consumer.errors import SchemaError
from consumer.records.codegen import Source, Unsupported, resolve, type_of
from consumer.records.json_writer import ToJson

Conv = Callable[[Any], Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING: Any = object()
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INT_CHECK = {"int": "-2147483648 <= {x} <= 2147483647", "long": "-(2**63) <= {x} < 2**63"}


class Bad(Exception):  # noqa: N818 - internal signal, turned into ClaimFormatError by the API
    """A conversion failure: `problem` says what was expected, `path` is built bottom-up."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def show(value: Any) -> str:
    """A short rendering of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(what: str) -> Conv:
    def fail(value: Any) -> Any:
        raise Bad(f"expected {what}, got {show(value)}")

    return fail


def _to_float(v: Any) -> float:
    if type(v) is int and -(2**1023) < v < 2**1023:
        return float(v)
    if type(v) is str and v in _NONFINITE:
        return _NONFINITE[v]
    raise Bad(f'expected a number (or "NaN", "Infinity", "-Infinity"), got {show(v)}')


def _to_date(v: Any) -> date:
    try:
        return date.fromisoformat(v)
    except (TypeError, ValueError):
        raise Bad(f"expected an ISO date like 2026-07-01, got {show(v)}") from None


def _to_timestamp(micros_per_unit: int) -> Conv:
    def conv(v: Any) -> datetime:
        try:
            dt = datetime.fromisoformat(v)
            if dt.tzinfo is not UTC and dt.tzinfo is not None:
                dt = dt.astimezone(UTC)
        except (TypeError, ValueError, OverflowError):
            dt = None
        if dt is None or dt.tzinfo is None:
            example = "2026-07-01T12:00:00Z"
            raise Bad(f"expected an ISO timestamp with a zone like {example}, got {show(v)}")
        # The wire keeps only millis (or micros); the record form must equal a decoded one.
        extra = dt.microsecond % micros_per_unit
        return dt - timedelta(microseconds=extra) if extra else dt

    return conv


def _to_decimal(precision: int, scale: int) -> Conv:
    quantum = Decimal(1).scaleb(-scale)

    def conv(v: Any) -> Decimal:
        d = None
        try:
            if type(v) is str:
                d = Decimal(v)
            elif type(v) is int or type(v) is float:
                d = Decimal(repr(v))
        except InvalidOperation:
            pass
        if d is None or not d.is_finite():
            raise Bad(f'expected a decimal string like "125.00", got {show(v)}')
        if d.adjusted() >= precision - scale:
            raise Bad(f"expected at most {precision - scale} digits before the point, got {v!r}")
        # Fast path: "125.00" already has the schema scale; anything else is quantized.
        if type(v) is str and v[-scale - 1 : -scale] == ".":
            return d
        q = d.quantize(quantum)
        if q != d:
            raise Bad(f"expected at most {scale} decimal places, got {v!r}")
        return q

    return conv


def _unknown_field(v: dict[str, Any], known: tuple[str, ...]) -> None:
    extra = sorted(str(k) for k in v if k not in known)[0]
    hint = difflib.get_close_matches(extra, known, n=1)
    again = f"; did you mean {hint[0]!r}?" if hint else f"; known fields: {', '.join(known)}"
    raise Bad(f"unknown field {extra!r}{again}")


def _required() -> Any:
    raise Bad("required field is missing")


def _default(schema: Any, value: Any) -> Callable[[], Any]:
    """A factory for a field default (Avro JSON encoding) in record form."""
    branch = schema[0] if isinstance(schema, list) else schema
    logical = branch.get("logicalType") if isinstance(branch, dict) else None
    if isinstance(value, list | dict):
        return lambda: type(value)(value)  # a fresh container per record
    if value is not None and logical == "date":
        value = date(1970, 1, 1) + timedelta(days=value)
    elif value is not None and logical == "timestamp-millis":
        value = _EPOCH + timedelta(milliseconds=value)
    elif value is not None and logical is not None:
        raise SchemaError(f"JSON form: a default for logical type {logical} is not supported")
    return lambda: value


_RUNTIME = {"_Bad": Bad, "_show": show, "_M": _MISSING, "_unknown": _unknown_field}


class _ToRecord:
    """Generates JSON form -> record form. Each type becomes (check, conv): `check` is an
    expression template that is true when the value needs `conv` (None: always)."""

    def __init__(self) -> None:
        self.src = Source("json-to-record")
        self.src.consts |= _RUNTIME

    def type(self, schema: Any) -> tuple[str | None, str]:
        schema = resolve(self.src, schema)
        kind, logical = type_of(schema)
        const = self.src.const
        if logical == "date":
            return None, const(_to_date)
        if logical in ("timestamp-millis", "timestamp-micros"):
            return None, const(_to_timestamp(1000 if logical == "timestamp-millis" else 1))
        if logical == "decimal":
            return None, const(_to_decimal(schema["precision"], schema.get("scale", 0)))
        if kind in ("string", "boolean", "null"):
            py = {"string": "str", "boolean": "bool", "null": "type(None)"}[kind]
            return f"type({{x}}) is not {py}", const(_expected(f"a JSON {kind}"))
        if kind in _INT_CHECK:
            return (
                f"type({{x}}) is not int or not {_INT_CHECK[kind]}",
                const(_expected(f"an integer ({kind})")),
            )
        if kind in ("float", "double"):
            return "type({x}) is not float", const(_to_float)
        if kind == "enum":
            symbols = schema["symbols"]
            allowed = const(frozenset(symbols))
            return (
                f"type({{x}}) is not str or {{x}} not in {allowed}",
                const(_expected(f"one of {', '.join(symbols)}")),
            )
        if kind == "union":
            others = [b for b in schema if b != "null"]
            if len(others) != 1:
                raise Unsupported(f"a union of {schema}")
            inner, conv = self.type(others[0])
            return ("{x} is not None" + (f" and ({inner})" if inner else "")), conv
        if kind == "array":
            return None, self.array(schema["items"])
        if kind == "record":
            return None, self.record(schema)
        raise Unsupported(f"type {kind}")

    def array(self, items: Any) -> str:
        check, conv = self.type(items)
        name = self.src.var("_a")
        body = [
            f"def {name}(v):",
            "    if type(v) is not list:",
            "        raise _Bad('expected a list, got ' + _show(v))",
            "    out = []",
            "    i = 0",
            "    try:",
            "        for x in v:",
            *([f"            if {check.format(x='x')}:"] if check else []),
            f"            {'    ' if check else ''}x = {conv}(x)",
            "            out.append(x)",
            "            i += 1",
            "    except _Bad as exc:",
            "        exc.path.append('[' + str(i) + ']')",
            "        raise",
            "    return out",
        ]
        self.src.functions.append("\n".join(body))
        return name

    def record(self, schema: dict[str, Any]) -> str:
        if schema["name"] in self.src.records:
            return self.src.records[schema["name"]]
        name = self.src.records[schema["name"]] = self.src.var("_r")
        short = schema["name"].rsplit(".", 1)[-1]
        body = [f"def {name}(v):", "    if type(v) is not dict:"]
        body += [f"        raise _Bad('expected an object ({short}), got ' + _show(v))"]
        body += ["    g = v.get"]
        values, known = [], []
        for field in schema["fields"]:
            key, x = field["name"], self.src.var("x")
            check, conv = self.type(field["type"])
            if "default" in field:
                missing = self.src.const(_default(field["type"], field["default"]))
            else:
                missing = self.src.const(_required)
            body.append(f"    {x} = g({key!r}, _M)")
            ind = "    "
            if check:
                body.append(f"    if {x} is _M or {check.format(x=x)}:")
                ind = "        "
            body += [
                f"{ind}try:",
                f"{ind}    {x} = {missing}() if {x} is _M else {conv}({x})",
                f"{ind}except _Bad as exc:",
                f"{ind}    exc.path.append({key!r})",
                f"{ind}    raise",
            ]
            values.append(f"{key!r}: {x}")
            known.append(key)
        known_set, fields = self.src.const(frozenset(known)), self.src.const(tuple(known))
        body += [f"    if len(v) != {len(known)} and not {known_set}.issuperset(v):"]
        body += [f"        _unknown(v, {fields})"]
        body.append(f"    return {{{', '.join(values)}}}")
        self.src.functions.append("\n".join(body))
        return name


def compile_converters(schema: dict[str, Any]) -> tuple[Conv, Conv]:
    """(JSON form -> record form, record form -> JSON form) for a parsed record schema.

    The first raises Bad; the second expects a valid record. Raises SchemaError for a schema
    the JSON form cannot express (unions of several types, maps, fixed, other logical types).
    """
    try:
        to_record, to_json = _ToRecord(), ToJson()
        to_record.record(schema)
        to_json.record(schema)
        return to_record.src.build(schema["name"]), to_json.src.build(schema["name"])
    except Unsupported as exc:
        raise SchemaError(f"{schema['name']}: the JSON form does not support {exc}") from None
