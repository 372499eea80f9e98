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

from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.codec.wire import Wire
from consumer.engine import Engine
from consumer.errors import DecodeError
from consumer.progress import Progress
from consumer.replay.bounds import RangeBounds, resume_points
from consumer.replay.diff import DiffReport
from consumer.replay.ranges import PartitionRange, read_range, resolve
from consumer.replay.rebuild import rebuild_history
from consumer.settings import Settings, TopicSettings
from consumer.stream.clients import consumer_config
from consumer.stream.producing import create_topics
from consumer.stream.service import build_service
from consumer.stream.summary import describe_run


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


def _output_topics(settings: Settings, request: ReplayRequest, source: str) -> TopicSettings:
    topics, prefix = settings.topics, request.output_prefix
    return TopicSettings(
        input=source,
        accepted=prefix + topics.accepted,
        pended=prefix + topics.pended,
        dlq=prefix + topics.dlq,
    )


def run_replay(settings: Settings, request: ReplayRequest) -> int:
    engine = Engine.choose(request.rule_set, settings.rules)
    source = request.source or settings.topics.input
    group = request.group_id or f"{settings.group_id}-replay-{time.strftime('%Y%m%dT%H%M%S')}"
    topics = _output_topics(settings, request, source)
    # Dead-lettered records were never recorded in any member's history, and the DLQ's
    # partitions are not the input's: they are decided without it.
    from_dlq = source == settings.topics.dlq
    replay_settings = settings.model_copy(
        update={
            "topics": topics,
            "group_id": group,
            "processing": settings.processing.model_copy(
                update={"transactional_id": f"{group}-txn"}
            ),
            "history": settings.history.model_copy(
                update={"enabled": settings.history.enabled and not from_dlq}
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
    service = build_service(
        replay_settings, engine=engine, keep_dead_letters=topics.dlq != source, changelog=False
    )
    pipeline = service.pipeline
    # An earlier run of this group killed mid-batch left a transaction open: fence it first,
    # so the group's committed offsets are settled when they are read.
    pipeline.start_transactions()
    starts = resume_points(pipeline.consumer, ranges)
    if from_dlq and settings.history.enabled:
        print("Replaying the DLQ: decided without the claim history.", file=sys.stderr)
    history = pipeline.processor.history
    if history is not None:
        rebuild_history(replay_settings, service.wire, history, starts)

        def rebuild(committed: dict[tuple[str, int], int]) -> None:
            rebuild_history(replay_settings, service.wire, history, committed)

        # A commit the broker reported done and did not keep: rebuilt to where the group is.
        pipeline.rebuild_from_input = rebuild
    already = sum(starts[(r.topic, r.partition)] - r.start for r in ranges)
    if already:
        print(
            f"Resuming group {group}: {already:,} of {total:,} records were replayed by an "
            f"earlier run; this run replays the other {total - already:,}.",
            file=sys.stderr,
        )
    progress = Progress(total, f"replay {source}", done=already)
    pipeline.on_batch = lambda processed: progress.update(already + processed)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        pipeline.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.perf_counter()
    bounds = RangeBounds(ranges, starts)
    pipeline.run_assigned(starts, bounds)
    progress.finish()
    print(
        describe_run(service.registry, pipeline.processed, time.perf_counter() - started),
        file=sys.stderr,
    )
    if not bounds.finished:  # stopped early by a signal
        print(
            f"Stopped before the end; run again with --group-id {group} to resume.", file=sys.stderr
        )
        return 130
    earlier = f"; {already:,} by an earlier run" if already else ""
    print(
        f"Replay complete: {pipeline.processed:,} records decided by this run{earlier}; "
        f"decisions in {topics.accepted} / {topics.pended} "
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
    other = Engine.choose(request.diff, settings.rules)
    wire = Wire.build(settings)
    max_lines = settings.processing.max_lines
    history = History(settings.history.retention_days) if settings.history.enabled else None
    if history is not None:  # both rule sets decide against the history the stream had
        rebuild_history(settings, wire, history, {(r.topic, r.partition): r.start for r in ranges})
    report = DiffReport(", ".join(base.versions), ", ".join(other.versions))
    progress = Progress(sum(r.size for r in ranges), "diff")
    for batch in read_range(consumer, ranges):
        bodies = [wire.body(msg.value()) for msg in batch]
        partitions = [msg.partition() or 0 for msg in batch]
        differences, unreadable, resent = base.compare(
            other, bodies, max_lines, history, partitions
        )
        resent_indexes, undecodable = set(resent), set()
        for index in unreadable:  # another writer schema, or not a claim at all
            try:
                claim = wire.decoder.decode(batch[index].value())
            except DecodeError:
                undecodable.add(index)
                continue
            again = [claim_body(claim)], max_lines, history, [partitions[index]]
            decoded, _, resent_again = base.compare(other, *again)
            differences[index] = decoded[0]
            if resent_again:
                resent_indexes.add(index)
        report.undecodable += len(undecodable)
        report.resent += len(resent_indexes)
        for index, (msg, difference) in enumerate(zip(batch, differences, strict=True)):
            if index not in resent_indexes and index not in undecodable:
                report.add(msg.partition() or 0, msg.offset() or 0, difference)
        progress.update(report.compared + report.undecodable + report.resent)
    progress.finish()
    print(report.table())
    if request.report:
        report.write(request.report)
        print(f"Report written to {request.report}", file=sys.stderr)
    return 0
