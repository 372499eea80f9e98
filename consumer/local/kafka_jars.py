"""The local Kafka's jars: the version pinned in `deploy/local/kafka-runtime/pom.xml`,
resolved from Maven Central once per version into the tool cache, and the JVM flags its nodes
run with."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from consumer.cachedir import cache_root
from consumer.errors import KafkaSetupError
from consumer.local.build import built_once, pom_property, run, which
from consumer.paths import DEPLOY_LOCAL

log = logging.getLogger("consumer.local.kafka")

RUNTIME_POM = DEPLOY_LOCAL / "kafka-runtime" / "pom.xml"
LOG4J_CONFIG = DEPLOY_LOCAL / "log4j2.properties"
JVM_FLAGS = (  # kafka-run-class.sh's defaults; the heap is set per instance
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
)  # fmt: skip


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
