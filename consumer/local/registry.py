"""A real Confluent-compatible schema registry for the tests and `demo --registry`.

Apicurio Registry (its Confluent API at `/apis/ccompat/v7`), built once from Maven Central by
`deploy/local/schema-registry/` (which pins the version) and cached per version and build
files, like the local Kafka jars: no Docker, no release download.

    with LocalRegistry() as registry:     # temp work dir, free loopback port
        use(registry.url)                 # "http://127.0.0.1:<port>/apis/ccompat/v7"
        registry.restart()                # stop, start again on the same port and storage

Schemas are kept in an H2 *file* in the work dir, not in memory: a registry that forgot its
schemas on a restart would hand out the same ids again for other schemas, and records already
framed with the old ids could no longer be read (or would be read with the wrong schema). A
production registry keeps them (Confluent in its `_schemas` topic, Apicurio in SQL or Kafka),
so the stand-in does too. Compatibility defaults to BACKWARD, Confluent's default.

CLI: `python -m consumer.local.registry fetch` only builds (make setup);
`python -m consumer.local.registry start [--dir DIR] [--port PORT]` runs one in the foreground.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Self

from consumer.cachedir import cache_root
from consumer.errors import LocalSetupError
from consumer.local.kafka import _free_port, _tail
from consumer.paths import DEPLOY_LOCAL

log = logging.getLogger(__name__)

PROJECT = DEPLOY_LOCAL / "schema-registry"
CCOMPAT_PATH = "/apis/ccompat/v7"
RUNNER = "registry-runner.jar"
_MARKER = ".complete"  # written last: a half-finished build is never taken for a cache hit
_HINTS = {
    "java": "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
    "mvn": "install Maven 3.8+ (Debian: apt-get install maven) to build the schema registry",
}


def pinned_version(pom: Path = PROJECT / "pom.xml") -> str:
    """The Apicurio Registry version pinned in the build POM (its `apicurio.version`)."""
    match = re.search(r"<apicurio\.version>\s*([^<\s]+)\s*<", pom.read_text("utf-8"))
    if match is None:
        raise LocalSetupError(f"no <apicurio.version> property in {pom}")
    return match.group(1)


def _build_digest() -> str:
    """A hash of the build files: editing the POM or the producer class means a new build."""
    digest = hashlib.sha256()
    for path in sorted(p for p in PROJECT.rglob("*") if p.is_file()):
        relative = path.relative_to(PROJECT)
        if relative.parts[0] != "target":  # Maven's output, if someone built in place
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _which(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LocalSetupError(f"`{tool}` not found on PATH: {_HINTS[tool]}")
    return path


def build() -> Path:
    """The runnable registry (a directory: its runner jar and lib/); built with Maven on first
    use, in a copy of the build files under the cache (the checkout stays clean). Safe for
    several processes at once: a file lock serialises the build."""
    version = pinned_version()
    home = cache_root() / f"apicurio-registry-{version}-{_build_digest()}"
    app, marker = home / "app", home / _MARKER
    if marker.is_file() and (app / RUNNER).is_file():
        return app
    _which("java")
    mvn = _which("mvn")
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and (app / RUNNER).is_file():
            return app  # another process finished it meanwhile
        shutil.rmtree(app, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix="build-", dir=home))
        try:
            project = stage / "project"
            shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target"))
            log.info("building Apicurio Registry %s with Maven into %s", version, app)
            started = time.monotonic()
            cmd = [mvn, "-B", "-q", "-f", str(project / "pom.xml"), "package"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise LocalSetupError(
                    f"Maven could not build Apicurio Registry {version} (is Maven Central "
                    f"reachable?)\n{_tail(done.stdout + done.stderr)}"
                )
            # Apicurio's settings ask for Quarkus' legacy-jar layout: a runner jar whose
            # manifest names the jars in lib/ beside it.
            staged = stage / "app"
            staged.mkdir()
            (project / "target" / "lib").rename(staged / "lib")
            next((project / "target").glob("*-runner.jar")).rename(staged / RUNNER)
            staged.rename(app)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        marker.write_text(f"{version}\n", "utf-8")
        log.info("Apicurio Registry %s built in %.1fs", version, time.monotonic() - started)
    return app


class LocalRegistry:
    """An Apicurio Registry subprocess with its own work dir (`registry.log`, the H2 files).

    The port is chosen on the first `start()` and kept for the object's life, so clients
    survive `restart()`.
    """

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        port: int = 0,
        heap: str = "384m",
        startup_timeout: float = 120.0,
    ) -> None:
        self.heap = heap
        self.startup_timeout = startup_timeout
        self._owns_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="localsr-"))
        self.log_path = self.work_dir / "registry.log"
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_in = 0.0  # seconds the last start() took

    @property
    def url(self) -> str:
        """The Confluent-compatible API, as `schema_registry.url` / `SCHEMA_REGISTRY_URL`."""
        if not self._port:
            raise LocalSetupError("LocalRegistry has no port yet: call start() first")
        return f"http://127.0.0.1:{self._port}{CCOMPAT_PATH}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the registry (building it on first use) and wait until its API answers."""
        if self.running:
            return
        self.kill()  # reap one that died on its own, and close its log
        java = _which("java")
        app = build()
        started = time.monotonic()
        self._port = self._port or _free_port()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            java, f"-Xmx{self.heap}", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            "-Dquarkus.http.host=127.0.0.1", "-Dregistry.rules.global.compatibility=BACKWARD",
            "-jar", str(app / RUNNER),
        ]  # fmt: skip
        # Apicurio's application.properties reads these two from the environment (%prod
        # profile), where they win over a -D system property of the plain key.
        env = {
            **os.environ,
            "HTTP_PORT": str(self._port),
            "REGISTRY_DATASOURCE_URL": f"jdbc:h2:file:{self.work_dir / 'registry'}",
        }
        # SIGTERM to the registry if this process dies (main thread only: PDEATHSIG follows
        # the thread that spawned it), so a crashed test run leaves no JVM behind.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
        log.info("starting the schema registry on %s in %s", self.url, self.work_dir)
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.work_dir, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_ready(started + self.startup_timeout)
        except BaseException:
            self.kill()
            raise
        self.started_in = time.monotonic() - started

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM (Quarkus shuts down and closes the H2 files), SIGKILL after `grace` s."""
        if self._proc is not None and self.running:
            self._proc.terminate()
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("the schema registry did not stop within %.0fs; killing it", grace)
        self.kill()

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same port and storage (schemas and ids are kept)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the registry and delete the work dir if it is a temporary one."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _wait_ready(self, deadline: float) -> None:
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                raise self.failure(f"the schema registry exited with code {code} during start-up")
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        log.info("schema registry ready at %s", self.url)
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise self.failure(f"the schema registry not ready in {self.startup_timeout:.0f}s")
            time.sleep(0.25)

    def failure(self, message: str) -> LocalSetupError:
        """A LocalSetupError: `message` (one line), then the tail of the registry log."""
        try:
            tail = _tail(self.log_path.read_text("utf-8", errors="replace"))
        except OSError:
            tail = "(no registry log)"
        return LocalSetupError(f"{message} (log: {self.log_path})\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.local.registry", description=__doc__)
    parser.add_argument("command", choices=["fetch", "start"], help="fetch: build only")
    parser.add_argument("--dir", type=Path, help="start: work dir to keep (default: temp dir)")
    parser.add_argument("--port", type=int, default=0, help="start: HTTP port (default: free)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "fetch":
            log.info("Apicurio Registry in %s", build())
            return 0
        return _serve(LocalRegistry(args.dir, port=args.port))
    except LocalSetupError as exc:
        log.error("%s", exc)
        return 1


def _serve(registry: LocalRegistry) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        registry.start()
        print(registry.url, flush=True)  # the one line a script reads
        while not stop.wait(1.0):
            if not registry.running:
                raise registry.failure("the schema registry exited unexpectedly")
        return 0
    finally:
        registry.close()


if __name__ == "__main__":
    sys.exit(main())
