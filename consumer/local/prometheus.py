"""A real Prometheus server on loopback, scraping the validator, with the chart's alert rules.

Debian's `prometheus` package (2.42), unpacked into the tool cache by `make setup` (the same
package gives `promtool`), run with a config written here: no service, no systemd.

    with LocalPrometheus(["127.0.0.1:8080"]) as prometheus:
        prometheus.url                    # "http://127.0.0.1:<port>", for the HTTP API

CLI: `python -m consumer.local.prometheus start --target 127.0.0.1:8080` runs one in the
foreground (then `infusion-validator dashboard --prometheus URL -o FILE.png` draws it).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Self

import yaml

from consumer.errors import LocalSetupError
from consumer.local.k8s import tool
from consumer.local.kafka import _free_port, _tail
from consumer.paths import CHART_FILES

log = logging.getLogger(__name__)

ALERTS = CHART_FILES / "alerts.yaml"
JOB = "infusion-validator"  # the name the alert rules' `up{job=~…}` matches


class LocalPrometheus:
    """One Prometheus process with its own work dir (config, TSDB, log)."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        labels: Mapping[str, str] | None = None,
        rule_files: Sequence[Path] = (ALERTS,),
        interval: str = "1s",
        work_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.targets = list(targets)
        self.labels = dict(labels or {})
        self.rule_files = list(rule_files)
        self.interval = interval  # scrape and rule evaluation
        self.startup_timeout = startup_timeout
        self._owns_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="localprom-"))
        self.log_path = self.work_dir / "prometheus.log"
        self._port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_in = 0.0

    @property
    def url(self) -> str:
        if not self._port:
            raise LocalSetupError("LocalPrometheus has no port yet: call start() first")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        started = time.monotonic()
        binary = tool("prometheus")
        self._port = self._port or _free_port()
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "scrape_timeout": self.interval,
                    "static_configs": [{"targets": self.targets, "labels": self.labels}],
                }
            ],
        }
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "prometheus.yml").write_text(yaml.safe_dump(config), "utf-8")
        cmd = [
            binary, f"--config.file={self.work_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.work_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self._port}", "--log.level=warn",
        ]  # fmt: skip
        setpriv = shutil.which("setpriv")  # SIGTERM to it if we die (main thread only)
        if setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.work_dir, start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_ready(started + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started

    def _wait_ready(self, deadline: float) -> None:
        while True:
            if self._proc is None or self._proc.poll() is not None:
                raise self.failure("prometheus exited during start-up")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise self.failure(f"prometheus not ready in {self.startup_timeout:.0f}s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(15)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def failure(self, message: str) -> LocalSetupError:
        try:
            tail = _tail(self.log_path.read_text("utf-8", errors="replace"), 15)
        except OSError:
            tail = "(no prometheus log)"
        return LocalSetupError(f"{message} (log: {self.log_path})\n{tail}")


def main(argv: list[str] | None = None) -> int:
    prog = "python -m consumer.local.prometheus"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("command", choices=["start"])
    parser.add_argument("--target", action="append", required=True, help="HOST:PORT to scrape")
    parser.add_argument("--dir", type=Path, help="work dir to keep (default: temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with LocalPrometheus(args.target, work_dir=args.dir, interval="5s") as prometheus:
            print(prometheus.url, flush=True)  # the one line a script reads
            stop.wait()
    except LocalSetupError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
