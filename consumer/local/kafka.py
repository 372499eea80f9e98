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
import fcntl
import logging
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from consumer.cachedir import cache_root
from consumer.errors import KafkaSetupError
from consumer.local.tls import LocalTls
from consumer.paths import DEPLOY_LOCAL

log = logging.getLogger(__name__)

_DEPLOY = DEPLOY_LOCAL
RUNTIME_POM = _DEPLOY / "kafka-runtime" / "pom.xml"
LOG4J_CONFIG = _DEPLOY / "log4j2.properties"
_MARKER = ".complete"  # written last: a half-finished download is never taken for a cache hit
_JVM_FLAGS = (  # kafka-run-class.sh's defaults; the heap is set per instance
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
)  # fmt: skip
_SERVER_PROPERTIES = """\
# One combined broker+controller on loopback, written by consumer.local.kafka on every start.
process.roles=broker,controller
node.id=1
# A static voter set: unlike --standalone (KIP-853) it puts no controller port in the metadata
# log, so a kept work dir may come back on other ports.
controller.quorum.voters=1@127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# 50 by default, all created by the first transactional producer: slow on a small machine.
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly: an unknown topic must be an error, not a new topic.
auto.create.topics.enable=false
"""


def pinned_version(pom: Path = RUNTIME_POM) -> str:
    """The Kafka version pinned in the helper POM (its `kafka.version` property)."""
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text("utf-8"))
    if match is None:
        raise KafkaSetupError(f"no <kafka.version> property in {pom}")
    return match.group(1)


def _which(tool: str) -> str:
    hints = {
        "java": "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
        "mvn": "install Maven 3.8+ (Debian: apt-get install maven) to fetch the Kafka jars",
    }
    path = shutil.which(tool)
    if path is None:
        raise KafkaSetupError(f"`{tool}` not found on PATH: {hints[tool]}")
    return path


# ANSI colour codes, and the advice Maven prints after every error.
_NOISE = re.compile(
    r"\x1b\[[0-9;]*m|^\[ERROR\] *(|To see .*|Re-run .*|For more .*|\[Help .*)$", re.M
)


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in _NOISE.sub("", text).splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _run(cmd: list[str], failure: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise KafkaSetupError(f"{failure}\n{_tail(done.stdout + done.stderr)}")


def fetch_jars(version: str | None = None) -> Path:
    """The directory holding the broker's jars; resolves them with Maven on first use.

    Safe for several processes at once: a file lock serialises the download.
    """
    version = version or pinned_version()
    home = cache_root() / f"kafka-{version}"
    libs, marker = home / "libs", home / _MARKER
    if marker.is_file() and libs.is_dir():
        return libs
    _which("java")
    mvn = _which("mvn")
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and libs.is_dir():  # another process finished it meanwhile
            return libs
        marker.unlink(missing_ok=True)
        for stale in (libs, *home.glob("libs.partial-*")):
            shutil.rmtree(stale, ignore_errors=True)
        # A fresh dir per attempt: an orphaned Maven from a killed run cannot write into it.
        partial = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=home))
        log.info("resolving Kafka %s jars from Maven into %s", version, libs)
        started = time.monotonic()
        try:
            _run(
                [mvn, "-B", "-q", "-f", str(RUNTIME_POM), "package",
                 f"-Dkafka.version={version}", f"-Dlibs.dir={partial}"],
                f"Maven could not resolve Apache Kafka {version} (is Maven Central reachable?)",
            )  # fmt: skip
        except KafkaSetupError:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.rename(libs)
        marker.write_text(f"{version}\n", "utf-8")
        log.info("Kafka %s jars ready in %.1fs", version, time.monotonic() - started)
    return libs


