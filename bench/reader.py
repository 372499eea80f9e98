"""The latency run's read-back consumer, a process of its own (see `bench.pacer`).

    python -m bench.reader --bootstrap HOST:PORT --topics A,B,C --out FILE

Assigns every partition of the topics at their current end (read_committed), prints "ready",
then notes the arrival time of each decision with its `source.partition`/`source.offset`
headers until SIGTERM, and writes (partition, offset, arrival ms) triples to FILE (int64s).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reader")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True)
    parser.add_argument("--group", default="bench-latency-reader")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    reader = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
            "fetch.min.bytes": 1,
        }
    )
    topics = args.topics.split(",")
    metadata = reader.list_topics(timeout=30)
    reader.assign(
        [
            TopicPartition(t, p, reader.get_watermark_offsets(TopicPartition(t, p), 30)[1])
            for t in topics
            for p in metadata.topics[t].partitions
        ]
    )
    print("ready", flush=True)
    arrivals: array[int] = array("q")
    try:
        while not stopping:
            # poll() returns as soon as one record is there (consume(n, t) would wait for n
            # or t); then take whatever else has arrived without waiting.
            first = reader.poll(0.05)
            now_ms = int(time.time() * 1000)
            if first is None:
                continue
            for msg in (first, *reader.consume(10_000, 0)):
                if msg.error() is not None:
                    continue
                headers = dict(msg.headers() or [])
                source = (headers.get("source.partition"), headers.get("source.offset"))
                if source[0] is not None and source[1] is not None:
                    arrivals.extend((int(source[0]), int(source[1]), now_ms))
    finally:
        reader.close()
    args.out.write_bytes(arrivals.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
