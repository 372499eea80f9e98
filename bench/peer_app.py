"""The peer: the validator's decode + rules + encode in a Quix Streams application with
exactly-once, i.e. what a Python user would build instead of our own Kafka loop.

It runs in its own virtual environment (Quix Streams 3.x pins confluent-kafka < 2.12, we need
≥ 2.13), with the repository on PYTHONPATH so it imports *our* `consumer` package: the same
decision code as the validator (`ClaimProcessor`: the compiled engine, and the decoder for
what it cannot read in place). So the two rows differ only in the Kafka loop around it.
Quix's own defaults are kept (commit every 5 s, `poll()` one message at a time), as a user
would get them.

    python bench/peer_app.py --bootstrap HOST:PORT --input T --accepted A --pended P --group G
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from quixstreams import Application, message_context
from quixstreams.models.serializers import Serializer

from consumer.codec.wire import Wire
from consumer.engine import Engine
from consumer.settings import Settings, TopicSettings
from consumer.stream.processing import build_processor


class Record:
    """The parts of a Kafka message the processor reads, from Quix's message context."""

    __slots__ = ("_offset", "_partition", "_topic", "_value")

    def __init__(self, value: bytes, topic: str, partition: int, offset: int) -> None:
        self._value, self._topic, self._partition, self._offset = value, topic, partition, offset

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)


class DecisionBytes(Serializer):
    """The value is (accepted?, encoded decision): write the bytes."""

    def __call__(self, value: tuple[bool, bytes], ctx: Any) -> bytes:
        return value[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/peer_app.py")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--accepted", required=True)
    parser.add_argument("--pended", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--guarantee", default="exactly-once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    settings = Settings(kafka={"bootstrap_servers": args.bootstrap})  # type: ignore[arg-type]
    topics = TopicSettings(input=args.input, accepted=args.accepted, pended=args.pended)
    processor = build_processor(Wire.build(settings), Engine.load(), topics)

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee=args.guarantee,
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="bytes")
    accepted = app.topic(args.accepted, key_serializer="bytes", value_serializer=DecisionBytes())
    pended = app.topic(args.pended, key_serializer="bytes", value_serializer=DecisionBytes())

    def decide(value: bytes) -> tuple[bool, bytes]:
        ctx = message_context()
        topic, out, _headers = processor.process_batch(
            [Record(value, ctx.topic, ctx.partition, ctx.offset)]
        )[0]
        processor.tally.clear()  # Quix keeps no metrics of ours
        return topic == args.accepted, out

    sdf = app.dataframe(source).apply(decide)
    sdf.to_topic(lambda value, _key, _ts, _headers: accepted if value[0] else pended)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
