"""A real single-node Apache Kafka broker (KRaft, broker+controller) for the tests and the demo.

The jars come from Maven Central through `deploy/local/kafka-runtime/pom.xml` (which pins the
version) and are cached once per version: no Docker, no Apache mirror.

    with LocalKafka() as kafka:           # temp work dir, free loopback ports
        use(kafka.bootstrap_servers)      # "127.0.0.1:<port>"
        kafka.restart(hard=True)          # SIGKILL, then start again on the same dir and ports

    LocalKafka(scram_users={"alice": "pw"})   # plus a SASL_SSL listener (SCRAM-SHA-512):
        kafka.sasl_ssl_bootstrap_servers  # its address; kafka.tls.ca_path: the CA to trust

CLI: `python -m consumer.local.kafka fetch` only resolves the jars (CI);
`python -m consumer.local.kafka start [--dir DIR] [--port PORT] [--scram-user NAME=PASSWORD
[--sasl-port PORT]]` runs a broker in the foreground (with a SASL_SSL listener when a SCRAM user
is given; its CA is DIR/tls/ca.pem).
"""

from __future__ import annotations

import argparse
import base64
import logging
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from consumer.cachedir import cache_root
from consumer.errors import InfusionValidatorError, KafkaSetupError
from consumer.local.broker_config import Listeners, server_properties
from consumer.local.build import built_once, pom_property, run, which
from consumer.local.process import ChildProcess, LocalComponent, failure, free_port, serve
from consumer.local.process import work_dir as work_dir_of
from consumer.local.tls import LocalTls
from consumer.paths import DEPLOY_LOCAL

log = logging.getLogger(__name__)

