"""The two batch commands, each measured from its own closing output and the process's CPU:

- offline `validate` on the benchmark's claims as a JSON Lines file (the analysts' format). Its
  summary line (`… in 1.23s (N claims/s, M per CPU-second)`) times the read → decide → write
  loop with `time.perf_counter` and `time.process_time`, so start-up (loading the rule sets)
  is excluded; the per-CPU figure is the one SPEC §9 judges.
- `replay --diff OTHER --report FILE` of two rule sets over the benchmark's input topic (SPEC §4),
  against the bench broker. Its progress line's final rate (from the first batch read to the
  end, start-up excluded) is the figure; the report's counts show it compared every claim.

For both, the whole process's CPU (start-up included) comes from `os.wait4`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.apps import REPO
from consumer.demo.samples import generate_claims
from consumer.engine.engine import DEFAULT_RULES_PATH

_SUMMARY = re.compile(
    r"(\d+) claims decided.* in ([\d.]+)s \(([\d,]+) claims/s, ([\d,]+) per CPU-second\)"
)
_PROGRESS = re.compile(r"^diff \[.*\]\s+[\d.]+% ([\d,]+)/([\d,]+) ([\d,]+)/s", re.MULTILINE)


@dataclass
class Timed:
    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float  # user + system of the process


def run_timed(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> Timed:
    """Run to the end; CPU from the kernel's accounting of exactly this child (wait4)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timed(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            time.perf_counter() - started,
            usage.ru_utime + usage.ru_stime,
        )


def write_claims(path: Path, count: int, seed: int, lines: int) -> Path:
    """The benchmark's claims (same generator and seed as the topic) as JSON Lines."""
    with path.open("wb") as out:
        for claim in generate_claims(count, seed, lines_per_claim=lines):
            out.write(orjson.dumps(claim, option=orjson.OPT_APPEND_NEWLINE))
    return path


def run_validate(claims_file: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "consumer", "validate", str(claims_file), "-o", os.devnull]
    done = run_timed(cmd)
    match = _SUMMARY.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"validate failed ({done.returncode}): {done.stderr[-1000:]}")
    claims, seconds = int(match.group(1)), float(match.group(2))
    return {
        "rate": round(claims / seconds if seconds > 0 else 0.0, 1),
        "claims_per_cpu_second": float(match.group(4).replace(",", "")),
        "claims": claims,
        "seconds": seconds,
        "process_seconds": round(done.wall, 2),
        "process_cpu_seconds": round(done.cpu, 2),
    }


def diff_rule_set(folder: Path) -> Path:
    """The shipped rules with one more code (J1170, hydromorphone, which the sample claims
    bill) needing prior authorization: a policy change an analyst would diff or shadow."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEFAULT_RULES_PATH / "catalogue.yaml", folder)
    text = (DEFAULT_RULES_PATH / "RB.046.A.yaml").read_text("utf-8")
    version = re.search(r'^version: "([^"]+)"', text, re.MULTILINE)
    old = "extra_prior_authorization: {}"
    if version is None or old not in text:
        raise RuntimeError(f"{DEFAULT_RULES_PATH}: cannot derive the shadow/diff rule set")
    text = text.replace(version.group(0), f'version: "{version.group(1)}-bench"')
    (folder / "RB.046.A.yaml").write_text(
        text.replace(old, "extra_prior_authorization: { ALL: [J1170] }"), "utf-8"
    )
    return folder


def run_diff(bootstrap: str, topic: str, other: Path, report: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_VALIDATOR_")}
    env |= {
        "INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "INFUSION_VALIDATOR_TOPICS__INPUT": topic,
        "INFUSION_VALIDATOR_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "consumer", "replay", "--diff", str(other), "--report",
           str(report)]  # fmt: skip
    done = run_timed(cmd, env)
    progress = _PROGRESS.findall(done.stderr)
    if done.returncode != 0 or not progress:
        raise RuntimeError(f"replay --diff failed ({done.returncode}): {done.stderr[-1000:]}")
    summary = orjson.loads(report.read_bytes())
    compared = int(summary["compared"])
    return {
        "rate": float(progress[-1][2].replace(",", "")),
        "compared": compared,
        "resent": int(summary["resent"]),  # re-sent events: decided once, so not compared
        "changed": int(summary["changed"]),
        "process_seconds": round(done.wall, 2),
        "process_cpu_seconds": round(done.cpu, 2),
    }
