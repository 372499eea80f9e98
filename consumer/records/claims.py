"""The JSON form of claims and decisions, converted to and from the record form.

Record form: exactly what fastavro's `schemaless_reader` returns for our schemas, and what the
rule engine and the encoders take. A record is a `dict` with one key per schema field, in
schema order; values are `str`, `int`, `float`, `bool`, `None`, `list`, nested `dict`, enum
symbols as `str`, `date` fields as `datetime.date`, `timestamp-millis` as a UTC-aware
`datetime.datetime` (millisecond precision) and `decimal` as `decimal.Decimal` with the
schema scale (`Decimal("125.00")`).

JSON form (SPEC §2.1): the same field names; ISO-8601 dates (`"2026-07-01"`); ISO timestamps
with a zone (`"2026-07-01T12:00:00Z"` or `+02:00`; written back in UTC with a `Z`); enum
symbols as strings; decimals as strings (`"125.00"`; JSON numbers accepted on input); `null`
or an omitted key for an absent optional; an omitted key with a schema default takes the
default. JSON has no NaN, so non-finite doubles are written as the strings `"NaN"`,
`"Infinity"`, `"-Infinity"`, and those strings are accepted on input. Unknown keys are refused:
a misspelt optional field would otherwise vanish silently and change the decision. Paths in
error messages index lists from 0 (`lines[0]` is the first line).

The converters are generated from the parsed Avro schema once per type
(`consumer.records.jsonform`), so the JSON form follows schema evolution without code changes.
"""

from __future__ import annotations

import functools
from typing import Any

from consumer.errors import ClaimFormatError
from consumer.records.jsonform import Bad, Conv, compile_converters
from consumer.records.schemas import CLAIM, DECISION, parsed_schema

Record = dict[str, Any]


@functools.cache
def _converters(full_name: str) -> tuple[Conv, Conv]:
    return compile_converters(parsed_schema(full_name))


def _where(parts: list[str], full_name: str) -> str:
    text = ""
    for part in reversed(parts):
        text += part if part.startswith("[") else (f".{part}" if text else part)
    return text or full_name.rsplit(".", 1)[-1]


def record_from_json(obj: Any, full_name: str) -> Record:
    """The record form of a `full_name` record given in JSON form (parsed JSON).

    Raises ClaimFormatError("<path>: expected <what>, got <what was found>"), e.g.
    `lines[2].service_date_from: expected an ISO date like 2026-07-01, got '07/01/2026'`.
    """
    to_record, _ = _converters(full_name)
    try:
        record: Record = to_record(obj)
    except Bad as exc:
        raise ClaimFormatError(f"{_where(exc.path, full_name)}: {exc.problem}") from None
    return record


def claim_from_json(obj: Any, max_lines: int | None = None) -> Record:
    """The record form of a claim given in JSON form (a parsed JSON object).

    Besides the schema, requires at least one line and, when given, at most `max_lines`
    (the checks `consumer.codec.decoding` makes on Avro input). Raises ClaimFormatError.
    """
    record = record_from_json(obj, CLAIM)
    count = len(record["lines"])
    if count == 0:
        raise ClaimFormatError("lines: expected at least one service line, got an empty list")
    if max_lines is not None and count > max_lines:
        raise ClaimFormatError(f"lines: expected at most {max_lines} service lines, got {count}")
    return record


def to_json_form(record: Record, full_name: str) -> Record:
    """The JSON form of a valid `full_name` record: plain values `json`/`orjson` can dump.

    A record that does not fit the schema raises KeyError/TypeError/AttributeError.
    """
    _, to_json = _converters(full_name)
    result: Record = to_json(record)
    return result


def claim_to_json(record: Record) -> Record:
    """The JSON form of a ClaimSubmitted record."""
    return to_json_form(record, CLAIM)


def decision_to_json(record: Record) -> Record:
    """The JSON form of a ClaimDecision record, the embedded claim in JSON form too."""
    return to_json_form(record, DECISION)