_DEPLOY = DEPLOY_LOCAL
RUNTIME_POM = _DEPLOY / "kafka-runtime" / "pom.xml"
LOG4J_CONFIG = _DEPLOY / "log4j2.properties"
_JVM_FLAGS = (  # kafka-run-class.sh's defaults; the heap is set per instance
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


def _cluster_id() -> str:
    while True:  # like Kafka's Uuid.randomUuid(): 22 chars of base64url, never a leading "-"
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class LocalKafka(LocalComponent):
    """A broker subprocess with its own work dir (`server.properties`, `data/`, `broker.log`).

    Ports are chosen on the first `start()` and kept for the object's life, so clients survive
    `restart()`. `extra_config` entries are appended to (and override) the server properties.
    """

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        port: int = 0,
        version: str | None = None,
        heap: str = "512m",
        startup_timeout: float = 90.0,
        extra_config: Mapping[str, str] | None = None,
        scram_users: Mapping[str, str] | None = None,
        sasl_port: int = 0,
    ) -> None:
        self.version = version or pinned_version()
        # SCRAM-SHA-512 users (name -> password), created when the storage is formatted; any
        # user adds a SASL_SSL listener whose certificate is signed by `self.tls`.
        self.scram_users = dict(scram_users or {})
        self._sasl_port = sasl_port
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.extra_config = dict(extra_config or {})
        self.work_dir, self._owns_dir = work_dir_of(work_dir, "localkafka-")
        self.log_path = self.work_dir / "broker.log"
        self._port, self._controller_port = port, 0
        self._child: ChildProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        if not self._port:
            raise KafkaSetupError("LocalKafka has no port yet: call start() first")
        return f"127.0.0.1:{self._port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        if not self._sasl_port:
            raise KafkaSetupError("LocalKafka has no SASL_SSL listener (no scram_users)")
        return f"127.0.0.1:{self._sasl_port}"

    @property
    def tls(self) -> LocalTls:
        """The CA and broker certificate of the SASL_SSL listener (made once per work dir)."""
        return LocalTls.ensure(self.work_dir / "tls")

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child is not None and self.running else None

    def start(self) -> None:
        """Start the broker (formatting the data dir on first use) and wait until it answers."""
        if self.running:
            return
        self.kill()  # reap a broker that died on its own, and close its log
        java = which("java", KafkaSetupError)
        classpath = str(fetch_jars(self.version) / "*")
        self._port = self._port or free_port()
        self._controller_port = self._controller_port or free_port(self._port)
        if self.scram_users and not self._sasl_port:
            self._sasl_port = free_port(self._controller_port)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "server.properties"
        config.write_text(self._server_properties(), "utf-8")
        jvm = [java, f"-Xmx{self.heap}", *_JVM_FLAGS, "-cp", classpath]
        if not (self.work_dir / "data" / "meta.properties").is_file():
            fmt = ["kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)]
            # Without eligible leader replicas (KIP-966, on by default since Kafka 4.1): with
            # them, a kill -9 takes this only replica out of the ISR and it comes back by an
            # unclean election, at the high watermark of its last checkpoint (up to 5 s old),
            # so what it had acknowledged stays unreadable until the partition's next write.
            # The chaos runs read decisions twice that way: offsets and claim history older
            # than the outputs. Without ELR it stays in the ISR and is elected cleanly, as a
            # single-node cluster was before Kafka 4 (test_broker_smoke.py proves it).
            fmt += ["--feature", "eligible.leader.replicas.version=0"]
            for user, password in self.scram_users.items():
                fmt += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
            run([*jvm, *fmt], "formatting the Kafka data dir failed", KafkaSetupError)
        log.info(
            "starting Kafka %s on %s in %s", self.version, self.bootstrap_servers, self.work_dir
        )
        self._child = ChildProcess(
            "Kafka", [*jvm, "kafka.Kafka", str(config)], self.log_path, error=KafkaSetupError
        )
        try:
            self._child.wait_ready(
                self._answers, time.monotonic() + self.startup_timeout, "during start-up"
            )
        except BaseException:
            self.kill()
            raise
        log.info("Kafka ready on %s", self.bootstrap_servers)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL if it is still alive after `grace` s."""
        if self._child is not None:
            self._child.stop(grace)
            self._child = None

    def kill(self) -> None:
        """SIGKILL: an unclean broker death, for chaos tests. The data dir is kept."""
        if self._child is not None:
            log.info("Kafka exited with code %s", self._child.kill())
            self._child = None

    def restart(self, *, hard: bool = False) -> None:
        """Stop (with `hard`: SIGKILL) and start again on the same data dir and ports.

        After a hard kill the controller refuses the broker's new registration until the old
        session expires (`broker.session.timeout.ms`, 9 s by default), so that start is slower.
        """
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def _server_properties(self) -> str:
        keystore = self.tls.keystore_path if self._sasl_port else None
        listeners = Listeners(self._port, self._controller_port, self._sasl_port, keystore)
        return server_properties(listeners, self.work_dir / "data", self.extra_config)

    def _answers(self) -> bool:
        # Port first: an AdminClient aimed at a closed port floods stderr.
        try:
            with socket.create_connection(("127.0.0.1", self._port), timeout=1.0):
                pass
            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            return bool(admin.list_topics(timeout=2.0).brokers)
        except (OSError, KafkaException):
            return False

    def failure(self, message: str) -> InfusionValidatorError:
        """A KafkaSetupError: `message` (one line), then the tail of the broker log."""
        return failure("Kafka", self.log_path, message, KafkaSetupError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.local.kafka", description=__doc__)
    parser.add_argument("command", choices=["fetch", "start"], help="fetch: resolve jars only")
    parser.add_argument("--dir", type=Path, help="start: work dir to keep (default: temp dir)")
    parser.add_argument("--port", type=int, default=0, help="start: client port (default: free)")
    parser.add_argument("--version", help="Kafka version (default: the one pinned in the POM)")
    parser.add_argument(
        "--sasl-port", type=int, default=0, help="start: SASL_SSL port (default: free)"
    )
    parser.add_argument(
        "--scram-user",
        action="append",
        default=[],
        metavar="NAME=PASSWORD",
        help="start: a SCRAM-SHA-512 user; adds a SASL_SSL listener (repeatable)",
    )
    args = parser.parse_args(argv)
    users = dict(user.partition("=")[::2] for user in args.scram_user)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "fetch":
            log.info("Kafka jars in %s", fetch_jars(args.version))
            return 0
        kafka = LocalKafka(
            args.dir, port=args.port, version=args.version, scram_users=users,
            sasl_port=args.sasl_port,
        )  # fmt: skip
        if kafka.scram_users:
            log.info("SASL_SSL (SCRAM-SHA-512) listener; CA: %s", kafka.tls.ca_path)
        return serve(kafka, lambda: kafka.bootstrap_servers)
    except KafkaSetupError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
