"""`infusion-validator run`: wire settings, engine, codecs, metrics, HTTP and the Kafka loop.

Start-up checks everything before it touches Kafka state (SPEC §10): the clients' properties,
the HTTP port, the rule set, then the brokers, credentials, TLS and topics - each failure one
line and a non-zero exit. Only then does the loop call init_transactions, which fences a running
instance with the same transactional id. After that the service runs until SIGTERM/SIGINT, then
finishes its batch, commits, leaves the group and returns 0.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from consumer import __version__
from consumer._native import History
from consumer.codec.wire import Wire
from consumer.engine import RULE_IDS, Engine
from consumer.errors import ConfigError
from consumer.settings import Settings
from consumer.stream.history import ensure_changelog_topic
from consumer.stream.http import HealthServer
from consumer.stream.metrics import Metrics
from consumer.stream.pipeline import Pipeline
from consumer.stream.preflight import check_client_properties, check_cluster
from consumer.stream.processing import DLQ_ERROR_CLASSES, build_processor
from consumer.stream.signals import Signals

log = logging.getLogger(__name__)

# Consumption counts as stalled when nothing was committed for this long while lag is > 0.
STALL_SECONDS = 60.0
# Tracked objects allocated (net of those freed) before a gen-0 collection: above the ~16,000
# a default batch holds at its peak (`build_service`).
GC_GEN0_THRESHOLD = 50_000


@dataclass
class Service:
    settings: Settings
    engine: Engine
    wire: Wire
    registry: CollectorRegistry
    metrics: Metrics
    pipeline: Pipeline

    def readiness(self) -> tuple[bool, str]:
        """Ready: partitions assigned, their claim history restored, librdkafka fetching from
        them, and the loop commits what it fetches. Records fetched and not committed within
        the transaction timeout mean it is stuck (e.g. a broker restart it is recovering
        from), whatever the lag gauge - updated only by the consumer's statistics, so possibly
        stale - says."""
        pipeline = self.pipeline
        if not pipeline.assigned:
            return False, "no partitions assigned"
        if pipeline.restoring:
            return False, f"restoring history of partition(s) {sorted(pipeline.restoring)}"
        stalled = pipeline.fetching.stalled()
        if stalled:
            which = ", ".join(f"{s.partition} ({s.state})" for s in stalled)
            seconds = max(s.seconds for s in stalled)
            return False, f"not fetching: partition(s) {which} for {seconds:.0f}s"
        stuck = pipeline.stuck_for()
        if stuck > self.settings.processing.transaction_timeout_ms / 1000:
            return False, f"stuck: fetched records not committed for {stuck:.0f}s"
        idle = time.time() - pipeline.last_progress
        if idle > STALL_SECONDS and sum(pipeline.lag.values()) > 0:
            return False, f"stalled: no progress for {idle:.0f}s with lag"
        return True, f"ready: {len(pipeline.assigned)} partition(s)"


def new_registry() -> CollectorRegistry:
    """Our own registry (never the global one), with the process and runtime collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def build_service(
    settings: Settings,
    *,
    engine: Engine | None = None,
    keep_dead_letters: bool = True,
    registry: CollectorRegistry | None = None,
    changelog: bool = True,
    wire: Wire | None = None,
) -> Service:
    """Everything `run` (or a replay) needs, checked: raises a one-line error instead of
    starting half-way. The only Kafka state it may change: it creates the history changelog
    when it is missing (`changelog`: the live service; a replay keeps its history in memory).
    `wire`: the process's wire formats, when the caller built them already.
    """
    check_client_properties(settings)
    engine = engine or Engine.load(settings.rules)
    shadow = (
        Engine.choose(settings.shadow.rule_set, settings.rules)
        if settings.shadow.rule_set
        else None
    )
    topics = settings.topics
    wanted = [topics.input, topics.accepted, topics.pended, topics.dlq]
    limits = check_cluster(
        settings, wanted + ([settings.shadow.topic] if settings.shadow.topic else [])
    )
    history = History(settings.history.retention_days) if settings.history.enabled else None
    if history is not None and changelog:
        ensure_changelog_topic(settings)
    registry = registry or new_registry()
    metrics = Metrics(registry, RULE_IDS, DLQ_ERROR_CLASSES)
    metrics.describe_build(engine.policy_id, engine.versions)
    if shadow is not None:
        metrics.describe_shadow(shadow.versions)
    wire = wire or Wire.build(settings)
    # Under exactly-once the engine keeps the decisions and produces them itself (ADR 0006).
    processing = settings.processing
    keep = processing.guarantee == "exactly_once" and processing.native_produce
    processor = build_processor(
        wire,
        engine,
        keep_dead_letters=keep_dead_letters,
        history=history,
        shadow=shadow,
        keep_decisions=keep,
    )
    processor.dlq_max_bytes = limits.dlq_max_bytes
    pipeline = Pipeline(
        settings,
        processor,
        metrics,
        largest_record=limits.dlq_max_bytes or 0,
        changelog_topic=settings.changelog_topic if changelog else None,
    )
    # What is loaded now (rule sets, the ICD-10-CM tables: ~630,000 objects) lives as long as
    # the process. A full cyclic-GC pass over it takes ~140 ms, a stall in whatever batch it
    # lands in; frozen, the collector only walks what the stream allocates.
    gc.freeze()
    # A batch's own garbage (its messages, the output tuples and header lists: about 8
    # tracked objects a claim) lives until the batch is produced, then goes at once. With
    # the default gen-0 threshold of 700 the collector ran some 20 times a 2,000-claim batch
    # and walked most of them (2 % of the service's CPU, perf). Above a batch's peak, it runs
    # about when the garbage is gone already.
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    return Service(settings, engine, wire, registry, metrics, pipeline)


def run(settings: Settings, signals: Signals) -> int:
    """The service until a signal; `signals` was installed before the settings were read."""
    log.info("starting", extra={"version": __version__, "settings": settings.masked()})
    started = time.monotonic()
    registry = new_registry()
    services: list[Service] = []

    def readiness() -> tuple[bool, str]:
        return services[0].readiness() if services else (False, "starting")

    try:
        http = HealthServer(settings.http.host, settings.http.port, registry, readiness)
    except OSError as exc:
        raise ConfigError(
            f"http.port {settings.http.port} on {settings.http.host}: cannot listen "
            f"({exc.strerror}); another process may hold it"
        ) from None
    try:
        service = build_service(settings, registry=registry)
        services.append(service)
        signals.running(service.pipeline.stop)
        log.info("started", extra={"seconds": round(time.monotonic() - started, 3)})
        service.pipeline.run()
    finally:
        http.close()
    log.info("stopped", extra={"processed": service.pipeline.processed})
    return 0
