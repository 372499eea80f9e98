"""The wire formats of one process (SPEC §2.2), built once from settings: the registry client,
the claim decoder, the decision framing, and the processor that decides batches with them.

`raw` needs nothing; `confluent` needs `schema_registry.url`. A process builds one `Wire` and
passes it to whoever needs it, so the registry client and the schema ids exist once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer._native import History, encode_claim
from consumer.codec.decoding import (
    CONFLUENT_HEADER,
    ERROR_CLASSES,
    ClaimDecoder,
    ConfluentClaimDecoder,
    DecodeLimits,
    SchemaRegistryUnavailableError,
    make_claim_decoder,
)
from consumer.codec.encoding import claim_body, decision_prefix, registry_refusal
from consumer.engine import Engine
from consumer.errors import ConfigError
from consumer.records.claims import record_from_json
from consumer.records.schemas import CLAIM, schema_json
from consumer.settings import Settings, TopicSettings
from consumer.stream.dlq import DeadLetterGuard
from consumer.stream.processing import ClaimProcessor, stream_decider

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


@dataclass
class Wire:
    """How this process reads claims and frames decisions."""

    settings: Settings
    registry: SchemaRegistryClient | None
    decoder: ClaimDecoder

    @classmethod
    def build(cls, settings: Settings) -> Wire:
        """Raises ConfigError when the confluent format has no registry URL, SchemaError for
        a bad writer schema file."""
        registry = registry_client(settings)
        confluent = "confluent" in (settings.input_wire_format, settings.decision_wire_format)
        if confluent and registry is None:
            raise ConfigError("wire format 'confluent' needs schema_registry.url")
        processing = settings.processing
        decoder = make_claim_decoder(
            "confluent" if settings.input_wire_format == "confluent" else "raw",
            registry=registry,
            writer_schema_path=settings.writer_schema,
            limits=DecodeLimits(processing.max_value_bytes, processing.max_lines),
        )
        wire = cls(settings, registry, decoder)
        if isinstance(decoder, ConfluentClaimDecoder):
            decoder.on_our_schema = wire._learn_schema_id
        return wire

    def __post_init__(self) -> None:
        # Confluent schema ids whose writer schema is ours (learnt from the decoder).
        self.our_schema_ids: set[int] = set()
        self._deciders: list[Callable[[int], None]] = []

    def body(self, value: bytes | None) -> bytes:
        """The claim's Avro body when the engine can read the value where it lies (our
        schema), else b"" (then the decoder must read it)."""
        too_big = value is not None and len(value) > self.settings.processing.max_value_bytes
        if not value or too_big or self.settings.writer_schema is not None:
            return b""
        if self.settings.input_wire_format == "raw":
            return value
        framed = value[0] == 0 and len(value) > CONFLUENT_HEADER.size
        if framed and CONFLUENT_HEADER.unpack_from(value)[1] in self.our_schema_ids:
            return value[CONFLUENT_HEADER.size :]
        return b""

    def processor(
        self,
        engine: Engine,
        topics: TopicSettings | None = None,
        *,
        keep_dead_letters: bool = True,
        history: History | None = None,
        shadow: Engine | None = None,
    ) -> ClaimProcessor:
        """A batch processor deciding with `engine` and writing to `topics` (default: the
        settings' topics). With `confluent` output, the decision schema is registered (or
        found) under each output topic's subject now: SchemaError or
        SchemaRegistryUnavailableError when the registry refuses or cannot be reached."""
        topics = topics or self.settings.topics
        processing = self.settings.processing
        prefixes = (b"", b"")
        if self.settings.decision_wire_format == "confluent":
            assert self.registry is not None  # Wire.build checked
            prefixes = (
                decision_prefix(self.registry, topics.accepted),
                decision_prefix(self.registry, topics.pended),
            )
        decider = stream_decider(
            engine,
            topics,
            max_value_bytes=processing.max_value_bytes,
            max_lines=processing.max_lines,
            header_len=CONFLUENT_HEADER.size
            if self.settings.input_wire_format == "confluent"
            else 0,
            # Raw values written with a configured writer schema go through the decoder.
            reads_raw=self.settings.writer_schema is None,
            prefixes=prefixes,
            history=history,
            shadow=shadow,
        )
        if isinstance(self.decoder, ConfluentClaimDecoder):
            self._deciders.append(decider.allow_schema_id)
            for schema_id in self.our_schema_ids:
                decider.allow_schema_id(schema_id)
        guard = DeadLetterGuard(processing.dlq_max_ratio, processing.dlq_window)
        return ClaimProcessor(
            decider,
            self.decoder.decode,
            topics,
            guard,
            keep_dead_letters=keep_dead_letters,
            history=history,
        )

    def _learn_schema_id(self, schema_id: int) -> None:
        self.our_schema_ids.add(schema_id)
        for allow in self._deciders:
            allow(schema_id)

    def claim_encoder(self, topic: str | None = None) -> Callable[[Record], bytes]:
        """JSON-form claim → value bytes in the input wire format (for producers: samples, the
        demo, the tests); `confluent` registers our ClaimSubmitted under `<topic>-value`. Only
        the schema is checked: what the validator would pend or dead-letter is written as is."""
        prefix = b""
        if self.settings.input_wire_format == "confluent":
            assert self.registry is not None  # Wire.build checked
            subject = f"{topic or self.settings.topics.input}-value"
            prefix = CONFLUENT_HEADER.pack(0, register_claim_schema(self.registry, subject))

        def encode(claim: Record) -> bytes:
            # The engine's codec writes a plainly written claim (the samples: ~3 us); any
            # other spelling of the JSON form is read in Python first (~50 us).
            body = encode_claim(orjson.dumps(claim))
            if body is None:
                body = claim_body(record_from_json(claim, CLAIM))
            return prefix + body

        return encode
