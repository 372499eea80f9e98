"""The two processes of the history measurement (`bench.history`), each a process of its own.

    python -m bench.changelog_tool produce --bootstrap B --topic T --partitions P --members N
    python -m bench.changelog_tool restore --bootstrap B --topic T --partitions P

`produce` fills a changelog topic the way the validator does: claims decided by the engine's
own `StreamDecider` against a `consumer._native.History`, whose pending changes
(`History.changelog()`) are produced in a transaction per batch, then committed. Member i gets
`--claims-per-member` claims of 5 lines (sample claims with the ids patched), all in one batch,
so the topic holds one record per member plus each partition's own record.

`restore` loads the rule sets and decides one claim (so the process holds what a validator
holds), then times `consumer.stream.history.restore(...)` of every partition into a fresh `History`
and prints one JSON line: records, members, wall and CPU seconds, RSS before and peak (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson
from confluent_kafka import Producer

from bench.inputs import with_member
from bench.measure import memory_mb
from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.demo.samples import generate_claims
from consumer.engine import Engine
from consumer.records.claims import claim_from_json
from consumer.settings import Settings, TopicSettings
from consumer.stream.processing import stream_decider

TEMPLATES = 1000
BATCH = 5000  # members per transaction


class Msg:
    """The parts of a Kafka message the decider reads."""

    __slots__ = ("_offset", "_partition", "_value")

    def __init__(self, value: bytes, partition: int, offset: int) -> None:
        self._value, self._partition, self._offset = value, partition, offset

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return self._partition

    def topic(self) -> str:
        return "bench.history-input"

    def offset(self) -> int:
        return self._offset


def _templates(seed: int) -> list[bytes]:
    claims = generate_claims(TEMPLATES, seed, lines_per_claim=5, history_events=False)
    return [claim_body(claim_from_json(c)) for c in claims]


def produce(args: argparse.Namespace) -> dict[str, Any]:
    templates = _templates(args.seed)
    engine = Engine.load()
    history = History(400)
    for p in range(args.partitions):
        history.assign(p)
    topics = TopicSettings(input="bench.history-input", accepted="a", pended="p")
    decider = stream_decider(
        engine, topics, max_value_bytes=1 << 20, max_lines=100, history=history
    )
    producer = Producer(
        {"bootstrap.servers": args.bootstrap, "transactional.id": f"bench-{args.topic}",
         "linger.ms": 20, "compression.type": "lz4"}
    )  # fmt: skip
    producer.init_transactions(30)
    started = time.perf_counter()
    records = size = offset = 0
    for first in range(0, args.members, BATCH):
        msgs = []
        for i in range(first, min(first + BATCH, args.members)):
            member = f"HM{args.seed % 10_000:04d}{i:09d}".encode()
            for k in range(args.claims_per_member):
                body = templates[(i + k * 7) % TEMPLATES]
                ids = f"{i}-{k}".encode()
                value = with_member(body, b"hev-" + ids, b"HC" + ids, member)
                msgs.append(Msg(value, i % args.partitions, offset))
                offset += 1
        _, done = decider.process(msgs)
        assert done == len(msgs), f"the engine could not read claim {done} of the batch"
        decider.take_tally()
        producer.begin_transaction()
        for partition, key, record in history.changelog().records():
            while True:
                try:
                    producer.produce(args.topic, record, key, partition=partition)
                    break
                except BufferError:
                    producer.poll(0.05)
            records += 1
            size += len(key) + len(record or b"")
        producer.commit_transaction()
        history.commit()
    members = sum(history.members(p) for p in range(args.partitions))
    return {"records": records, "bytes": size, "members": members,
            "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def restore(args: argparse.Namespace) -> dict[str, Any]:
    from consumer.stream.history import restore as restore_changelog

    # What a validator holds before its first partition is restored.
    engine = Engine.load()
    body = _templates(args.seed)[0]
    engine.native.decide(body)
    rss_before, _ = memory_mb(os.getpid())
    settings = Settings(
        kafka={"bootstrap_servers": args.bootstrap},  # type: ignore[arg-type]
        group_id=f"bench-restore-{args.topic}",
        history={"changelog_topic": args.topic},  # type: ignore[arg-type]
    )
    history = History(400)
    read = [0]

    def on_progress(done: int, _total: int) -> None:
        read[0] = done

    started, cpu_started = time.perf_counter(), time.process_time()
    seconds = restore_changelog(
        settings, history, list(range(args.partitions)), on_progress=on_progress
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss_after, peak = memory_mb(os.getpid())
    members = sum(history.members(p) for p in range(args.partitions))
    return {
        "records": read[0], "members": members, "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3), "rate": round(read[0] / max(wall, 1e-9), 1),
        "per_cpu_second": round(read[0] / max(cpu, 1e-9), 1),
        "partition_seconds": {str(p): round(s, 3) for p, s in seconds.items()},
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
        "peak_rss_mb": round(peak, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.changelog_tool")
    parser.add_argument("command", choices=["produce", "restore"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--claims-per-member", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    result = produce(args) if args.command == "produce" else restore(args)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
