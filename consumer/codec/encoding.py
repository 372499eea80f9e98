"""Encoding for the wire: claims in our schema's Avro, and the schema id decisions carry.

The compiled engine writes the `ClaimDecision` values itself (`native/src/codec/`); what it
needs from here is, for the `confluent` format, the registry id of the decision schema under
each output topic's subject (TopicNameStrategy: `<topic>-value`), registered or looked up once
at start-up. Claims are encoded here for producers (samples, the demo, tests) and for claims
the engine gets in record form.

Errors: a record that does not fit the schema raises ValueError with fastavro's explanation;
a registry that refuses the decision schema (incompatible, invalid, not registered,
forbidden) raises SchemaError, which stops start-up; a registry that cannot be reached raises
SchemaRegistryUnavailableError.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.validation import ValidationError, validate

from consumer.codec.avrocodec import compile_encoder
from consumer.codec.decoding import CONFLUENT_HEADER, SchemaRegistryUnavailableError
from consumer.errors import SchemaError
from consumer.records.schemas import DECISION, ParsedSchema, claim_schema, schema_json

Record = dict[str, Any]
_RETRYABLE_STATUS = {408, 429}
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


def decision_prefix(
    registry: SchemaRegistryClient, topic: str, *, auto_register: bool = True
) -> bytes:
    """The Confluent framing (magic byte + schema id) of decisions written to `topic`: our
    `ClaimDecision` schema registered (or, without `auto_register`, found) under its subject.

    Raises SchemaError (refused) or SchemaRegistryUnavailableError (cannot be reached).
    """
    subject = f"{topic}-value"
    schema = Schema(schema_json(DECISION), "AVRO")
    try:
        if auto_register:
            schema_id: int | None = registry.register_schema(subject, schema)
        else:
            schema_id = registry.lookup_schema(subject, schema).schema_id
    except SchemaRegistryError as exc:
        action = "register" if auto_register else "find"
        raise registry_refusal(exc, f"{action} {DECISION}", subject) from exc
    except Exception as exc:  # transport, TLS, OAuth: all mean "try again later"
        raise SchemaRegistryUnavailableError(
            f"subject {subject}: {type(exc).__name__}: {exc}"
        ) from exc
    if schema_id is None:
        raise SchemaError(f"Schema Registry returned no id for subject {subject}")
    return CONFLUENT_HEADER.pack(0, schema_id)


def registry_refusal(
    exc: SchemaRegistryError, action: str, subject: str
) -> SchemaError | SchemaRegistryUnavailableError:
    """The error to raise for a registry's answer to `action` (e.g. "register X") under
    `subject`: a refusal (4xx: incompatible, invalid, forbidden) is a SchemaError, which stops
    the caller with one line; anything else may pass, so it is retryable.

    An incompatible schema is HTTP 409: Confluent's registry says error_code 409, Apicurio's
    Confluent API says 0, so only the status is read.
    """
    status = exc.http_status_code
    detail = (exc.error_message or "").strip().splitlines()[0:1]
    said = f": {detail[0][:300]}" if detail else ""
    if status == 409:
        return SchemaError(
            f"Schema Registry refused to {action} under subject {subject}: incompatible with "
            f"the schema already registered there under its compatibility rule (HTTP 409{said})"
        )
    if status is not None and 400 <= status < 500 and status not in _RETRYABLE_STATUS:
        return SchemaError(
            f"Schema Registry refused to {action} under subject {subject} (HTTP {status}{said})"
        )
    return SchemaRegistryUnavailableError(f"subject {subject}: HTTP {status}{said}")
