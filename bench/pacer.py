"""The latency run's load generator, a process of its own (so its produce loop and the
read-back consumer never wait on one another's GIL, nor on the orchestrator's).

    python -m bench.pacer --bootstrap HOST:PORT --topic T --rate R --items FILE --out FILE

Reads (key, value) pairs from FILE (`bench.pacer.write_items`), produces them to T at R records/s
paced against its start time, and writes (partition, offset, CreateTime ms, acknowledged ms) per
delivered record to --out (int64s). CreateTime is set by librdkafka when `produce()` is called
(linger.ms=1), i.e. the moment the claim enters the pipeline; "acknowledged" is when its delivery
report reached this process (the broker has it): the difference is the load generator's and the
broker's share of a latency, not the app's.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Producer

_LEN = struct.Struct("<i")
_NONE = -1


def write_items(path: Path, items: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Length-prefixed keys and values (-1 for a None key); how many were written."""
    count = 0
    with path.open("wb") as out:
        for key, value in items:
            out.write(_LEN.pack(_NONE if key is None else len(key)))
            if key is not None:
                out.write(key)
            out.write(_LEN.pack(len(value)))
            out.write(value)
            count += 1
    return count


def read_items(path: Path) -> Iterator[tuple[bytes | None, bytes]]:
    data = path.read_bytes()
    p = 0
    while p < len(data):
        (n,) = _LEN.unpack_from(data, p)
        p += 4
        key = None if n == _NONE else data[p : p + n]
        p += max(n, 0)
        (n,) = _LEN.unpack_from(data, p)
        p += 4
        yield key, data[p : p + n]
        p += n


def pace(
    bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]], rate: float
) -> array[int]:
    """Produce at `rate`; (partition, offset, CreateTime, acknowledged) of each delivery,
    flattened."""
    sent: array[int] = array("q")

    def on_delivery(error: KafkaError | None, msg: Any) -> None:
        if error is None:
            acked = int(time.time() * 1000)
            sent.extend((msg.partition(), msg.offset(), msg.timestamp()[1], acked))

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 1, "enable.idempotence": True}
    )
    produce = producer.produce
    started = time.perf_counter()
    i = 0
    while i < len(items):
        due = min(len(items), int((time.perf_counter() - started) * rate))
        while i < due:
            key, value = items[i]
            try:
                produce(topic, value, key, on_delivery=on_delivery)
            except BufferError:
                producer.poll(0.01)
                continue
            i += 1
        producer.poll(0)
        time.sleep(0.001)
    producer.flush(60)
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pacer")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--items", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    items = list(read_items(args.items))
    print("ready", flush=True)
    sys.stdin.readline()  # the orchestrator says go once the reader is in place
    started = time.time()
    sent = pace(args.bootstrap, args.topic, items, args.rate)
    args.out.write_bytes(sent.tobytes())
    print(f"sent {len(sent) // 4} in {time.time() - started:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
