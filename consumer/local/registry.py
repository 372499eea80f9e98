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
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from consumer.cachedir import cache_root
from consumer.errors import InfusionValidatorError, LocalSetupError
from consumer.local.build import built_once, pom_property, run, which
from consumer.local.process import ChildProcess, LocalComponent, failure, free_port, http_ok, serve
from consumer.local.process import work_dir as work_dir_of
from consumer.paths import DEPLOY_LOCAL

log = logging.getLogger(__name__)

PROJECT = DEPLOY_LOCAL / "schema-registry"
CCOMPAT_PATH = "/apis/ccompat/v7"
RUNNER = "registry-runner.jar"


def pinned_version(pom: Path = PROJECT / "pom.xml") -> str:
    """The Apicurio Registry version pinned in the build POM (its `apicurio.version`)."""
    return pom_property(pom, "apicurio.version", LocalSetupError)


def _build_digest() -> str:
    """A hash of the build files: editing the POM or the producer class means a new build."""
    digest = hashlib.sha256()
    for path in sorted(p for p in PROJECT.rglob("*") if p.is_file()):
        relative = path.relative_to(PROJECT)
        if relative.parts[0] != "target":  # Maven's output, if someone built in place
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def build() -> Path:
    """The runnable registry (a directory: its runner jar and lib/); built with Maven on first
    use, in a copy of the build files under the cache (the checkout stays clean)."""
    version = pinned_version()
    which("java")
    home = cache_root() / f"apicurio-registry-{version}-{_build_digest()}"

    def make(app: Path) -> None:
        mvn = which("mvn")
        project = Path(tempfile.mkdtemp(prefix="project-", dir=home))
        try:
            shutil.copytree(PROJECT, project, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("target"))  # fmt: skip
            log.info("building Apicurio Registry %s with Maven", version)
            started = time.monotonic()
            run(
                [mvn, "-B", "-q", "-f", str(project / "pom.xml"), "package"],
                f"Maven could not build Apicurio Registry {version} (is Maven Central reachable?)",
                LocalSetupError,
            )
            # Apicurio's settings ask for Quarkus' legacy-jar layout: a runner jar whose
            # manifest names the jars in lib/ beside it.
            (project / "target" / "lib").rename(app / "lib")
            next((project / "target").glob("*-runner.jar")).rename(app / RUNNER)
            log.info("Apicurio Registry %s built in %.1fs", version, time.monotonic() - started)
        finally:
            shutil.rmtree(project, ignore_errors=True)

    return built_once(home, home / "app", make)


class LocalRegistry(LocalComponent):
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
        self.work_dir, self._owns_dir = work_dir_of(work_dir, "localsr-")
        self.log_path = self.work_dir / "registry.log"
        self._port = port
        self._child: ChildProcess | None = None
        self.started_in = 0.0  # seconds the last start() took

    @property
    def url(self) -> str:
        """The Confluent-compatible API, as `schema_registry.url` / `SCHEMA_REGISTRY_URL`."""
        if not self._port:
            raise LocalSetupError("LocalRegistry has no port yet: call start() first")
        return f"http://127.0.0.1:{self._port}{CCOMPAT_PATH}"

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

    def start(self) -> None:
        """Start the registry (building it on first use) and wait until its API answers."""
        if self.running:
            return
        self.kill()  # reap one that died on its own, and close its log
        java = which("java")
        app = build()
        started = time.monotonic()
        self._port = self._port or free_port()
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
        log.info("starting the schema registry on %s in %s", self.url, self.work_dir)
        self._child = ChildProcess("the schema registry", cmd, self.log_path, env=env)
        try:
            self._child.wait_ready(self._answers, started + self.startup_timeout, "during start-up")
        except BaseException:
            self.kill()
            raise
        log.info("schema registry ready at %s", self.url)
        self.started_in = time.monotonic() - started

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM (Quarkus shuts down and closes the H2 files), SIGKILL after `grace` s."""
        if self._child is not None:
            self._child.stop(grace)
            self._child = None

    def kill(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None

    def restart(self) -> None:
        """Stop and start again on the same port and storage (schemas and ids are kept)."""
        self.stop()
        self.start()

    def _answers(self) -> bool:
        return http_ok(f"{self.url}/subjects")

    def failure(self, message: str) -> InfusionValidatorError:
        """A LocalSetupError: `message` (one line), then the tail of the registry log."""
        return failure("the schema registry", self.log_path, message, LocalSetupError)


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
        registry = LocalRegistry(args.dir, port=args.port)
        return serve(registry, lambda: registry.url)
    except LocalSetupError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
