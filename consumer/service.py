"""`infusion-validator run`: wire settings, engine, codecs, metrics, HTTP and the Kafka loop.

Start-up fails fast with one line (bad settings, bad rule file, unreachable brokers, missing
topics); after that the service runs until SIGTERM/SIGINT, then finishes its batch, commits,
leaves the group and returns 0.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from dataclasses import dataclass
from types import FrameType

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from consumer import __version__
from consumer.clients import check_cluster
from consumer.engine import RULE_IDS, Engine
from consumer.http import HealthServer
from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from consumer.processing import ENGINE_ERROR
from consumer.settings import Settings
from consumer.wire import DLQ_ERROR_CLASSES, Wire

log = logging.getLogger(__name__)

# Consumption counts as stalled when nothing was committed for this long while lag is > 0.
STALL_SECONDS = 60.0


@dataclass
class Service:
    settings: Settings
    engine: Engine
    registry: CollectorRegistry
    metrics: Metrics
    pipeline: Pipeline

    def readiness(self) -> tuple[bool, str]:
        pipeline = self.pipeline
        if not pipeline.assigned:
            return False, "no partitions assigned"
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
    settings: Settings, *, engine: Engine | None = None, keep_dead_letters: bool = True
) -> Service:
    """Everything `run` (or a replay) needs, checked: raises a one-line error instead of
    starting half-way."""
    engine = engine or Engine.load(settings.rules)
    topics = settings.topics
    check_cluster(settings, [topics.input, topics.accepted, topics.pended, topics.dlq])
    registry = new_registry()
    metrics = Metrics(registry, RULE_IDS, (*DLQ_ERROR_CLASSES, ENGINE_ERROR))
    metrics.describe_build(engine.policy_id, engine.versions)
    processor = Wire.build(settings).processor(engine, keep_dead_letters=keep_dead_letters)
    pipeline = Pipeline(settings, processor, metrics)
    # What is loaded now (rule sets, the ICD-10-CM tables: ~630,000 objects) lives as long as
    # the process. A full cyclic-GC pass over it takes ~140 ms, a stall in whatever batch it
    # lands in; frozen, the collector only walks what the stream allocates.
    gc.freeze()
    return Service(settings, engine, registry, metrics, pipeline)


def run(settings: Settings) -> int:
    log.info("starting", extra={"version": __version__, "settings": settings.masked()})
    service = build_service(settings)
    http = HealthServer(settings.http.host, settings.http.port, service.registry, service.readiness)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown requested", extra={"signal": signal.Signals(signum).name})
        service.pipeline.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.pipeline.run()
    finally:
        http.close()
    log.info("stopped", extra={"processed": service.pipeline.processed})
    return 0
