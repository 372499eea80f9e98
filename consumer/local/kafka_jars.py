"""The local Kafka's jars: the version pinned in `deploy/local/kafka-runtime/pom.xml`,
resolved from Maven Central once per version into the tool cache, and the JVM flags its nodes
run with."""

from __future__ import annotations

import logging
import os
import shlex
import time
from pathlib import Path

from consumer.cachedir import cache_root
from consumer.errors import KafkaSetupError
from consumer.local.build import built_once, pom_property, run, which
from consumer.paths import DEPLOY_LOCAL

log = logging.getLogger("consumer.local.kafka")

RUNTIME_POM = DEPLOY_LOCAL / "kafka-runtime" / "pom.xml"
LOG4J_CONFIG = DEPLOY_LOCAL / "log4j2.properties"
# kafka-run-class.sh's performance defaults, which $KAFKA_JVM_PERFORMANCE_OPTS replaces there
# as here (a GC to try, say). The heap is set per instance.
PERFORMANCE_FLAGS = (
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15",
)  # fmt: skip
BASE_FLAGS = (
    "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
    f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
)  # fmt: skip


# Every stop of a node's JVM (GC pauses and the rest), one line each, in the node's dir: the
# bench reads the broker's to show how much of a latency tail is the broker standing still.
SAFEPOINT_LOG = "safepoint.log"


def safepoint_log_flag(node_dir: Path) -> str:
    """Log each safepoint to `node_dir`/SAFEPOINT_LOG, stamped with the wall clock in ms."""
    return f'-Xlog:safepoint:file="{node_dir / SAFEPOINT_LOG}":timemillis'


def jvm_flags() -> list[str]:
    """The nodes' JVM flags, the heap aside."""
    override = os.environ.get("KAFKA_JVM_PERFORMANCE_OPTS", "").strip()
    return [*(shlex.split(override) if override else PERFORMANCE_FLAGS), *BASE_FLAGS]


def pinned_version(pom: Path = RUNTIME_POM) -> str:
    """The Kafka version pinned in the helper POM (its `kafka.version` property)."""
    return pom_property(pom, "kafka.version", KafkaSetupError)


def fetch_jars(version: str | None = None) -> Path:
    """The directory holding the broker's jars; resolved with Maven on first use (safe for
    several processes at once)."""
    version = version or pinned_version()
    which("java", KafkaSetupError)

    def resolve(libs: Path) -> None:
        mvn = which("mvn", KafkaSetupError)
        log.info("resolving Kafka %s jars from Maven", version)
        started = time.monotonic()
        run(
            [mvn, "-B", "-q", "-f", str(RUNTIME_POM), "package",
             f"-Dkafka.version={version}", f"-Dlibs.dir={libs}"],
            f"Maven could not resolve Apache Kafka {version} (is Maven Central reachable?)",
            KafkaSetupError,
        )  # fmt: skip
        log.info("Kafka %s jars ready in %.1fs", version, time.monotonic() - started)

    home = cache_root() / f"kafka-{version}"
    return built_once(home, home / "libs", resolve)
