"""The Python ceiling: a minimal confluent-kafka consume → produce loop moving the same bytes.

Same librdkafka settings (`consumer.stream.clients`), the same batch size and timeout and the same
transaction per batch as the validator; the only thing missing is the validator's own work
(decode, decide, encode, headers, metrics). validator / passthrough is therefore the share of
the Python ceiling the product keeps.

    python -m bench.passthrough --bootstrap HOST:PORT --input T --output T2 --group G \
        [--guarantee exactly_once|at_least_once] [--transactional-id ID] [--trace-source] \
        [--changelog T3]

`--trace-source` adds the validator's `source.partition`/`source.offset` headers, so the
latency run can match outputs to inputs (the throughput rows run without it).

`--changelog T3` also produces, per input record, one record to T3 (compacted, as many
partitions as the input): the input's key, the first 100 bytes of its value, the input's
partition, in the batch's transaction. The validator's claim history writes one such record
per member a batch changed (so at most one per claim); this measures that record's cost alone,
without the history's own work.

Runs until SIGTERM/SIGINT; the harness measures it by its group's committed offsets.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from consumer.settings import Settings
from consumer.stream.clients import consumer_config, producer_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--guarantee", default="exactly_once")
    parser.add_argument("--transactional-id", default="bench-passthrough")
    parser.add_argument("--trace-source", action="store_true")
    parser.add_argument("--changelog", help="also one ~100-byte record per input to this topic")
    args = parser.parse_args(argv)

    settings = Settings(
        kafka={"bootstrap_servers": args.bootstrap},  # type: ignore[arg-type]
        processing={  # type: ignore[arg-type]
            "guarantee": args.guarantee,
            "transactional_id": args.transactional_id,
        },
    )
    exactly_once = args.guarantee == "exactly_once"
    batch_size = settings.processing.batch_size
    timeout = settings.processing.batch_timeout_ms / 1000
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _msg: Any) -> None:
        if error is not None:
            errors.append(error)

    consumer = Consumer(consumer_config(settings, args.group))
    if exactly_once:
        producer = Producer(producer_config(settings, args.transactional_id))
        producer.init_transactions(30)
    else:
        producer = Producer(producer_config(settings, None, on_delivery=on_delivery))

    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.subscribe([args.input])
    output, changelog, produce = args.output, args.changelog, producer.produce
    try:
        while not stopping:
            messages = consumer.consume(batch_size, timeout)
            if not messages:
                continue
            nxt: dict[tuple[str, int], int] = {}
            if exactly_once:
                producer.begin_transaction()
            for msg in messages:
                if msg.error() is not None:
                    raise KafkaException(msg.error())
                headers = None
                if args.trace_source:
                    headers = [
                        ("source.partition", str(msg.partition()).encode()),
                        ("source.offset", str(msg.offset()).encode()),
                    ]
                value, key = msg.value(), msg.key()
                while True:
                    try:
                        produce(output, value, key, headers=headers)
                        break
                    except BufferError:
                        producer.poll(0.1)
                # Co-partitioned with the input, like the history changelog (explicit partition,
                # not the key's hash), and in the same transaction as the output and offsets.
                if changelog:
                    record = (value or b"")[:100]
                    while True:
                        try:
                            produce(changelog, record, key, partition=msg.partition())
                            break
                        except BufferError:
                            producer.poll(0.1)
                nxt[(msg.topic(), msg.partition())] = msg.offset() + 1
            offsets = [TopicPartition(t, p, o) for (t, p), o in nxt.items()]
            if exactly_once:
                producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata())
                producer.commit_transaction()
            else:
                producer.flush()
                if errors:
                    raise KafkaException(errors[0])
                consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
        producer.flush(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
