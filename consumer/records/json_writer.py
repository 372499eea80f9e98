"""The record form -> the JSON form (`consumer.records.claims.claim_to_json`), generated from
the Avro schema like the other direction (`consumer.records.jsonform`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consumer.records.codegen import Source, Unsupported, resolve, type_of


def timestamp_text(v: datetime) -> str:
    """A timestamp in the JSON form: UTC, ISO-8601, milliseconds when there are any, `Z`."""
    if v.tzinfo is not UTC and v.tzinfo is not None:
        v = v.astimezone(UTC)
    # isoformat() of an aware datetime is slow; fastavro treats naive values as UTC, so do we.
    text = v.replace(tzinfo=None).isoformat(timespec="milliseconds" if v.microsecond else "seconds")
    return text + "Z"


def _nonfinite(v: float) -> str:
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


class ToJson:
    """Generates record form -> JSON form; each type becomes an expression template on a
    local variable, or None when the record value is already its JSON value."""

    def __init__(self) -> None:
        self.src = Source("record-to-json")
        self.src.consts |= {"_nonfinite": _nonfinite, "_ts": timestamp_text}

    def type(self, schema: Any) -> str | None:
        schema = resolve(self.src, schema)
        kind, logical = type_of(schema)
        if logical == "date":
            return "{x}.isoformat()"
        if logical is not None:
            return "_ts({x})" if logical.startswith("timestamp") else "str({x})"
        if kind in ("float", "double"):
            return "({x} if {x} - {x} == 0 else _nonfinite({x}))"  # inf - inf is NaN
        if kind == "union":
            others = [b for b in schema if b != "null"]
            if len(others) != 1:
                raise Unsupported(f"a union of {schema}")
            inner = self.type(others[0])
            return None if inner is None else f"(None if {{x}} is None else {inner})"
        if kind == "array":
            item = self.type(schema["items"])
            return "list({x})" if item is None else f"[{item.format(x='i')} for i in {{x}}]"
        if kind == "record":
            return f"{self.record(schema)}({{x}})"
        if kind in ("string", "boolean", "null", "int", "long", "enum"):
            return None
        raise Unsupported(f"type {kind}")

    def record(self, schema: dict[str, Any]) -> str:
        if schema["name"] in self.src.records:
            return self.src.records[schema["name"]]
        name = self.src.records[schema["name"]] = self.src.var("_o")
        body, values = [f"def {name}(r):"], []
        for field in schema["fields"]:
            key, template = field["name"], self.type(field["type"])
            if template is None:
                values.append(f"{key!r}: r[{key!r}]")
            else:
                x = self.src.var("x")
                body.append(f"    {x} = r[{key!r}]")
                values.append(f"{key!r}: {template.format(x=x)}")
        body.append(f"    return {{{', '.join(values)}}}")
        self.src.functions.append("\n".join(body))
        return name
