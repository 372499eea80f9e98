"""The engine producing a batch's decisions and changelog records on a confluent-kafka
producer's own handle (consumer.stream.native_producer, native/src/py/producing.rs). No broker:
records stay queued in the producer (`len(producer)` counts them with its own events); the
integration tests run it on a real broker, where the records are read back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from consumer._native import Changelog, History, NativeProducer, encode_claim
from consumer.codec.encoding import claim_body
from consumer.codec.wire import Wire
from consumer.demo.samples import generate_claims
from consumer.engine import Engine
from consumer.settings import load_settings
from consumer.stream.native_producer import loaded_librdkafka, native_producer
from consumer.stream.processing import build_processor
from tests.claim_examples import FakeMessage, claim_record

# Nothing listens there: records wait in the producer's queue.
NOWHERE = "127.0.0.1:9"


@pytest.fixture
def producer() -> Iterator[Producer]:
    made = Producer({"bootstrap.servers": NOWHERE, "client.id": "unit", "log_level": 0})
    yield made
    made.purge()


def changelog(claims: int, partition: int = 1) -> Changelog:
    """The changelog of `claims` sample claims recorded on `partition`."""
    history = History(400)
    history.assign(partition)
    bodies = [encode_claim(orjson.dumps(c)) for c in generate_claims(claims, 7, lines_per_claim=2)]
    assert history.record(partition, [b for b in bodies if b is not None]) == []
    return history.changelog()


def test_the_library_confluent_kafka_loaded_is_found() -> None:
    path = loaded_librdkafka()
    assert path is not None
    assert Path(path).name.startswith("librdkafka")
    assert Path(path).is_file()


def test_a_changelog_is_produced_whole_on_the_producers_queue(producer: Producer) -> None:
    native = native_producer(producer, "unit")
    assert isinstance(native, NativeProducer)
    records = changelog(40)
    assert len(records) == len(records.records()) > 20  # members, and the partition's own
    assert records.produce(native, "claims.history") == len(records)
    assert len(producer) >= len(records)


def test_a_full_queue_stops_the_batch_where_it_resumes() -> None:
    small = Producer(
        {"bootstrap.servers": NOWHERE, "client.id": "unit", "queue.buffering.max.messages": 10}
    )
    native = native_producer(small, "unit")
    assert native is not None
    records = changelog(40)
    assert records.produce(native, "claims.history") == 10
    assert len(small) >= 10
    small.purge()
    small.poll(0)  # the purged records' reports served: room again
    assert records.produce(native, "claims.history", 10) == 20
    small.purge()
    small.poll(0)
    assert records.produce(native, "claims.history", len(records) - 3) == len(records)
    small.purge()


def test_a_refused_record_raises_as_produce_would() -> None:
    # A transactional producer refuses records outside a transaction.
    config = {"bootstrap.servers": NOWHERE, "client.id": "unit", "transactional.id": "unit"}
    transactional = Producer(config)
    native = native_producer(transactional, "unit")
    assert native is not None
    with pytest.raises(KafkaException) as raised:
        changelog(3).produce(native, "claims.history")
    with pytest.raises(KafkaException) as expected:
        transactional.produce("claims.history", b"v", b"k", partition=1)
    assert raised.value.args[0].code() == expected.value.args[0].code() == KafkaError._STATE


def test_a_closed_producer_is_refused() -> None:
    closing = Producer({"bootstrap.servers": NOWHERE, "client.id": "unit"})
    native = native_producer(closing, "unit")
    assert native is not None
    closing.close(0)
    with pytest.raises(RuntimeError, match="closed"):
        changelog(3).produce(native, "claims.history")


def test_another_client_id_falls_back_to_produce(
    producer: Producer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert native_producer(producer, "someone-else") is None
    assert "Producer.produce" in caplog.text
    assert "unit#producer-" in caplog.text


def test_only_a_confluent_kafka_producer_is_taken() -> None:
    with pytest.raises(ValueError, match=r"not a confluent_kafka\.Producer"):
        NativeProducer(object(), loaded_librdkafka() or "", "unit")  # type: ignore[arg-type]


def test_kept_decisions_are_produced_with_their_headers(producer: Producer) -> None:
    native = native_producer(producer, "unit")
    assert native is not None
    processor = build_processor(Wire.build(load_settings()), Engine.load(), keep_decisions=True)
    batch = [FakeMessage(claim_body(claim_record(event_id=f"E-{i}")), _offset=i) for i in range(5)]
    processor.process_batch(batch)
    decisions = processor.take_decisions()
    assert decisions.produce(native) == len(decisions) == 5
    assert len(producer) >= 5
    assert all(len(headers) == 5 for _, _, _, headers in decisions.records())
