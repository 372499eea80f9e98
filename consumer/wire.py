"""The wire formats as the service uses them: decoder, encoders and registry client built once
from settings (SPEC §2.2). `raw` needs nothing; `confluent` needs `schema_registry.url`."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.decoding import (
    ERROR_CLASSES,
    DecodeLimits,
    SchemaRegistryUnavailableError,
    make_claim_decoder,
)
from consumer.encoding import body_writer, make_decision_encoder, registry_refusal
from consumer.errors import ConfigError
from consumer.schemas import CLAIM, claim_schema, schema_json
from consumer.settings import Settings

Record = dict[str, Any]
DLQ_ERROR_CLASSES = tuple(sorted(ERROR_CLASSES))


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


def _registry_for(settings: Settings, wire_format: str) -> SchemaRegistryClient | None:
    client = registry_client(settings)
    if wire_format == "confluent" and client is None:
        raise ConfigError("wire format 'confluent' needs schema_registry.url")
    return client


def build_decoder(settings: Settings) -> Callable[[bytes | None], tuple[Record, bytes | None]]:
    """bytes → (claim record, its Avro body when reusable), raising DecodeError for what
    belongs in the DLQ. Passing the body to the encoder copies the claim into the decision
    instead of encoding it again (the decision's last field is the claim)."""
    wire = settings.input_wire_format
    decoder = make_claim_decoder(
        "confluent" if wire == "confluent" else "raw",
        registry=_registry_for(settings, wire),
        writer_schema_path=settings.writer_schema,
        limits=DecodeLimits(settings.processing.max_value_bytes, settings.processing.max_lines),
    )
    return decoder.decode_with_body


def build_encoder(settings: Settings) -> Callable[[Record, str, bytes | None], bytes]:
    """(decision record, output topic, claim body or None) → bytes in the output format."""
    wire = settings.decision_wire_format
    encoder = make_decision_encoder(
        "confluent" if wire == "confluent" else "raw", registry=_registry_for(settings, wire)
    )
    return encoder.encode


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


def build_claim_encoder(settings: Settings) -> Callable[[Record], bytes]:
    """claim record → bytes in the input wire format (for producers: samples, demo, tests)."""
    write = body_writer(claim_schema())
    prefix = b""
    if settings.input_wire_format == "confluent":
        client = _registry_for(settings, "confluent")
        assert client is not None
        schema_id = register_claim_schema(client, f"{settings.topics.input}-value")
        prefix = struct.pack(">bI", 0, schema_id)

    def encode(claim: Record) -> bytes:
        out = bytearray(prefix)
        write(claim, out)
        return bytes(out)

    return encode
