"""Decision latency at a fixed input rate (half the validator's measured maximum).

Latency of one claim = the moment a `read_committed` consumer receives its decision minus the
input record's CreateTime (set when the load generator hands it to librdkafka; the generator
uses linger.ms=1). So it covers the validator's batching, processing, the transaction commit
and the fetch of the decision — what a downstream consumer actually waits. The first two
seconds of the paced run are discarded (warm-up).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from bench.apps import REPO, Workload, _passthrough_cmd, _validator_cmd
from bench.cluster import GroupProgress, produce_values, read_values
from bench.measure import App

WARMUP_CLAIMS = 2000
WARMUP_SECONDS = 2.0


@dataclass
class LatencyResult:
    rate: float  # target input rate, claims/s
    achieved_rate: float
    seconds: float
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _pace(
    bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]], rate: float,
    sent: dict[tuple[int, int], int], done: threading.Event,
) -> None:  # fmt: skip
    def on_delivery(error: KafkaError | None, msg: Any) -> None:
        if error is None:
            sent[(msg.partition(), msg.offset())] = msg.timestamp()[1]

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 1, "enable.idempotence": True}
    )
    started = time.perf_counter()
    i = 0
    while i < len(items):
        due = min(len(items), int((time.perf_counter() - started) * rate))
        while i < due:
            key, value = items[i]
            producer.produce(topic, value, key, on_delivery=on_delivery)
            i += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(60)
    done.set()


def measure_latency(
    w: Workload, rate: float, seconds: float, app_name: str = "validator"
) -> LatencyResult:
    """Run one validator (exactly-once, default settings) on a fresh input at `rate` - or,
    with `app_name="passthrough"`, the minimal exactly-once loop with the same client settings,
    batch size and timeout: the latency floor of one transaction per batch on this broker."""
    run_id = f"latency-{uuid.uuid4().hex[:6]}"
    group = f"bench-{run_id}"
    names = ("input", "accepted", "pended", "dlq", "out")
    topics = {name: f"bench.{run_id}.{name}" for name in names}
    w.cluster.create({t: (1 if n == "dlq" else w.partitions) for n, t in topics.items()})
    count = int(rate * seconds)
    needed = WARMUP_CLAIMS + count
    items = read_values(w.bootstrap, w.input_topic, needed)
    items = (items * (needed // max(len(items), 1) + 1))[:needed]  # a small input: reuse it
    run_w = Workload(**{**w.__dict__, "input_topic": topics["input"]})
    command = _passthrough_cmd if app_name == "passthrough" else _validator_cmd
    cmd, env = command(run_w, topics, group, "exactly_once", 0)
    if app_name == "passthrough":
        cmd = [*cmd, "--trace-source"]
    log_dir = w.out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    app = App(app_name, cmd, env, log_dir / f"{run_id}.log", REPO)
    progress = GroupProgress(w.bootstrap, group, topics["input"])
    reader = Consumer(
        {
            "bootstrap.servers": w.bootstrap,
            "group.id": f"{group}-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
            "fetch.min.bytes": 1,
        }
    )
    sent: dict[tuple[int, int], int] = {}
    arrivals: list[tuple[int, int, float]] = []
    try:
        produce_values(w.bootstrap, topics["input"], items[:WARMUP_CLAIMS])
        deadline = time.monotonic() + 120
        while (progress.committed() or 0) < WARMUP_CLAIMS:
            if not app.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"validator did not take the warm-up:\n{app.tail()}")
            time.sleep(0.1)
        metadata = reader.list_topics(timeout=30)
        reader.assign(
            [
                TopicPartition(t, p, reader.get_watermark_offsets(TopicPartition(t, p), 30)[1])
                for t in (topics["accepted"], topics["pended"], topics["out"])
                for p in metadata.topics[t].partitions
            ]
        )
        done = threading.Event()
        pacer = threading.Thread(
            target=_pace,
            args=(w.bootstrap, topics["input"], items[WARMUP_CLAIMS:], rate, sent, done),
            daemon=True,
        )
        started = time.time()
        pacer.start()
        deadline = time.monotonic() + seconds + 60
        while time.monotonic() < deadline and (not done.is_set() or len(arrivals) < len(sent)):
            # poll() returns as soon as one record is there (consume(n, t) would wait for n
            # or t); then take whatever else has arrived without waiting.
            first = reader.poll(0.05)
            now_ms = time.time() * 1000
            if first is None:
                continue
            batch = [first, *reader.consume(10_000, 0)]
            for msg in batch:
                if msg.error() is not None:
                    continue
                headers = dict(msg.headers() or [])
                arrivals.append(
                    (int(headers["source.partition"]), int(headers["source.offset"]), now_ms)
                )
        pacer.join(5)
        elapsed = time.time() - started
    finally:
        reader.close()
        app.stop()
        progress.close()
        w.cluster.delete(topics.values())
    cutoff = started * 1000 + WARMUP_SECONDS * 1000
    latencies = [
        arrival - sent[key]
        for p, o, arrival in arrivals
        if (key := (p, o)) in sent and sent[key] >= cutoff
    ]
    return LatencyResult(
        rate=rate,
        achieved_rate=len(sent) / max(seconds, 1e-6),
        seconds=elapsed,
        count=len(latencies),
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        max_ms=max(latencies, default=float("nan")),
    )
