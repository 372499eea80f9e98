"""The wire formats of one process (SPEC §2.2), built once from settings: the registry client,
the claim decoder, the schema ids that are ours, and the claim encoder for producers.

`raw` needs nothing; `confluent` needs `schema_registry.url`. A process builds one `Wire` and
passes it to whoever needs it, so the registry client and the schema ids exist once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient

from consumer._native import encode_claim
from consumer.codec.decoding import (
    ClaimDecoder,
    ConfluentClaimDecoder,
    DecodeLimits,
    make_claim_decoder,
)
from consumer.codec.encoding import claim_body
from consumer.codec.registry import CONFLUENT_HEADER, register_claim_schema, registry_client
from consumer.errors import ConfigError
from consumer.records.claims import record_from_json
from consumer.records.schemas import CLAIM
from consumer.settings import Settings

Record = dict[str, Any]


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
        self._followers: list[Callable[[int], None]] = []

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

    def follow_schema_ids(self, allow: Callable[[int], None]) -> None:
        """Call `allow` with each `confluent` schema id whose writer schema is ours: those known
        now, and each one the decoder learns later (a decider then reads such records in
        place)."""
        self._followers.append(allow)
        for schema_id in self.our_schema_ids:
            allow(schema_id)

    def _learn_schema_id(self, schema_id: int) -> None:
        self.our_schema_ids.add(schema_id)
        for allow in self._followers:
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
