"""The schema registry (Confluent API, SPEC §2.2): the client built from settings, our schemas
registered under their subjects (ClaimSubmitted for producers, ClaimDecision under each output
topic's subject), writer schemas fetched by id, and what its answers mean.

A refusal (incompatible, invalid, forbidden) is a SchemaError: one line, and the caller stops.
A registry that cannot be reached raises SchemaRegistryUnavailableError, which is never a
property of a record: retry or stop, never dead-letter. An id it does not know is a
DecodeError (`unknown_schema_id`) of the record that carries it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.schema import SchemaParseException

from consumer.errors import DecodeError, InfusionValidatorError, SchemaError
from consumer.records.schemas import CLAIM, DECISION, ParsedSchema, schema_json
from consumer.settings import Settings

CONFLUENT_HEADER = struct.Struct(">bI")  # confluent framing: magic byte, schema id
_UNKNOWN_ID_CODES = {40403, 40400}  # "schema not found": real registry, client's mock
_RETRYABLE_STATUS = {408, 429}


class SchemaRegistryUnavailableError(InfusionValidatorError):
    """The Schema Registry could not answer (network, auth, 5xx). Retryable: the record is
    fine, so it must not go to the dead-letter topic."""

    error_class = "schema_registry_unavailable"
    retryable = True


def registry_client(settings: Settings) -> SchemaRegistryClient | None:
    """The Schema Registry client, or None when no URL is configured."""
    sr = settings.schema_registry
    if not sr.url:
        return None
    config: dict[str, Any] = {"url": sr.url}
    if sr.basic_auth_user:
        password = sr.basic_auth_password.get_secret_value() if sr.basic_auth_password else ""
        config["basic.auth.user.info"] = f"{sr.basic_auth_user}:{password}"
    if sr.ssl_ca_location:
        config["ssl.ca.location"] = str(sr.ssl_ca_location)
    return SchemaRegistryClient(config)


def register_claim_schema(client: SchemaRegistryClient, subject: str) -> int:
    """Register our ClaimSubmitted under `subject` (or find it there); its id. A registry that
    refuses it (e.g. an incompatible schema is already there) raises SchemaError with one line
    saying so; one that cannot be reached raises SchemaRegistryUnavailableError."""
    try:
        return int(client.register_schema(subject, Schema(schema_json(CLAIM), "AVRO")))
    except SchemaRegistryError as exc:
        raise registry_refusal(exc, f"register {CLAIM}", subject) from exc
    except Exception as exc:  # transport, TLS, OAuth
        raise SchemaRegistryUnavailableError(
            f"subject {subject}: {type(exc).__name__}: {exc}"
        ) from exc


def writer_schema(registry: SchemaRegistryClient, schema_id: int) -> ParsedSchema:
    """The writer schema registered under `schema_id` (its references parsed first).

    Raises DecodeError (`unknown_schema_id`, `unsupported_schema`) or
    SchemaRegistryUnavailableError.
    """
    schema = _ask(f"schema id {schema_id}", registry.get_schema, schema_id)
    if (schema.schema_type or "AVRO") != "AVRO":
        raise DecodeError("unsupported_schema", f"schema id {schema_id} is {schema.schema_type}")
    named: dict[str, Any] = {}
    try:
        _parse_references(registry, schema.references or [], named)
        parsed = fastavro.parse_schema(json.loads(schema.schema_str or ""), named_schemas=named)
    except (ValueError, TypeError, KeyError, SchemaParseException) as exc:
        raise DecodeError("unsupported_schema", f"schema id {schema_id}: {exc}") from None
    if not isinstance(parsed, dict):
        raise DecodeError("unsupported_schema", f"schema id {schema_id} is not a record")
    return parsed


def _parse_references(
    registry: SchemaRegistryClient, references: list[Any], named: dict[str, Any]
) -> None:
    # Registry schema references name other subjects; fastavro resolves named types
    # through `named`, so parse the referenced schemas (depth first) into it.
    for ref in references:
        where = f"reference {ref.subject} v{ref.version}"
        inner = _ask(where, registry.get_version, ref.subject, ref.version).schema
        _parse_references(registry, inner.references or [], named)
        fastavro.parse_schema(json.loads(inner.schema_str or ""), named_schemas=named)


def _ask(what: str, call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404 and exc.error_code in _UNKNOWN_ID_CODES:
            raise DecodeError("unknown_schema_id", f"{what}: {exc}") from None
        raise SchemaRegistryUnavailableError(f"{what}: {exc}") from exc
    except Exception as exc:  # transport, TLS, OAuth: all mean "try again later"
        raise SchemaRegistryUnavailableError(f"{what}: {type(exc).__name__}: {exc}") from exc


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
