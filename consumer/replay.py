"""`infusion-validator replay`: reprocess a bounded range of a topic (SPEC §4).

After an outage, after a rule fix, or to see what a new policy version would change: decide
the records of a range again with its own consumer group (the live group's offsets are never
touched), exactly-once into the normal or prefixed output topics, then stop at the range end.
With `--diff` it only compares two rule sets and writes nothing to Kafka.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

from confluent_kafka import Consumer

from consumer.clients import consumer_config
from consumer.diff import DiffReport
from consumer.engine import Engine
from consumer.errors import DecodeError, RuleSetError
from consumer.producing import create_topics
from consumer.progress import Progress
from consumer.ranges import PartitionRange, read_range, resolve
from consumer.service import build_service
from consumer.settings import Settings, TopicSettings
from consumer.summary import describe_run
from consumer.wire import build_decoder


@dataclass(frozen=True)
class ReplayRequest:
    source: str | None = None
    partitions: list[int] | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    output_prefix: str = ""
    create_topics: bool = False
    rule_set: str | None = None
    group_id: str | None = None
    diff: str | None = None
    report: Path | None = None


def load_engine(spec: str | None, rules_dir: Path | None) -> Engine:
    """From a rule-set file or folder, or by version among the rule sets of `rules_dir`."""
    if spec is None:
        return Engine.load(rules_dir)
    if Path(spec).exists():
        return Engine.load(spec)
    every = Engine.load(rules_dir)
    chosen = [rs for rs in every.rule_sets if rs.version == spec]
    if not chosen:
        raise RuleSetError(
            f"{spec!r} is neither a rule-set file nor a known version "
            f"(known: {', '.join(every.versions)})"
        )
    return Engine(chosen)


def _output_topics(settings: Settings, request: ReplayRequest, source: str) -> TopicSettings:
    topics, prefix = settings.topics, request.output_prefix
    return TopicSettings(
        input=source,
        accepted=prefix + topics.accepted,
        pended=prefix + topics.pended,
        dlq=prefix + topics.dlq,
    )


def run_replay(settings: Settings, request: ReplayRequest) -> int:
    engine = load_engine(request.rule_set, settings.rules)
    source = request.source or settings.topics.input
    group = request.group_id or f"{settings.group_id}-replay-{time.strftime('%Y%m%dT%H%M%S')}"
    topics = _output_topics(settings, request, source)
    replay_settings = settings.model_copy(
        update={
            "topics": topics,
            "group_id": group,
            "processing": settings.processing.model_copy(
                update={"transactional_id": f"{group}-txn"}
            ),
        }
    )
    probe = Consumer(consumer_config(replay_settings, group))
    try:
        ranges = resolve(
            probe,
            source,
            request.partitions,
            from_offset=request.from_offset,
            to_offset=request.to_offset,
            from_time=request.from_time,
            to_time=request.to_time,
        )
        total = sum(r.size for r in ranges)
        print(_describe(source, ranges, total), file=sys.stderr)
        if request.diff:
            return _diff(replay_settings, probe, ranges, engine, request)
    finally:
        probe.close()

    if request.create_topics:
        create_topics(
            replay_settings, dict.fromkeys((topics.accepted, topics.pended), 3) | {topics.dlq: 1}
        )
    # Replaying the DLQ itself: records that still fail stay put instead of being re-appended.
    service = build_service(replay_settings, engine=engine, keep_dead_letters=topics.dlq != source)
    pipeline = service.pipeline
    progress = Progress(total, f"replay {source}")
    pipeline.on_batch = progress.update

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        pipeline.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.perf_counter()
    pipeline.replay(ranges)
    progress.finish()
    print(
        describe_run(service.registry, pipeline.processed, time.perf_counter() - started),
        file=sys.stderr,
    )
    if not pipeline.range_finished:  # stopped early by a signal
        print(
            f"Stopped before the end; run again with --group-id {group} to resume.", file=sys.stderr
        )
        return 130
    print(
        f"Replay complete: decisions in {topics.accepted} / {topics.pended} "
        f"(rule set {', '.join(engine.versions)}, group {group}).",
        file=sys.stderr,
    )
    return 0


def _describe(source: str, ranges: list[PartitionRange], total: int) -> str:
    parts = ", ".join(f"[{r.partition}] {r.start}..{r.end - 1}" for r in ranges if r.size)
    return f"Range of {source}: {total:,} records ({parts or 'nothing to do'})"


def _diff(
    settings: Settings,
    consumer: Consumer,
    ranges: list[PartitionRange],
    base: Engine,
    request: ReplayRequest,
) -> int:
    assert request.diff is not None
    other = load_engine(request.diff, settings.rules)
    decode = build_decoder(settings)
    report = DiffReport(", ".join(base.versions), ", ".join(other.versions))
    progress = Progress(sum(r.size for r in ranges), "diff")
    for msg in read_range(consumer, ranges):
        try:
            claim, _ = decode(msg.value())
        except DecodeError:
            report.undecodable += 1
            continue
        report.add(
            claim, msg.partition() or 0, msg.offset() or 0, base.decide(claim), other.decide(claim)
        )
        progress.update(report.compared + report.undecodable)
    progress.finish()
    print(report.table())
    if request.report:
        report.write(request.report)
        print(f"Report written to {request.report}", file=sys.stderr)
    return 0
