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
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from consumer.errors import InfusionValidatorError, LocalSetupError
from consumer.local.k8s import tool
from consumer.local.process import ChildProcess, LocalComponent, failure, free_port, http_ok, serve
from consumer.local.process import work_dir as work_dir_of
from consumer.paths import CHART_FILES

log = logging.getLogger(__name__)

ALERTS = CHART_FILES / "alerts.yaml"
JOB = "infusion-validator"  # the name the alert rules' `up{job=~…}` matches


class LocalPrometheus(LocalComponent):
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
        self.work_dir, self._owns_dir = work_dir_of(work_dir, "localprom-")
        self.log_path = self.work_dir / "prometheus.log"
        self._port = 0
        self._child: ChildProcess | None = None
        self.started_in = 0.0

    @property
    def url(self) -> str:
        if not self._port:
            raise LocalSetupError("LocalPrometheus has no port yet: call start() first")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        started = time.monotonic()
        binary = tool("prometheus")
        self._port = self._port or free_port()
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
        self._child = ChildProcess("prometheus", cmd, self.log_path)
        try:
            self._child.wait_ready(self._ready, started + self.startup_timeout, "during start-up")
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

    def _ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop(15.0)
            self._child = None

    def failure(self, message: str) -> InfusionValidatorError:
        return failure("prometheus", self.log_path, message, LocalSetupError)


def main(argv: list[str] | None = None) -> int:
    prog = "python -m consumer.local.prometheus"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("command", choices=["start"])
    parser.add_argument("--target", action="append", required=True, help="HOST:PORT to scrape")
    parser.add_argument("--dir", type=Path, help="work dir to keep (default: temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        prometheus = LocalPrometheus(args.target, work_dir=args.dir, interval="5s")
        return serve(prometheus, lambda: prometheus.url)
    except LocalSetupError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
