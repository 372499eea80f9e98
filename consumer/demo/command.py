"""`infusion-validator demo`: the whole product on one machine, from nothing.

Starts a local single-node Kafka when none is configured (`KAFKA_BOOTSTRAP_SERVERS` or
`INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS`), creates the topics, produces a realistic mix of
sample claims plus a few undecodable records, runs the validator (exactly-once) until every
record is decided, prints a summary, and keeps the metrics endpoint up until Ctrl-C.

With `--registry` the records are Confluent-framed Avro (SPEC §2.2): the registry at
`INFUSION_VALIDATOR_SCHEMA_REGISTRY__URL` or `SCHEMA_REGISTRY_URL`, else a local Apicurio
Registry started like the local broker (`consumer.local.registry`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import ExitStack
from typing import Any

from confluent_kafka import Producer

from consumer.codec.wire import Wire
from consumer.demo.samples import generate_claims
from consumer.local.kafka import LocalKafka
from consumer.local.registry import LocalRegistry
from consumer.settings import Settings, load_settings
from consumer.stream.clients import producer_config
from consumer.stream.http import HealthServer
from consumer.stream.producing import create_topics, produce_claims
from consumer.stream.service import build_service
from consumer.stream.summary import describe_run

# What a broken upstream might send: the demo shows these land in the DLQ, not in a crash.
POISON = (b"not avro at all", b"\x00\x00\x00\x00\x07truncated", b"")


def _bootstrap(stack: ExitStack) -> str:
    configured = os.environ.get("INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS") or os.environ.get(
        "KAFKA_BOOTSTRAP_SERVERS"
    )
    if configured:
        print(f"Using the Kafka cluster at {configured}")
        return configured
    print("Starting a local single-node Apache Kafka (KRaft) from the Maven Central jars...")
    kafka = stack.enter_context(LocalKafka())
    print(f"  broker up at {kafka.bootstrap_servers}")
    return kafka.bootstrap_servers


def _registry_url(stack: ExitStack) -> str:
    configured = os.environ.get("INFUSION_VALIDATOR_SCHEMA_REGISTRY__URL") or os.environ.get(
        "SCHEMA_REGISTRY_URL"
    )
    if configured:
        print(f"Using the schema registry at {configured}")
        return configured
    print("Starting a local schema registry (Apicurio Registry, Confluent API)...")
    registry = stack.enter_context(LocalRegistry())
    print(f"  registry up at {registry.url} in {registry.started_in:.0f}s")
    return registry.url


def _describe_schemas(settings: Settings, wire: Wire) -> str:
    """Which registry ids the demo's records and decisions carry."""
    from confluent_kafka.schema_registry import Schema

    from consumer.codec.registry import CONFLUENT_HEADER, decision_prefix
    from consumer.records.schemas import CLAIM, schema_json

    client = wire.registry
    assert client is not None
    subject = f"{settings.topics.input}-value"
    claim_id = client.lookup_schema(subject, Schema(schema_json(CLAIM), "AVRO")).schema_id
    decision_id = CONFLUENT_HEADER.unpack(decision_prefix(client, settings.topics.accepted))[1]
    return (
        f"Confluent framing: claims carry schema id {claim_id} ({subject}), "
        f"decisions schema id {decision_id}"
    )


def run_demo(claims: int, seed: int, port: int, wait: bool, registry: bool = False) -> int:
    with ExitStack() as stack:
        bootstrap = _bootstrap(stack)
        overrides: dict[str, Any] = {
            "kafka": {"bootstrap_servers": bootstrap},
            "http": {"host": "127.0.0.1", "port": port},
            "group_id": f"infusion-validator-demo-{int(time.time())}",
        }
        if registry:
            overrides["schema_registry"] = {"url": _registry_url(stack)}
            overrides["wire_format"] = "confluent"
        settings: Settings = load_settings(**overrides)
        topics = settings.topics
        create_topics(
            settings, {topics.input: 3, topics.accepted: 3, topics.pended: 3, topics.dlq: 1}
        )
        print(
            f"Producing {claims} sample claims (seed {seed}) and {len(POISON)} poison records "
            f"to {topics.input}..."
        )
        wire = Wire.build(settings)  # the registry client and schema ids, once
        produced = produce_claims(settings, generate_claims(claims, seed), wire=wire)
        poison = Producer(producer_config(settings, None))
        for value in POISON:
            poison.produce(topics.input, value, b"poison")
        poison.flush()
        poison.close()
        total = produced + len(POISON)
        if registry:
            print(_describe_schemas(settings, wire))

        service = build_service(settings, wire=wire)
        http = HealthServer("127.0.0.1", port, service.registry, service.readiness)
        stack.callback(http.close)
        print(f"Validating... metrics at http://127.0.0.1:{http.port}/metrics")
        started = time.perf_counter()
        service.pipeline.stop_when = lambda: service.pipeline.processed >= total
        service.pipeline.run()
        print(
            describe_run(
                service.registry, service.pipeline.processed, time.perf_counter() - started
            )
        )
        if wait:
            print(f"Metrics stay up at http://127.0.0.1:{http.port}/metrics; Ctrl-C to stop.")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
    return 0
