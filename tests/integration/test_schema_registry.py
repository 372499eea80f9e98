"""The `confluent` wire format on the real broker and a real schema registry (SPEC §2.2, §8).

The registry is the session's (`SCHEMA_REGISTRY_URL`, else a local Apicurio Registry); the
restart test starts one of its own so it can stop it. Producers register `ClaimSubmitted` and
write Confluent-framed records; the validator (in this process, so the test can see which
path decided each record) decides them; the decisions are read back with confluent-kafka's own
`AvroDeserializer`, an oracle independent of our codec, and compared with the offline engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.demo.samples import generate_claims
from consumer.errors import SchemaError
from consumer.records.claims import claim_from_json
from consumer.records.schemas import CLAIM, DECISION, schema_json
from consumer.settings import Settings, load_settings
from consumer.stream.pipeline import REGISTRY_BACKOFF_SECONDS
from consumer.stream.producing import produce_claims
from tests.integration.conftest import Registry, start_local_registry
from tests.integration.inprocess import InProcessValidator
from tests.integration.streaming import (
    REPO,
    TopicReader,
    Topics,
    make_topics,
    outcome_of,
    produce_values,
    read_all,
    validate_offline,
    wait_for,
)

CLAIMS = 1500
RETRYING = "schema registry unavailable; retrying"


def confluent_settings(bootstrap: str, topics: Topics, group_id: str, url: str) -> Settings:
    return load_settings(
        kafka={"bootstrap_servers": bootstrap},
        topics={"input": topics.input, "accepted": topics.accepted, "pended": topics.pended,
                "dlq": topics.dlq},
        group_id=group_id,
        schema_registry={"url": url},
        wire_format="confluent",
        processing={"transactional_id": f"{group_id}-svc", "batch_size": 250},
        http={"host": "127.0.0.1", "port": 0},
    )  # fmt: skip


def claim_v2() -> str:
    """Our ClaimSubmitted plus one optional field with a default: BACKWARD compatible."""
    schema = json.loads(schema_json(CLAIM))
    schema["fields"].append({"name": "intake_channel", "type": ["null", "string"], "default": None})
    return json.dumps(schema)


def v2_values(client: SchemaRegistryClient, topic: str, claims: Sequence[dict[str, Any]]) -> list:
    """(key, value) of each claim written by a second producer with `claim_v2` (confluent-kafka's
    AvroSerializer registers it under `<topic>-value` on first use)."""
    serialize = AvroSerializer(client, claim_v2())
    context = SerializationContext(topic, MessageField.VALUE)
    return [
        (
            c["member_id"].encode(),
            serialize({**claim_from_json(c), "intake_channel": "portal"}, context),
        )
        for c in claims
    ]


def frame_id(value: bytes) -> int:
    assert value[0] == 0, f"magic byte {value[0]}, expected 0"
    return int.from_bytes(value[1:5], "big")


def read_decisions(bootstrap: str, url: str, topics: Topics) -> list[tuple[int, dict[str, Any]]]:
    """(schema id, decision) of every committed decision, decoded by AvroDeserializer."""
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": url}))
    return [
        (frame_id(r.value), deserialize(r.value, SerializationContext(r.topic, MessageField.VALUE)))
        for r in read_all(bootstrap, list(topics.decisions))
    ]


@pytest.fixture
def setup(
    kafka_bootstrap: str, topic_factory: Callable[..., str], unique_group_id: str,
    schema_registry: Registry,
) -> Iterator[tuple[Topics, Settings, SchemaRegistryClient]]:  # fmt: skip
    topics = make_topics(topic_factory, 3)
    settings = confluent_settings(kafka_bootstrap, topics, unique_group_id, schema_registry.url)
    client = SchemaRegistryClient({"url": schema_registry.url})
    yield topics, settings, client
    for topic in (*topics.outputs, topics.input):  # keep a long-lived registry tidy
        with contextlib.suppress(SchemaRegistryError):
            client.delete_subject(f"{topic}-value")


def test_framed_claims_are_decided_by_the_compiled_path_and_read_back_with_avro_deserializer(
    setup: tuple[Topics, Settings, SchemaRegistryClient], kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, settings, client = setup
    claims = list(generate_claims(CLAIMS, seed=1801, history_events=False))
    produce_claims(settings, claims)  # the product's producer registers ClaimSubmitted
    claim_id = client.lookup_schema(f"{topics.input}-value", Schema(schema_json(CLAIM), "AVRO"))
    assert {frame_id(r.value) for r in read_all(kafka_bootstrap, [topics.input])} == {
        claim_id.schema_id
    }

    with InProcessValidator(settings) as validator:
        validator.wait_processed(CLAIMS, timeout=120)
        # The first record of the id is read by Python once, which learns that its writer
        # schema is ours; the engine reads every other one where it lies.
        assert validator.python_path == 1, "records were handed to the Python decoder"

    decisions = read_decisions(kafka_bootstrap, settings.schema_registry.url or "", topics)
    decision_ids = {
        client.lookup_schema(f"{t}-value", Schema(schema_json(DECISION), "AVRO")).schema_id
        for t in topics.decisions
    }
    assert {schema_id for schema_id, _ in decisions} == decision_ids
    counts = Counter(d["event_id"] for _, d in decisions)
    assert len(counts) == CLAIMS, "lost"
    assert set(counts.values()) == {1}, "duplicated"
    expected = validate_offline(claims, tmp_path)
    assert {d["event_id"]: outcome_of(d) for _, d in decisions} == expected
    assert not read_all(kafka_bootstrap, [topics.dlq])


def test_a_compatible_second_writer_version_is_decided_the_same(
    setup: tuple[Topics, Settings, SchemaRegistryClient], kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, settings, client = setup
    claims = list(generate_claims(400, seed=1802, history_events=False))
    produce_claims(settings, claims)  # v1, before the validator starts: its compiled path
    again = [{**c, "event_id": f"{c['event_id']}-v2"} for c in claims]
    subject = f"{topics.input}-value"
    assert client.test_compatibility(subject, Schema(claim_v2(), "AVRO"))
    produce_values(kafka_bootstrap, topics.input, v2_values(client, topics.input, again))
    v2_id = client.get_latest_version(subject).schema_id
    assert v2_id != client.lookup_schema(subject, Schema(schema_json(CLAIM), "AVRO")).schema_id

    with InProcessValidator(settings) as validator:
        validator.wait_processed(2 * len(claims), timeout=120)
        # v1 records are read by the engine (after the first, which teaches it the id); v2
        # records (another writer schema) by Python's decoder, then decided by the same engine.
        assert validator.python_path == len(again) + 1

    decisions = {d["event_id"]: outcome_of(d) for _, d in read_decisions(
        kafka_bootstrap, settings.schema_registry.url or "", topics)}  # fmt: skip
    assert len(decisions) == 2 * len(claims)
    # The v2 copies bill the same claims again: the history pends them, in either schema.
    expected = validate_offline(claims + again, tmp_path)
    assert decisions == expected
    originals = [f"{c['event_id']}-v2" for c in claims if c["frequency"] == "ORIGINAL"]
    assert all("history.duplicate-claim" in {r[0] for r in expected[e][2]} for e in originals)
    assert not read_all(kafka_bootstrap, [topics.dlq])


def test_an_incompatible_schema_is_refused_and_our_producer_says_so_in_one_line(
    setup: tuple[Topics, Settings, SchemaRegistryClient], kafka_bootstrap: str
) -> None:
    topics, settings, client = setup
    subject = f"{topics.input}-value"
    produce_claims(settings, generate_claims(1, seed=1803, history_events=False))  # registers v1
    # A new required field without a default: the new schema cannot read the old records.
    breaking = json.loads(claim_v2())
    breaking["fields"][-1] = {"name": "intake_channel", "type": "string"}
    assert not client.test_compatibility(subject, Schema(json.dumps(breaking), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(breaking), "AVRO"))
    # Confluent's registry says error_code 409 too; Apicurio's Confluent API says 0.
    assert refused.value.http_status_code == 409

    # Our producer, on a subject that already holds something ours cannot follow.
    other = json.dumps({"type": "record", "name": "ClaimSubmitted", "namespace": "infusion.claims",
                        "fields": [{"name": "event_id", "type": "long"}]})  # fmt: skip
    client.register_schema(f"{topics.pended}-value", Schema(other, "AVRO"))
    elsewhere = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"input": topics.pended})}
    )
    with pytest.raises(SchemaError, match=rf"refused to register {CLAIM} under subject "
                       rf"{topics.pended}-value: incompatible .* \(HTTP 409"):  # fmt: skip
        produce_claims(elsewhere, generate_claims(1, seed=1803, history_events=False))
    cli = subprocess.run(
        [sys.executable, "-m", "consumer", "produce-sample", "-n", "1",
         "--bootstrap", kafka_bootstrap, "--topic", topics.pended],
        env={**os.environ, "INFUSION_VALIDATOR_SCHEMA_REGISTRY__URL": settings.schema_registry.url
             or "", "INFUSION_VALIDATOR_TOPICS__INPUT": topics.pended},
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert cli.returncode == 2, cli.stderr
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1, cli.stderr
    assert lines[0].startswith(
        f"infusion-validator: error: Schema Registry refused to register {CLAIM}"
    ), cli.stderr
    assert not read_all(kafka_bootstrap, [topics.pended]), "a refused producer wrote records"


def test_registry_down_mid_stream_loses_and_duplicates_nothing_and_dead_letters_nothing(
    kafka_bootstrap: str, topic_factory: Callable[..., str], unique_group_id: str
) -> None:
    """Records that need the registry wait while it is down (the batch is aborted and retried);
    none is dead-lettered for it. The registry keeps its schemas over the restart, as a
    production one does: had it forgotten them, the ids in the records would no longer
    resolve (see consumer/localregistry.py)."""
    registry = start_local_registry()  # our own: this test stops it
    try:
        topics = make_topics(topic_factory, 3)
        settings = confluent_settings(kafka_bootstrap, topics, unique_group_id, registry.url)
        client = SchemaRegistryClient({"url": registry.url})
        before = list(generate_claims(600, seed=1804, history_events=False))
        during = list(generate_claims(600, seed=1805, history_events=False))
        produce_claims(settings, before)
        # The second producer's records are framed now (registering v2); sent once it is down.
        framed = v2_values(client, topics.input, during)
        v2_id = client.get_latest_version(f"{topics.input}-value").schema_id

        reader = TopicReader(kafka_bootstrap, list(topics.outputs))
        with InProcessValidator(settings) as validator:
            reader.wait_for_count(len(before), 120, topics.decisions)
            registry.stop()
            produce_values(kafka_bootstrap, topics.input, framed)
            # The validator meets an id it has not seen and cannot ask about it: it retries.
            wait_for(lambda: validator.logged(RETRYING) >= 3, "three registry retries",
                     timeout=30 + 3 * REGISTRY_BACKOFF_SECONDS)  # fmt: skip
            reader.poll(1.0)
            assert reader.count(topics.decisions) == len(before), "decided without a schema"
            assert reader.count([topics.dlq]) == 0, "dead-lettered while the registry was down"
            registry.start()
            assert SchemaRegistryClient({"url": registry.url}).get_schema(v2_id).schema_str
            decided = reader.wait_for_count(len(before) + len(during), 120, topics.decisions)
            reader.close()

        counts = Counter(d["event_id"] for _, d in read_decisions(
            kafka_bootstrap, registry.url, topics))  # fmt: skip
        expected = {c["event_id"] for c in before + during}
        assert set(counts) == expected, "lost"
        assert set(counts.values()) == {1}, "duplicated"
        assert len(decided) == len(expected)
        assert not read_all(kafka_bootstrap, [topics.dlq])
    finally:
        registry.close()
