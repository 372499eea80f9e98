"""A real single-broker Apache Kafka (KRaft: a controller process and a broker process) for the
tests and the demo (`broker_config` says why two processes).

The jars come from Maven Central through `deploy/local/kafka-runtime/pom.xml` (which pins the
version) and are cached once per version: no Docker, no Apache mirror.

    with LocalKafka() as kafka:           # temp work dir, free loopback ports
        use(kafka.bootstrap_servers)      # "127.0.0.1:<port>"
        kafka.restart(hard=True)          # SIGKILL the broker, start it again (same dir and ports)

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
from collections.abc import Callable, Mapping
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from consumer.errors import InfusionValidatorError, KafkaSetupError
from consumer.local.broker_config import (
    BROKER_ID,
    ELR_VERSION,
    Listeners,
    broker_properties,
    controller_properties,
)
from consumer.local.build import run, which
from consumer.local.kafka_jars import fetch_jars, jvm_flags, pinned_version, safepoint_log_flag
from consumer.local.process import ChildProcess, LocalComponent, failure, free_port, serve
from consumer.local.process import work_dir as work_dir_of
from consumer.local.tls import LocalTls

log = logging.getLogger(__name__)

NodeProperties = Callable[[Listeners, Path, Mapping[str, str]], str]


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _new_cluster_id() -> str:
    while True:  # like Kafka's Uuid.randomUuid(): 22 chars of base64url, never a leading "-"
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class LocalKafka(LocalComponent):
    """A controller and a broker subprocess in one work dir (`server.properties`, `data/`,
    `broker.log` for the broker; `controller/` with the same three for the controller).

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
        self.controller_dir = self.work_dir / "controller"
        self.controller_log_path = self.controller_dir / "broker.log"
        self._port, self._controller_port = port, 0
        self._child: ChildProcess | None = None  # the broker
        self._controller: ChildProcess | None = None

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
        alive = self._child is not None and self._child.alive
        return alive and self._controller is not None and self._controller.alive

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child is not None and self.running else None

    def start(self) -> None:
        """Start the controller and the broker (formatting their data dirs on first use) and
        wait until the broker answers."""
        if self.running:
            return
        self._reap()
        if (self.work_dir / "data").is_dir() and not self.controller_dir.is_dir():
            raise KafkaSetupError(
                f"{self.work_dir} holds a broker of an older layout (one combined node): delete it"
            )
        java = which("java", KafkaSetupError)
        classpath = str(fetch_jars(self.version) / "*")
        self._port = self._port or free_port()
        self._controller_port = self._controller_port or free_port(self._port)
        if self.scram_users and not self._sasl_port:
            self._sasl_port = free_port(self._controller_port)
        jvm = [java, f"-Xmx{self.heap}", *jvm_flags(), "-cp", classpath]
        try:
            if self._controller is None:
                self._controller = self._launch(jvm, self.controller_dir, controller_properties)
                self._controller.wait_ready(
                    lambda: _listens(self._controller_port),
                    time.monotonic() + self.startup_timeout,
                    "during start-up",
                )
            self._child = self._launch(jvm, self.work_dir, broker_properties)
            self._child.wait_ready(
                self._answers, time.monotonic() + self.startup_timeout, "during start-up"
            )
        except BaseException:
            self.stop(grace=0)
            raise
        log.info("Kafka ready on %s", self.bootstrap_servers)

    def _launch(self, jvm: list[str], home: Path, properties: NodeProperties) -> ChildProcess:
        """Write `home`/server.properties, format `home`/data on first use, start the node."""
        home.mkdir(parents=True, exist_ok=True)
        config = home / "server.properties"
        keystore = self.tls.keystore_path if self._sasl_port else None
        listeners = Listeners(self._port, self._controller_port, self._sasl_port, keystore)
        config.write_text(properties(listeners, home / "data", self.extra_config), "utf-8")
        controller = home == self.controller_dir
        if not (home / "data" / "meta.properties").is_file():
            fmt = ["kafka.tools.StorageTool", "format", "-t", self._cluster_id(), "-c", str(config)]
            if controller:  # the cluster's features and users live in its metadata log
                fmt += ["--feature", f"eligible.leader.replicas.version={ELR_VERSION}"]
                for user, password in self.scram_users.items():
                    fmt += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
            run([*jvm, *fmt], "formatting the Kafka data dir failed", KafkaSetupError)
        name = "Kafka controller" if controller else "Kafka"
        log.info("starting %s %s in %s", name, self.version, home)
        command = [*jvm, safepoint_log_flag(home), "kafka.Kafka", str(config)]
        return ChildProcess(name, command, home / "broker.log", error=KafkaSetupError)

    def _cluster_id(self) -> str:
        """The cluster id both nodes are formatted with (the controller's, once it has one)."""
        meta = self.controller_dir / "data" / "meta.properties"
        if meta.is_file():
            for line in meta.read_text("utf-8").splitlines():
                if line.startswith("cluster.id="):
                    return line.partition("=")[2]
        return _new_cluster_id()

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (the broker's controlled shutdown, then the controller), then SIGKILL what
        is still alive after `grace` s."""
        for child in (self._child, self._controller):
            if child is not None:
                child.stop(grace)
        self._child = self._controller = None

    def kill(self) -> None:
        """SIGKILL the broker: an unclean broker death, for chaos tests. The controller stays
        up (and fences it); the data dir is kept."""
        if self._child is not None:
            log.info("Kafka exited with code %s", self._child.kill())
            self._child = None

    def _reap(self) -> None:
        """Forget a node that died on its own (and close its log)."""
        if self._child is not None and not self._child.alive:
            self.kill()
        if self._controller is not None and not self._controller.alive:
            self._controller.kill()
            self._controller = None

    def restart(self, *, hard: bool = False) -> None:
        """Stop the broker (with `hard`: SIGKILL) and start it again on the same data dir and
        ports; the controller stays up.

        After a hard kill the broker is started again only once the controller has fenced
        it (`broker.session.timeout.ms`, 4 s here): a broker that comes back earlier is
        refused registration until then, and meanwhile takes the lead of its partitions on
        the old registration's word, which the fence then withdraws (see `broker_config`).
        """
        if not hard:
            if self._child is not None:
                self._child.stop(30.0)
                self._child = None
            self.start()
            return
        fenced = self._fences()
        self.kill()
        deadline = time.monotonic() + self.startup_timeout
        while self._fences() == fenced:
            if time.monotonic() > deadline:
                raise self.failure("the controller did not fence the killed broker in time")
            time.sleep(0.1)
        self.start()

    def _fences(self) -> int:
        """How often the controller's log says it fenced the broker for a timed-out session."""
        try:
            text = self.controller_log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return 0
        return text.count(f"Fencing broker {BROKER_ID} at epoch")

    def _answers(self) -> bool:
        # Port first: an AdminClient aimed at a closed port floods stderr.
        if not _listens(self._port):
            return False
        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            return bool(admin.list_topics(timeout=2.0).brokers)
        except KafkaException:
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