def _free_port(taken: int = 0) -> int:
    """A free 127.0.0.1 port, preferably below the kernel's ephemeral range: a port from that
    range could be taken by some client's outgoing connection while `restart()` runs."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    picks = [random.randrange(10000, low) for _ in range(50)] if low > 11000 else []  # noqa: S311
    for port in [*picks, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            if sock.getsockname()[1] != taken:
                return int(sock.getsockname()[1])
    raise KafkaSetupError("no free TCP port on 127.0.0.1")


def _cluster_id() -> str:
    while True:  # like Kafka's Uuid.randomUuid(): 22 chars of base64url, never a leading "-"
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class LocalKafka:
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
        self._owns_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="localkafka-"))
        self.log_path = self.work_dir / "broker.log"
        self._port, self._controller_port = port, 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

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
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.running else None

    def start(self) -> None:
        """Start the broker (formatting the data dir on first use) and wait until it answers."""
        if self.running:
            return
        self.kill()  # reap a broker that died on its own, and close its log
        java = _which("java")
        classpath = str(fetch_jars(self.version) / "*")
        self._port = self._port or _free_port()
        self._controller_port = self._controller_port or _free_port(self._port)
        if self.scram_users and not self._sasl_port:
            self._sasl_port = _free_port(self._controller_port)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "server.properties"
        config.write_text(self._server_properties(), "utf-8")
        jvm = [java, f"-Xmx{self.heap}", *_JVM_FLAGS, "-cp", classpath]
        if not (self.work_dir / "data" / "meta.properties").is_file():
            fmt = ["kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)]
            for user, password in self.scram_users.items():
                fmt += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
            _run([*jvm, *fmt], "formatting the Kafka data dir failed")
        cmd = [*jvm, "kafka.Kafka", str(config)]
        # The broker gets SIGTERM if this process dies, so a crashed test run leaves no JVM
        # behind. PDEATHSIG follows the *thread* that spawned it, hence main thread only.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
        log.info(
            "starting Kafka %s on %s in %s", self.version, self.bootstrap_servers, self.work_dir
        )
        self._log = self.log_path.open("ab")
        # Own session: a Ctrl-C meant for us must not reach the broker before stop() does.
        self._proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.work_dir, start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_ready(time.monotonic() + self.startup_timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL if it is still alive after `grace` s."""
        if self._proc is not None and self.running:
            self._proc.terminate()
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("Kafka did not stop within %.0fs; killing it", grace)
        self.kill()

    def kill(self) -> None:
        """SIGKILL: an unclean broker death, for chaos tests. The data dir is kept."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            log.info("Kafka exited with code %s", self._proc.wait())
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

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

    def close(self) -> None:
        """Stop the broker and delete the work dir if it is a temporary one."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _server_properties(self) -> str:
        data = self.work_dir / "data"
        text = _SERVER_PROPERTIES.format(port=self._port, cport=self._controller_port, data=data)
        return text + "".join(
            f"{key}={value}\n"
            for key, value in (self._sasl_ssl_config() | self.extra_config).items()
        )

    def _sasl_ssl_config(self) -> dict[str, str]:
        """The SASL_SSL listener (later keys override the template's listener lines); brokers
        and the controller keep talking PLAINTEXT among themselves."""
        if not self._sasl_port:
            return {}
        plain, sasl = f"127.0.0.1:{self._port}", f"127.0.0.1:{self._sasl_port}"
        return {
            "listeners": f"PLAINTEXT://{plain},CONTROLLER://127.0.0.1:{self._controller_port},"
            f"SASL_SSL://{sasl}",
            "advertised.listeners": f"PLAINTEXT://{plain},SASL_SSL://{sasl}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "inter.broker.listener.name": "PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(self.tls.keystore_path),
        }

    def _wait_ready(self, deadline: float) -> None:
        admin: AdminClient | None = None
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                raise self.failure(f"Kafka exited with code {code} during start-up")
            try:
                # Port first: an AdminClient aimed at a closed port floods stderr.
                with socket.create_connection(("127.0.0.1", self._port), timeout=1.0):
                    pass
                admin = admin or AdminClient({"bootstrap.servers": self.bootstrap_servers})
                if admin.list_topics(timeout=2.0).brokers:
                    log.info("Kafka ready on %s", self.bootstrap_servers)
                    return
            except (OSError, KafkaException):
                pass
            if time.monotonic() > deadline:
                raise self.failure(f"Kafka not ready within {self.startup_timeout:.0f}s")
            time.sleep(0.2)

    def failure(self, message: str) -> KafkaSetupError:
        """A KafkaSetupError: `message` (one line), then the tail of the broker log."""
        try:
            tail = _tail(self.log_path.read_text("utf-8", errors="replace"))
        except OSError:
            tail = "(no broker log)"
        return KafkaSetupError(f"{message} (log: {self.log_path})\n{tail}")


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
        return _serve(
            LocalKafka(
                args.dir,
                port=args.port,
                version=args.version,
                scram_users=users,
                sasl_port=args.sasl_port,
            )
        )
    except KafkaSetupError as exc:
        log.error("%s", exc)
        return 1


def _serve(kafka: LocalKafka) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        kafka.start()
        if kafka.scram_users:
            log.info(
                "SASL_SSL (SCRAM-SHA-512) on %s; CA: %s",
                kafka.sasl_ssl_bootstrap_servers,
                kafka.tls.ca_path,
            )
        print(kafka.bootstrap_servers, flush=True)  # the one line a script reads
        while not stop.wait(1.0):
            if not kafka.running:
                raise kafka.failure("Kafka exited unexpectedly")
        return 0
    finally:
        kafka.close()


if __name__ == "__main__":
    sys.exit(main())
