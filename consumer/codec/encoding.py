"""A claim in record form -> its Avro body in our schema, for the engine: the claims Python
decoded (another writer schema, a JSON spelling the engine leaves to Python) and those the
tests and `Engine.decide` hand over as records. (The engine writes decisions itself, and
producers' claims with its own writer: `consumer.codec.wire`.)

A record that does not fit the schema raises ValueError with fastavro's explanation.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from consumer.codec.avrocodec import compile_encoder
from consumer.records.schemas import ParsedSchema, claim_schema

Record = dict[str, Any]
_MISFIT = (KeyError, TypeError, AttributeError, ValueError, OverflowError, struct.error)


def body_writer(schema: ParsedSchema) -> Callable[[Record, bytearray], None]:
    """A function that appends the Avro body of a record of `schema` to a bytearray."""
    compiled = compile_encoder(schema)
    if compiled is not None:
        return compiled

    def with_fastavro(record: Record, out: bytearray) -> None:
        fo = io.BytesIO()
        fastavro.schemaless_writer(fo, schema, record)
        out += fo.getvalue()

    return with_fastavro


def _explain(record: Record, schema: ParsedSchema, exc: Exception) -> ValueError:
    """A ValueError naming the field that does not fit (fastavro's validator knows it)."""
    try:
        validate(record, schema, raise_errors=True)
    except ValidationError as invalid:
        return ValueError(f"record does not fit {schema['name']}: {invalid}")
    return ValueError(f"record does not fit {schema['name']}: {type(exc).__name__}: {exc}")


@functools.cache
def _claim_writer() -> Callable[[Record, bytearray], None]:
    return body_writer(claim_schema())


def claim_body(claim: Record) -> bytes:
    """The Avro body of a ClaimSubmitted record in our schema (what the engine reads).

    Raises ValueError naming the field that does not fit.
    """
    out = bytearray()
    try:
        _claim_writer()(claim, out)
    except _MISFIT as exc:
        raise _explain(claim, claim_schema(), exc) from exc
    return bytes(out)
