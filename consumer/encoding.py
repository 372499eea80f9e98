"""ClaimDecision record -> Kafka record value bytes, in the `raw` or `confluent` wire format.

`confluent` registers (or, with `auto_register=False`, looks up) the decision schema under
the output topic's subject `<topic>-value` (TopicNameStrategy) the first time it writes to
that topic and caches the id; after that encoding makes no registry call.

Errors: a record that does not fit the schema raises ValueError with fastavro's explanation
(a bug in the caller, never data from the input topic); a registry that refuses the schema
(incompatible, invalid, not registered, forbidden) raises SchemaError, which should stop the
service; a registry that cannot be reached raises SchemaRegistryUnavailableError (retry).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any, Protocol

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.validation import ValidationError, validate

from consumer.avrocodec import compile_encoder
from consumer.decoding import SchemaRegistryUnavailableError, WireFormat
from consumer.errors import SchemaError
from consumer.schemas import CLAIM, DECISION, ParsedSchema, decision_schema, schema_json

Record = dict[str, Any]
_RETRYABLE_STATUS = {408, 429}


class DecisionEncoder(Protocol):
    def encode(self, record: Record, topic: str, claim_body: bytes | None = None) -> bytes:
        """The value bytes of `record` for `topic`. `claim_body`, the claim's Avro body from
        `ClaimDecoder.decode_with_body`, is embedded as is instead of encoding
        `record["claim"]` again (it must be the same claim)."""
        ...


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


def _head_writer(schema: ParsedSchema) -> Callable[[Record, bytearray], None] | None:
    """An encoder for every ClaimDecision field but the last, `claim`; None if the schema
    does not end with it. The body of a record is the concatenation of its fields, so head +
    claim body is the decision."""
    last = schema["fields"][-1]
    embedded = last["type"].get("name") if isinstance(last["type"], dict) else last["type"]
    if last["name"] != "claim" or embedded != CLAIM:
        return None
    return compile_encoder({**schema, "fields": schema["fields"][:-1]})


def _explain(record: Record, schema: ParsedSchema, exc: Exception) -> ValueError:
    """A ValueError naming the field that does not fit (fastavro's validator knows it)."""
    try:
        validate(record, schema, raise_errors=True)
    except ValidationError as invalid:
        return ValueError(f"record does not fit {schema['name']}: {invalid}")
    return ValueError(f"record does not fit {schema['name']}: {type(exc).__name__}: {exc}")


_MISFIT = (KeyError, TypeError, AttributeError, ValueError, OverflowError, struct.error)


class _Writer:
    def __init__(self, schema: ParsedSchema) -> None:
        self._schema = schema
        self._write = body_writer(schema)
        self._write_head = _head_writer(schema)

    def _append(self, out: bytearray, record: Record, claim_body: bytes | None) -> bytes:
        try:
            if claim_body is not None and self._write_head is not None:
                self._write_head(record, out)
                out += claim_body
            else:
                self._write(record, out)
        except _MISFIT as exc:
            raise _explain(record, self._schema, exc) from exc
        return bytes(out)


class RawDecisionEncoder(_Writer):
    """Schemaless Avro bodies written with our ClaimDecision schema (or `schema`)."""

    def __init__(self, schema: ParsedSchema | None = None) -> None:
        super().__init__(schema if schema is not None else decision_schema())

    def encode(self, record: Record, topic: str = "", claim_body: bytes | None = None) -> bytes:
        """The Avro body of `record`; `topic` is ignored. Raises ValueError on a misfit."""
        return self._append(bytearray(), record, claim_body)


class ConfluentDecisionEncoder(_Writer):
    """Confluent-framed values; the schema id per output topic is resolved once and cached."""

    def __init__(
        self,
        registry: SchemaRegistryClient,
        *,
        auto_register: bool = True,
        subject_for: Callable[[str], str] = lambda topic: f"{topic}-value",
    ) -> None:
        super().__init__(decision_schema())
        self._registry = registry
        self._auto_register = auto_register
        self._subject_for = subject_for
        self._prefixes: dict[str, bytes] = {}

    def encode(self, record: Record, topic: str, claim_body: bytes | None = None) -> bytes:
        """Magic byte, schema id of `topic`'s subject, Avro body of `record`.

        Raises ValueError (misfit), SchemaError or SchemaRegistryUnavailableError.
        """
        prefix = self._prefixes.get(topic) or self._prefix(topic)
        return self._append(bytearray(prefix), record, claim_body)

    def schema_id(self, topic: str) -> int:
        """The registry id the decisions for `topic` are written with (resolving it once)."""
        return int.from_bytes((self._prefixes.get(topic) or self._prefix(topic))[1:], "big")

    def _prefix(self, topic: str) -> bytes:
        subject = self._subject_for(topic)
        schema = Schema(schema_json(DECISION), "AVRO")
        try:
            if self._auto_register:
                schema_id: int | None = self._registry.register_schema(subject, schema)
            else:
                schema_id = self._registry.lookup_schema(subject, schema).schema_id
        except SchemaRegistryError as exc:
            action = "register" if self._auto_register else "find"
            raise registry_refusal(exc, f"{action} {DECISION}", subject) from exc
        except Exception as exc:  # transport, TLS, OAuth: all mean "try again later"
            raise SchemaRegistryUnavailableError(
                f"subject {subject}: {type(exc).__name__}: {exc}"
            ) from exc
        if schema_id is None:
            raise SchemaError(f"Schema Registry returned no id for subject {subject}")
        prefix = self._prefixes[topic] = struct.pack(">bI", 0, schema_id)
        return prefix


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


def make_decision_encoder(
    wire_format: WireFormat,
    *,
    registry: SchemaRegistryClient | None = None,
    auto_register: bool = True,
) -> DecisionEncoder:
    """The encoder for `wire_format`; `confluent` needs `registry`."""
    if wire_format == "raw":
        return RawDecisionEncoder()
    if registry is None:
        raise ValueError("the confluent wire format needs a Schema Registry client")
    return ConfluentDecisionEncoder(registry, auto_register=auto_register)
